"""The run folder: the one owner of where every result file lives and how it is written.

Layout (``docs/DESIGN.md``, "Run folder")::

    OUT/breastbench-run.json      layout version (a folder without it is an older layout)
    OUT/experiment.yaml           resolved config        OUT/grid.json   every run id of the grid
    OUT/manifests/<dataset>.csv   manifests with folds   OUT/cache/      image / feature caches
    OUT/runs/<run_id>/            run.json, predictions.csv, history.csv, metrics.json, checkpoint/
    OUT/runs/<run_id>/robustness/<perturbation>__s<k>.csv   predictions under a perturbation
    OUT/runs/.partial/<run_id>.pt resume state of an unfinished run
    OUT/summary/                  the analysis (see :mod:`breastbench.results.analysis`)
    OUT/report/                   the rendered report

A run is assembled in ``runs/.tmp-<run_id>-<pid>/`` and renamed into place with
``metrics.json`` written last, so a run folder that exists with ``metrics.json`` is complete.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from breastbench import jsonio
from breastbench.errors import UserError
from breastbench.results.key import RunIdError, RunKey

LAYOUT = 2
ROBUSTNESS = "robustness"  # a run's folder of predictions under test-time perturbations
MARKER = "breastbench-run.json"
_TMP = re.compile(r"^\.tmp-(?P<run_id>.+)-(?P<pid>\d+)$")


@dataclass
class StoredRun:
    """One complete, readable run: its key, run.json, metrics and tables."""

    key: RunKey
    path: Path
    info: dict
    metrics: dict[str, float]
    predictions: pd.DataFrame = field(repr=False)
    history: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        """Folder name."""
        return self.key.run_id

    @property
    def classes(self) -> list[str]:
        """Ordered class names of the run's task."""
        return list(self.info.get("classes") or [])

    @property
    def checkpoint(self) -> Path | None:
        """The saved model folder, when the runner kept one."""
        path = self.path / "checkpoint"
        return path if path.is_dir() else None


@dataclass
class Problem:
    """A run that is missing or could not be used, and why."""

    name: str  # run id (or folder name when it is not a run id)
    reason: str
    key: RunKey | None = None


