"""Load a run folder for reporting: every run's run.json, metrics, predictions and history.

The report reads only the files the runner wrote (see ``docs/DESIGN.md``, "Run folder"); it
never re-runs a model. A broken run (unreadable JSON or CSV, no ``metrics.json``, a folder left
behind by a killed run, or a fold that never appeared) must not sink the whole report, so each
problem is recorded against its run id and the tables mark the gap instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from breastbench.errors import UserError

FOLD_RE = re.compile(r"__fold(\d+)")


def config_id(run_id: str) -> str:
    """The configuration a run belongs to: its run id without the ``__fold<k>`` part."""
    return FOLD_RE.sub("", run_id)


def fold_of(run_id: str) -> int | None:
    """The fold number encoded in a run id, or None when it has none."""
    match = FOLD_RE.search(run_id)
    return int(match.group(1)) if match else None


def parse_run_id(run_id: str) -> dict:
    """Split ``<dataset>__<mag>x|all__<model>__<mode>__aug-<on|off>__fold<k>`` (or ``__ext-<t>``).

    Used for runs whose run.json cannot be read, so their gap still lands in the right row.
    """
    parts = run_id.split("__")
    info: dict = {"dataset": parts[0] if parts else run_id, "external": None}
    for part in parts[1:]:
        if part.startswith("aug-"):
            info["augmentation"] = part[4:] == "on"
        elif part.startswith("fold") and part[4:].isdigit():
            info["fold"] = int(part[4:])
        elif part.startswith("ext-"):
            info["external"] = part[4:]
    if len(parts) > 3:
        mag = parts[1].rstrip("xX")  # the runner writes "40x"; "all" means every magnification
        info["magnification"] = int(mag) if mag.isdigit() else None
        info["model"], info["mode"] = parts[2], parts[3]
    return info


@dataclass
class Run:
    """One completed, readable run: its run.json, metrics and (lazily) its tables."""

    run_id: str
    path: Path
    info: dict
    metrics: dict[str, float]
    _predictions: pd.DataFrame | None = field(default=None, repr=False)
    _history: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def config(self) -> str:
        """Configuration id shared by all folds of this run."""
        return config_id(self.run_id)

    @property
    def predictions(self) -> pd.DataFrame:
        """Per-sample out-of-fold predictions (read at load time, so it is always valid)."""
        assert self._predictions is not None
        return self._predictions

    @property
    def history(self) -> pd.DataFrame | None:
        """Per-epoch losses, or None when the run kept no history (e.g. zero-shot)."""
        return self._history

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
    """A run that could not be used, and why (shown in the report and marked in tables)."""

    run_id: str
    reason: str

    @property
    def config(self) -> str:
        """Configuration id of the broken run."""
        return config_id(self.run_id)


@dataclass
class RunCollection:
    """Everything the report needs from a run folder."""

    root: Path
    runs: list[Run]
    problems: list[Problem]
    manifests: dict[str, pd.DataFrame]

    def by_config(self) -> dict[str, list[Run]]:
        """Readable runs grouped by configuration id, folds in order."""
        groups: dict[str, list[Run]] = {}
        for run in sorted(self.runs, key=lambda r: (r.config, r.info.get("fold", 0))):
            groups.setdefault(run.config, []).append(run)
        return groups

    def problems_by_config(self) -> dict[str, list[Problem]]:
        """Problems grouped by configuration id."""
        groups: dict[str, list[Problem]] = {}
        for problem in self.problems:
            groups.setdefault(problem.config, []).append(problem)
        return groups

    @property
    def synthetic(self) -> bool:
        """True when any run trained or tested on synthetic data."""
        return any(r.info.get("synthetic") for r in self.runs)

    @property
    def random_weights(self) -> bool:
        """True when any run started from random (not pretrained) weights."""
        return any(r.info.get("random_weights") for r in self.runs)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
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


def load_run(path: Path) -> Run:
    """Load one run folder; raise ValueError naming the bad file when it cannot be used."""
    if not (path / "metrics.json").is_file():
        raise ValueError("no metrics.json (the run did not finish)")
    info = _read_json(path / "run.json")
    raw = _read_json(path / "metrics.json")
    metrics = {
        k: float(v)
        for k, v in raw.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    classes = info.get("classes")
    if not isinstance(classes, list) or len(classes) < 2:
        raise ValueError("run.json has no 'classes' list")
    # a binary table may carry only the positive-class probability
    prob_cols = tuple(f"prob_{c}" for c in (classes[1:] if len(classes) == 2 else classes))
    preds = _read_csv(path / "predictions.csv", ("target", "pred", *prob_cols))
    history = None
    if (path / "history.csv").is_file():
        history = _read_csv(path / "history.csv", ("epoch",))
    info.setdefault("fold", fold_of(path.name))
    return Run(path.name, path, info, metrics, preds, history)


def _expected_folds(runs: list[Run], problems: list[Problem]) -> list[Problem]:
    """Folds that never appeared: every configuration of a dataset should have the same folds."""
    folds: dict[str, set[int]] = {}
    seen: dict[str, set[int]] = {}
    ids = [r.run_id for r in runs] + [p.run_id for p in problems]
    for run_id in ids:
        fold = fold_of(run_id)
        if fold is None:
            continue
        key = run_id.split("__")[0] + ("__ext" if "__ext-" in run_id else "")
        folds.setdefault(key, set()).add(fold)
        seen.setdefault(config_id(run_id), set()).add(fold)
    gaps = []
    for cfg, have in sorted(seen.items()):
        key = cfg.split("__")[0] + ("__ext" if "__ext-" in cfg else "")
        for fold in sorted(folds[key] - have):
            run_id = _with_fold(cfg, fold)
            gaps.append(Problem(run_id, "missing: no run folder for this fold"))
    return gaps


def _with_fold(cfg: str, fold: int) -> str:
    if "__ext-" in cfg:
        head, ext = cfg.rsplit("__ext-", 1)
        return f"{head}__fold{fold}__ext-{ext}"
    return f"{cfg}__fold{fold}"


def _load_manifests(root: Path) -> dict[str, pd.DataFrame]:
    """Read ``manifests/*.csv`` with their attrs sidecar, without checking the image files."""
    out: dict[str, pd.DataFrame] = {}
    for csv in sorted((root / "manifests").glob("*.csv")):
        try:
            df = pd.read_csv(csv, dtype={"patient_id": str, "path": str, "label": str})
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        meta = csv.with_name(csv.name + ".meta.json")
        if meta.is_file():
            try:
                df.attrs.update(json.loads(meta.read_text()))
            except (OSError, json.JSONDecodeError):
                df.attrs["notes"] = [f"{meta.name} unreadable"]
        out[csv.stem] = df
    return out


def collect_runs(run_dir: str | Path) -> RunCollection:
    """Scan ``RUN_DIR/runs/*/``; readable runs are kept, every other one becomes a Problem."""
    root = Path(run_dir)
    if not root.is_dir():
        raise UserError(f"run folder {root} not found; pass the --out folder of `breastbench run`")
    runs_dir = root / "runs"
    if not runs_dir.is_dir():
        raise UserError(f"{root} has no runs/ folder; pass the output folder of `breastbench run`")
    runs, problems = [], []
    # runs/.partial holds resume checkpoints of unfinished runs, not runs
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir() and p.name != ".partial"):
        if path.name.startswith(".tmp-"):
            run_id = re.sub(r"^\.tmp-(.*)-\d+$", r"\1", path.name)
            problems.append(Problem(run_id, "incomplete: temporary folder left by a stopped run"))
            continue
        try:
            runs.append(load_run(path))
        except ValueError as err:
            problems.append(Problem(path.name, str(err)))
    # a stopped run whose final folder exists later is not a problem
    done = {r.run_id for r in runs}
    problems = [p for p in problems if p.run_id not in done]
    problems = _dedupe(problems + _expected_folds(runs, problems))
    if not runs and not problems:
        raise UserError(f"{runs_dir} holds no runs; run `breastbench run` first")
    return RunCollection(root, runs, problems, _load_manifests(root))


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: dict[str, Problem] = {}
    for problem in problems:
        seen.setdefault(problem.run_id, problem)
    return sorted(seen.values(), key=lambda p: p.run_id)
