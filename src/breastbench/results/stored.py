"""What reading a run folder yields: a complete run or a problem, and the file readers.

A :class:`StoredRun` is a run whose files all parse; a :class:`Problem` names a run that is
missing or broken. The readers check strict JSON and the CSV columns a reader needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from breastbench import jsonio
from breastbench.results.key import RunIdError, RunKey
from breastbench.results.layout import (
    CHECKPOINT,
    HISTORY,
    METRICS,
    PREDICTIONS,
    RUN_INFO,
)


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
        path = self.path / CHECKPOINT
        return path if path.is_dir() else None


@dataclass
class Problem:
    """A run that is missing or could not be used, and why."""

    name: str  # run id (or folder name when it is not a run id)
    reason: str
    key: RunKey | None = None


def load_run(path: Path, key: RunKey) -> StoredRun:
    """Read one complete run from its folder; ValueError naming the bad file otherwise."""
    if not (path / METRICS).is_file():
        raise ValueError("no metrics.json (the run did not finish)")
    info = read_json_object(path / RUN_INFO)
    raw = read_json_object(path / METRICS)
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
    preds = read_csv(path / PREDICTIONS, ("target", "pred", *prob_cols))
    if "image_id" not in preds.columns:
        preds["image_id"] = preds["path"] if "path" in preds.columns else preds.index
    preds.attrs["classes"] = classes
    history = None
    if (path / HISTORY).is_file():
        history = read_csv(path / HISTORY, ("epoch",))
    return StoredRun(key, path, info, metrics, preds, history)


def try_parse(name: str) -> RunKey | None:
    """The key a folder name encodes, or None for a name that is no run id."""
    try:
        return RunKey.parse(name)
    except RunIdError:
        return None


def inferred_grid(runs: list[StoredRun], problems: dict[str, Problem]) -> list[RunKey]:
    """Without grid.json: every configuration should have the replicates its peers have."""
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


def read_json_object(path: Path) -> dict:
    """A JSON object file; ValueError naming the file when unreadable or not an object."""
    try:
        data = jsonio.read_json(path)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path.name} unreadable ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return data


def read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """A run's CSV; ValueError naming the file when unreadable or lacking a column."""
    try:
        df = pd.read_csv(path, dtype={"image_id": str, "path": str, "patient_id": str})
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{path.name} unreadable ({type(err).__name__}: {err})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path.name} lacks column(s) {', '.join(missing)}")
    return df