def component(name: str, what: str) -> str:
    """``name`` as one file-name component; UserError for anything that would be a path.

    Free text reaches file names only through a codec (:func:`breastbench.results.key.encode`)
    or a slug; this is the last check that no user string walks out of the output folder.
    """
    bad = not name or name in (".", "..") or any(c in name for c in "/\\\0")
    if bad or name.startswith(".tmp-"):
        raise UserError(
            f"{what} {name!r} cannot be a file name; use letters, digits, . _ - (no / or ..)"
        )
    return name


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class RunFolder:
    """Paths, completeness, atomic writes and reading of one experiment output folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # -- paths ------------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        """``OUT/runs``."""
        return self.root / "runs"

    @property
    def summary_dir(self) -> Path:
        """``OUT/summary``: the analysis files."""
        return self.root / "summary"

    @property
    def report_dir(self) -> Path:
        """``OUT/report``: the default report folder."""
        return self.root / "report"

    @property
    def manifests_dir(self) -> Path:
        """``OUT/manifests``."""
        return self.root / "manifests"

    @property
    def config_path(self) -> Path:
        """``OUT/experiment.yaml``: the resolved config the runs were made with."""
        return self.root / "experiment.yaml"

    @property
    def grid_path(self) -> Path:
        """``OUT/grid.json``: every run of the grid, complete or not."""
        return self.root / "grid.json"

    def manifest_path(self, dataset: str) -> Path:
        """Manifest (with folds) of one dataset (a name that is a path is refused)."""
        return self.manifests_dir / f"{component(dataset, 'dataset name')}.csv"

    def path(self, key: RunKey) -> Path:
        """Final folder of a run."""
        return self.runs_dir / component(key.run_id, "run id")

    def partial_path(self, key: RunKey) -> Path:
        """Resume state of an unfinished run."""
        return self.runs_dir / ".partial" / f"{key.run_id}.pt"

    def is_complete(self, key: RunKey) -> bool:
        """True when the run's folder holds ``metrics.json`` (written last)."""
        return (self.path(key) / "metrics.json").is_file()

    # -- layout -----------------------------------------------------------------------------
    def _has_runs(self) -> bool:
        return self.runs_dir.is_dir() and any(
            p.is_dir() and not p.name.startswith(".") for p in self.runs_dir.iterdir()
        )

    def check_layout(self) -> None:
        """Refuse, in one line, a folder written by an older breastbench."""
        marker = self.root / MARKER
        if marker.is_file():
            try:
                layout = jsonio.read_json(marker).get("layout")
            except (OSError, ValueError, AttributeError):
                layout = None
            if layout != LAYOUT:
                raise UserError(
                    f"{marker}: run folder layout {layout!r}, this breastbench reads layout "
                    f"{LAYOUT}; use a matching breastbench version or a new --out folder"
                )
        elif self._has_runs():
            raise UserError(
                f"{self.root}: written by an older breastbench (run folder layout 1, run ids "
                "changed since); run the experiment into a new --out folder"
            )

    def require(self) -> None:
        """Refuse, in one line, a folder that is not a run folder (before anything is written)."""
        if not self.root.is_dir():
            raise UserError(
                f"run folder {self.root} not found; pass the --out folder of `breastbench run`"
            )
        if not (self.root / MARKER).is_file() and not self.runs_dir.is_dir():
            raise UserError(
                f"{self.root}: not a breastbench run folder (no {MARKER} or runs/); pass the "
                "--out folder of `breastbench run`"
            )
        self.check_layout()

    def init(self) -> None:
        """Create the folder (or check an existing one) and write the layout marker.

        A folder holding files no run wrote, or one inside another run folder, is refused
        (:func:`breastbench.results.outdir.run_destination`): a run never mixes with them.
        """
        from breastbench.results.outdir import run_destination

        run_destination(self.root)
        self.check_layout()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not (self.root / MARKER).is_file():
                jsonio.write_json(self.root / MARKER, {"layout": LAYOUT})
        except OSError as err:
            raise UserError(
                f"--out {self.root}: cannot write there ({err.strerror}); choose a writable folder"
            ) from None

    def write_grid(self, keys: list[RunKey]) -> None:
        """Record every run id of the grid, so gaps are known without guessing."""
        jsonio.write_json(self.grid_path, [k.run_id for k in keys], indent=1)

    def expected_keys(self) -> list[RunKey] | None:
        """The grid's run keys, or None when ``grid.json`` is absent or unreadable."""
        try:
            ids = jsonio.read_json(self.grid_path)
            return [RunKey.parse(i if isinstance(i, str) else i["run_id"]) for i in ids]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # -- writing ----------------------------------------------------------------------------
    def write_run(
        self,
        key: RunKey,
        info: dict,
        predictions: pd.DataFrame,
        history: list[dict],
        metrics: dict,
        write_checkpoint: Callable[[Path], None] | None = None,
        robustness: dict[str, pd.DataFrame] | None = None,
    ) -> Path:
        """Write one run's files atomically; return the final folder.

        ``robustness`` maps ``<perturbation>__s<k>`` to the predictions under that
        perturbation; each goes to ``robustness/<perturbation>__s<k>.csv``.

        ``info`` goes to run.json together with the key; ``write_checkpoint(folder)`` saves
        the model into ``folder`` when given. A run completed meanwhile by another process
        wins; an incomplete leftover is replaced.
        """
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.runs_dir / f".tmp-{key.run_id}-{os.getpid()}"
        final = self.path(key)
        try:  # any exit short of the rename (an OS error, Ctrl-C, SIGTERM) removes the temporary
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            predictions.to_csv(tmp / "predictions.csv", index=False)
            for stem, table in (robustness or {}).items():
                (tmp / ROBUSTNESS).mkdir(exist_ok=True)
                table.to_csv(tmp / ROBUSTNESS / f"{stem}.csv", index=False)
            # zero-shot trains nothing: the file still has its header, so every reader parses it
            hist = pd.DataFrame(history, columns=None if history else ["epoch", "train_loss"])
            hist.to_csv(tmp / "history.csv", index=False)
            record = {
                **info,
                "layout": LAYOUT,
                "run_id": key.run_id,
                "config_id": key.config_id,
                "key": key.to_dict(),
            }
            jsonio.write_json(tmp / "run.json", record)
            if write_checkpoint is not None:
                write_checkpoint(tmp / "checkpoint")
            jsonio.write_json(tmp / "metrics.json", metrics)  # last: marks the run complete
            if final.exists():
                if (final / "metrics.json").exists():  # a concurrent finisher won
                    shutil.rmtree(tmp)
                    return final
                shutil.rmtree(final)
            os.rename(tmp, final)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UserError(
                f"{err.filename or tmp}: could not write run {key.run_id} ({err.strerror}); "
                "free space or fix permissions and rerun: completed runs are kept"
            ) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def robustness_tables(self, key: RunKey) -> dict[tuple[str, int], pd.DataFrame]:
        """A complete run's perturbed predictions: ``(perturbation, severity) -> table``."""
        folder = self.path(key) / ROBUSTNESS
        out = {}
        for path in sorted(folder.glob("*__s*.csv")) if folder.is_dir() else []:
            name, _, sev = path.stem.rpartition("__s")
            if name and sev.isdigit():
                out[(name, int(sev))] = _read_csv(path, ("target", "pred"))
        return out

    def remove(self, key: RunKey) -> None:
        """Delete a run's folder and resume state (to retrain it)."""
        shutil.rmtree(self.path(key), ignore_errors=True)
        self.partial_path(key).unlink(missing_ok=True)

    def sweep_temporaries(self) -> int:
        """Delete ``.tmp-<run>-<pid>`` folders and files of dead processes; return the count."""
        if not self.runs_dir.is_dir():
            return 0
        n = 0
        for tmp in self.runs_dir.iterdir():
            m = _TMP.match(tmp.name)
            if m and not _alive(int(m["pid"])):
                shutil.rmtree(tmp, ignore_errors=True)
                n += 1
        partial = self.runs_dir / ".partial"
        if partial.is_dir():
            for tmp in partial.glob("*.tmp*"):
                pid = tmp.suffix.removeprefix(".tmp")
                if pid.isdigit() and not _alive(int(pid)):
                    tmp.unlink(missing_ok=True)
                    n += 1
            if not any(partial.iterdir()):
                partial.rmdir()
        return n

    # -- reading ----------------------------------------------------------------------------
    def load(self, key: RunKey) -> StoredRun:
        """Read one complete run; ValueError naming the bad file when it cannot be used."""
        path = self.path(key)
        if not (path / "metrics.json").is_file():
            raise ValueError("no metrics.json (the run did not finish)")
        info = _read_json(path / "run.json")
        raw = _read_json(path / "metrics.json")
        stored = info.get("key")
        if isinstance(stored, dict) and RunKey.from_dict(stored) != key:
            raise ValueError("run.json belongs to another run (its key differs from the folder)")
        metrics = {
            k: (float("nan") if v is None else float(v))
            for k, v in raw.items()
            if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
        }
        classes = info.get("classes")
        if not isinstance(classes, list) or len(classes) < 2:
            raise ValueError("run.json has no 'classes' list")
        prob_cols = tuple(f"prob_{c}" for c in (classes[1:] if len(classes) == 2 else classes))
        preds = _read_csv(path / "predictions.csv", ("target", "pred", *prob_cols))
        if "image_id" not in preds.columns:
            preds["image_id"] = preds["path"] if "path" in preds.columns else preds.index
        preds.attrs["classes"] = classes
        history = None
        if (path / "history.csv").is_file():
            history = _read_csv(path / "history.csv", ("epoch",))
        return StoredRun(key, path, info, metrics, preds, history)

    def entries(self) -> Iterator[tuple[str, Path]]:
        """Every folder under ``runs/`` except resume states, sorted by name."""
        if not self.runs_dir.is_dir():
            return
        for p in sorted(self.runs_dir.iterdir()):
            if p.is_dir() and p.name != ".partial":
                yield p.name, p

    def keys_on_disk(self) -> list[RunKey]:
        """Keys of every run folder present (complete, stopped or broken), files unread."""
        keys = []
        for name, _ in self.entries():
            m = _TMP.match(name)
            key = _try_parse(m["run_id"] if m else name)
            if key is not None:
                keys.append(key)
        return keys

    def collect(self) -> tuple[list[StoredRun], list[Problem]]:
        """All readable runs, and a Problem for each broken, stopped or missing one."""
        self.check_layout()
        runs: list[StoredRun] = []
        problems: dict[str, Problem] = {}
        for name, _path in self.entries():
            m = _TMP.match(name)
            if m:
                key = _try_parse(m["run_id"])
                problems.setdefault(
                    m["run_id"],
                    Problem(m["run_id"], "incomplete: temporary folder left by a stopped run", key),
                )
                continue
            key = _try_parse(name)
            if key is None:
                problems[name] = Problem(name, "not a run folder of this layout (bad name)")
                continue
            try:
                runs.append(self.load(key))
            except ValueError as err:
                problems[name] = Problem(name, str(err), key)
        done = {r.run_id for r in runs}
        expected = self.expected_keys()
        if expected is None:
            expected = _inferred_grid(runs, problems)
        for key in expected:
            if key.run_id not in done and key.run_id not in problems:
                problems[key.run_id] = Problem(key.run_id, "missing: no run folder", key)
        kept = [p for n, p in sorted(problems.items()) if n not in done]
        return runs, kept


def _try_parse(name: str) -> RunKey | None:
    try:
        return RunKey.parse(name)
    except RunIdError:
        return None


def _inferred_grid(runs: list[StoredRun], problems: dict[str, Problem]) -> list[RunKey]:
    """Without grid.json: every configuration should have the replicates its peers have."""
    from dataclasses import replace

    keys = [r.key for r in runs] + [p.key for p in problems.values() if p.key is not None]
    reps: dict[tuple, set] = {}
    for k in keys:
        rep = k.replicate
        if rep is not None:
            axes = tuple(n for n, _ in rep)
            reps.setdefault((k.dataset, k.external is not None, axes), set()).add(rep)
    out = []
    for cfg in {k.config for k in keys}:
        for (dataset, is_ext, _axes), values in reps.items():
            if cfg.dataset == dataset and (cfg.external is not None) == is_ext:
                out += [replace(cfg, **dict(v)) for v in sorted(values)]
    return out


def _read_json(path: Path) -> dict:
    try:
        data = jsonio.read_json(path)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path.name} unreadable ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return data


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={"image_id": str, "path": str, "patient_id": str})
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{path.name} unreadable ({type(err).__name__}: {err})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path.name} lacks column(s) {', '.join(missing)}")
    return df
