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
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from breastbench import jsonio
from breastbench.errors import UserError
from breastbench.results.key import RunKey
from breastbench.results.layout import (
    ANALYSIS,
    CACHE,
    CHECKPOINT,
    CONFIG,
    GRID,
    HISTORY,
    LAYOUT,
    LOG,
    MANIFESTS,
    MARKER,
    METRICS,
    PARTIAL,
    PREDICTIONS,
    REPORT,
    ROBUSTNESS,
    RUN_INFO,
    RUNS,
    SUMMARY,
    TMP,
    TRACKING,
    component,
)
from breastbench.results.outdir import alive
from breastbench.results.stored import (
    Problem,
    StoredRun,
    inferred_grid,
    load_run,
    read_csv,
    try_parse,
)

__all__ = ["LAYOUT", "MARKER", "ROBUSTNESS", "Problem", "RunFolder", "StoredRun", "component"]


def _at_root(name: str, doc: str) -> property:
    """A read-only property: the path ``name`` directly inside the output folder."""
    return property(lambda self: self.root / name, doc=doc)


def _in_run(name: str, doc: str) -> Callable[..., Path]:
    """A method ``(key) -> runs/<run_id>/<name>``: one file or folder of a run."""

    def path_in_run(self, key: RunKey) -> Path:
        return self.path(key) / name

    path_in_run.__doc__ = doc
    return path_in_run


