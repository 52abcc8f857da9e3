"""What the report reads from a run folder: runs, problems, manifests and the analysis files.

Runs and problems come from :class:`breastbench.results.RunFolder` (the one owner of the
layout); the numbers come from ``summary/`` (written by :mod:`breastbench.results.analysis`).
A broken run (unreadable JSON or CSV, no ``metrics.json``, a folder left behind by a killed
run, or a replicate that never appeared) must not sink the whole report, so each problem is
kept with its run id and the tables mark the gap instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from breastbench import jsonio
from breastbench.data.manifest import ID_DTYPES, sidecar
from breastbench.errors import UserError
from breastbench.results import Problem, RunFolder, StoredRun
from breastbench.results.layout import POWER, SUMMARY_TABLES

Run = StoredRun  # the report's name for a readable run

__all__ = ["Problem", "Run", "RunCollection", "collect_runs"]


@dataclass
class RunCollection:
    """Everything the report needs from a run folder."""

    root: Path
    runs: list[StoredRun]
    problems: list[Problem]
    manifests: dict[str, pd.DataFrame]
    summary: dict[str, pd.DataFrame] = field(default_factory=dict)
    analysis: dict = field(default_factory=dict)

    def by_config(self) -> dict[str, list[StoredRun]]:
        """Readable runs grouped by configuration id, replicates in order."""
        groups: dict[str, list[StoredRun]] = {}
        for run in sorted(self.runs, key=lambda r: r.key):
            groups.setdefault(run.key.config_id, []).append(run)
        return groups

    def problems_by_config(self) -> dict[str, list[Problem]]:
        """Problems grouped by configuration id (problems without a key are left out)."""
        groups: dict[str, list[Problem]] = {}
        for problem in self.problems:
            if problem.key is not None:
                groups.setdefault(problem.key.config_id, []).append(problem)
        return groups

    @property
    def synthetic(self) -> bool:
        """True when any run trained or tested on synthetic data."""
        return any(r.info.get("synthetic") for r in self.runs)

    @property
    def random_weights(self) -> bool:
        """True when any run started from random (not pretrained) weights."""
        return any(r.info.get("random_weights") for r in self.runs)


def _load_manifests(folder: RunFolder) -> dict[str, pd.DataFrame]:
    """Read ``manifests/*.csv`` with their attrs sidecar, without checking the image files."""
    out: dict[str, pd.DataFrame] = {}
    for csv in folder.manifest_paths():
        try:
            df = pd.read_csv(csv, dtype=ID_DTYPES, keep_default_na=False, na_values=[""])
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        meta = sidecar(csv)
        if meta.is_file():
            try:
                df.attrs.update(json.loads(meta.read_text()))
            except (OSError, json.JSONDecodeError):
                df.attrs["notes"] = [f"{meta.name} unreadable"]
        out[csv.stem] = df
    return out


def _load_summary(folder: RunFolder) -> tuple[dict[str, pd.DataFrame], dict]:
    tables = {}
    for name in (*SUMMARY_TABLES, POWER):
        path = folder.summary_path(name)
        if path.is_file():
            tables[name] = pd.read_csv(path, keep_default_na=True)
    analysis = {}
    path = folder.analysis_path
    if path.is_file():
        try:
            analysis = jsonio.read_json(path)
        except (OSError, ValueError):
            analysis = {}
    return tables, analysis


def collect_runs(run_dir: str | Path, loaded: tuple | None = None) -> RunCollection:
    """Read the run folder and its ``summary/``; readable runs are kept, the rest are Problems.

    ``loaded`` = ``(runs, problems)`` the analysis already read (so ``run`` reads every
    prediction file once, not once per consumer).
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise UserError(f"run folder {root} not found; pass the --out folder of `breastbench run`")
    folder = RunFolder(root)
    if not folder.runs_dir.is_dir():
        raise UserError(f"{root} has no runs/ folder; pass the output folder of `breastbench run`")
    runs, problems = loaded if loaded is not None else folder.collect()
    if not runs and not problems:
        raise UserError(f"{folder.runs_dir} holds no runs; run `breastbench run` first")
    tables, analysis = _load_summary(folder)
    return RunCollection(root, runs, problems, _load_manifests(folder), tables, analysis)