class RunFolder:
    """Paths, completeness, atomic writes and reading of one experiment output folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # -- paths ------------------------------------------------------------------------------
    runs_dir = _at_root(RUNS, "``OUT/runs``.")
    summary_dir = _at_root(SUMMARY, "``OUT/summary``: the analysis files.")
    report_dir = _at_root(REPORT, "``OUT/report``: the default report folder.")
    manifests_dir = _at_root(MANIFESTS, "``OUT/manifests``.")
    config_path = _at_root(
        CONFIG, "``OUT/experiment.yaml``: the resolved config the runs were made with."
    )
    log_path = _at_root(
        LOG, "``OUT/run.log``: the progress log, appended to by every ``breastbench run``."
    )
    grid_path = _at_root(GRID, "``OUT/grid.json``: every run of the grid, complete or not.")
    cache_dir = _at_root(
        CACHE, "``OUT/cache``: image and feature caches unless the config names another folder."
    )

    def manifest_path(self, dataset: str) -> Path:
        """Manifest (with folds) of one dataset (a name that is a path is refused)."""
        return self.manifests_dir / f"{component(dataset, 'dataset name')}.csv"

    def path(self, key: RunKey) -> Path:
        """Final folder of a run."""
        return self.runs_dir / component(key.run_id, "run id")

    @property
    def partial_dir(self) -> Path:
        """``OUT/runs/.partial``: resume states of unfinished runs."""
        return self.runs_dir / PARTIAL

    def partial_path(self, key: RunKey) -> Path:
        """Resume state of an unfinished run."""
        return self.partial_dir / f"{key.run_id}.pt"

    info_path = _in_run(
        RUN_INFO, "``runs/<run_id>/run.json``: what the run was (key, classes, environment)."
    )
    metrics_path = _in_run(
        METRICS, "``runs/<run_id>/metrics.json`` (written last: marks the run complete)."
    )
    predictions_path = _in_run(PREDICTIONS, "``runs/<run_id>/predictions.csv``.")
    history_path = _in_run(HISTORY, "``runs/<run_id>/history.csv``: one row per epoch.")
    checkpoint_path = _in_run(
        CHECKPOINT, "``runs/<run_id>/checkpoint``: the saved model (when the runner kept one)."
    )

    def tracking_dir(self, tracker: str) -> Path:
        """``OUT/mlruns`` (MLflow) or ``OUT/tensorboard``: where an optional tracker writes."""
        return self.root / TRACKING[tracker]

    def summary_path(self, name: str, suffix: str = ".csv") -> Path:
        """``summary/<name>.csv`` (or another suffix): one table of the analysis."""
        return self.summary_dir / f"{component(name, 'summary table')}{suffix}"

    @property
    def analysis_path(self) -> Path:
        """``summary/analysis.json``: the compare spec, bootstrap facts, notes and problems."""
        return self.summary_dir / ANALYSIS

    def manifest_paths(self) -> list[Path]:
        """Every saved manifest (``manifests/*.csv``), sorted by name."""
        return sorted(self.manifests_dir.glob("*.csv"))

    @staticmethod
    def checkpoint_in(path: str | os.PathLike) -> Path:
        """The checkpoint folder ``path`` names: a run folder's ``checkpoint/``, else ``path``."""
        path = Path(path)
        return path / CHECKPOINT if (path / CHECKPOINT).is_dir() else path

    @classmethod
    def holding(cls, checkpoint: str | os.PathLike) -> RunFolder | None:
        """The run folder a checkpoint lies in (``OUT/runs/<run_id>/checkpoint``), or None."""
        ckpt = Path(checkpoint)
        if ckpt.name == CHECKPOINT and len(ckpt.parents) > 2 and ckpt.parents[1].name == RUNS:
            return cls(ckpt.parents[2])
        return None

    def is_complete(self, key: RunKey) -> bool:
        """True when the run's folder holds ``metrics.json`` (written last)."""
        return (self.path(key) / METRICS).is_file()

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
        """Write one run's files atomically, ``metrics.json`` last; return the final folder.

        The counterpart of :func:`breastbench.results.stored.load_run`. ``robustness`` maps
        ``<perturbation>__s<k>`` to the predictions under that perturbation; each goes to
        ``robustness/<perturbation>__s<k>.csv``.

        ``info`` goes to run.json together with the key; ``write_checkpoint(folder)`` saves
        the model into ``folder`` when given. A run completed meanwhile by another process
        wins; an incomplete leftover is replaced.
        """
        with self._staged(key) as tmp:
            jsonio.atomic_write_csv(predictions, tmp / PREDICTIONS)
            for stem, table in (robustness or {}).items():
                jsonio.atomic_write_csv(table, tmp / ROBUSTNESS / f"{stem}.csv")
            # zero-shot trains nothing: the file still has its header, so every reader parses it
            hist = pd.DataFrame(history, columns=None if history else ["epoch", "train_loss"])
            jsonio.atomic_write_csv(hist, tmp / HISTORY)
            ids = {"run_id": key.run_id, "config_id": key.config_id, "key": key.to_dict()}
            jsonio.write_json(tmp / RUN_INFO, {**info, "layout": LAYOUT, **ids})
            if write_checkpoint is not None:
                write_checkpoint(tmp / CHECKPOINT)
            jsonio.write_json(tmp / METRICS, metrics)  # last: marks the run complete
        return self.path(key)

    @contextmanager
    def _staged(self, key: RunKey) -> Iterator[Path]:
        """A temporary folder ``runs/.tmp-<run_id>-<pid>`` renamed into place after the block.

        Any exit short of the rename (an OS error, Ctrl-C, SIGTERM) removes the temporary; a
        run another process completed meanwhile is kept.
        """
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.runs_dir / f".tmp-{key.run_id}-{os.getpid()}"
        final = self.path(key)
        try:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            yield tmp
            if final.exists():
                if (final / METRICS).exists():  # a concurrent finisher won
                    shutil.rmtree(tmp)
                    return
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

    def robustness_tables(self, key: RunKey) -> dict[tuple[str, int], pd.DataFrame]:
        """A complete run's perturbed predictions: ``(perturbation, severity) -> table``."""
        folder = self.path(key) / ROBUSTNESS
        out = {}
        for path in sorted(folder.glob("*__s*.csv")) if folder.is_dir() else []:
            name, _, sev = path.stem.rpartition("__s")
            if name and sev.isdigit():
                out[(name, int(sev))] = read_csv(path, ("target", "pred"))
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
            m = TMP.match(tmp.name)
            if m and not alive(int(m["pid"])):
                shutil.rmtree(tmp, ignore_errors=True)
                n += 1
        partial = self.partial_dir
        if partial.is_dir():
            for tmp in partial.glob("*.tmp*"):
                pid = re.search(r"\.tmp(\d+)", tmp.name)
                if pid and not alive(int(pid[1])):
                    tmp.unlink(missing_ok=True)
                    n += 1
            if not any(partial.iterdir()):
                partial.rmdir()
        return n

    # -- reading ----------------------------------------------------------------------------
    def load(self, key: RunKey) -> StoredRun:
        """Read one complete run; ValueError naming the bad file when it cannot be used."""
        return load_run(self.path(key), key)

    def entries(self) -> Iterator[tuple[str, Path]]:
        """Every folder under ``runs/`` except resume states, sorted by name."""
        if not self.runs_dir.is_dir():
            return
        for p in sorted(self.runs_dir.iterdir()):
            if p.is_dir() and p.name != PARTIAL:
                yield p.name, p

    def keys_on_disk(self) -> list[RunKey]:
        """Keys of every run folder present (complete, stopped or broken), files unread."""
        keys = []
        for name, _ in self.entries():
            m = TMP.match(name)
            key = try_parse(m["run_id"] if m else name)
            if key is not None:
                keys.append(key)
        return keys

    def collect(self) -> tuple[list[StoredRun], list[Problem]]:
        """All readable runs, and a Problem for each broken, stopped or missing one."""
        self.check_layout()
        runs: list[StoredRun] = []
        problems: dict[str, Problem] = {}
        for name, _path in self.entries():
            m = TMP.match(name)
            if m:
                key = try_parse(m["run_id"])
                problems.setdefault(
                    m["run_id"],
                    Problem(m["run_id"], "incomplete: temporary folder left by a stopped run", key),
                )
                continue
            key = try_parse(name)
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
            expected = inferred_grid(runs, problems)
        for key in expected:
            if key.run_id not in done and key.run_id not in problems:
                problems[key.run_id] = Problem(key.run_id, "missing: no run folder", key)
        kept = [p for n, p in sorted(problems.items()) if n not in done]
        return runs, kept
