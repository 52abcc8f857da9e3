"""The protocol section: what data went in, how it was split, and what the runs ran on.

Built from ``manifests/*.csv`` (+ ``.meta.json``) and every run's ``run.json``: image counts per
class and magnification, fold sizes with a patient-leakage audit (a patient id in two folds is
leakage), excluded rows and why, seeds, package versions, git SHA, hardware and wall times. A
reader should be able to judge the protocol without opening any other file.
"""

from __future__ import annotations

import json

import pandas as pd

from breastbench.report.collect import RunCollection
from breastbench.report.summary import ConfigSummary
from breastbench.report.tables import Cell, Table


def _frame_table(key: str, caption: str, df: pd.DataFrame, n_keys: int = 1) -> Table:
    header = [str(c) for c in df.columns]
    rows = [[Cell(str(v)) for v in rec] for rec in df.itertuples(index=False)]
    return Table(key, caption, header, rows, n_keys=n_keys)


def counts_table(name: str, df: pd.DataFrame) -> Table:
    """Images per class (rows) and magnification (columns), with totals."""
    cols = "magnification" if "magnification" in df.columns else None
    if cols:
        counts = pd.crosstab(df["label"], df[cols], margins=True, margins_name="total")
        counts.columns = [f"{c}×" if c != "total" else c for c in counts.columns]
    else:
        counts = df.groupby("label").size().to_frame("images")
        counts.loc["total"] = counts["images"].sum()
    classes = df.attrs.get("classes") or []
    order = [c for c in classes if c in counts.index] + [
        c for c in counts.index if c not in classes
    ]
    counts = counts.loc[order].reset_index().rename(columns={"label": "class"})
    patients = df.groupby("label")["patient_id"].nunique()
    counts["patients"] = [
        patients.get(c, df["patient_id"].nunique()) if c != "total" else df["patient_id"].nunique()
        for c in counts["class"]
    ]
    return _frame_table(f"data_{name}", f"{name}: images per class and magnification", counts)


def folds_table(name: str, df: pd.DataFrame) -> Table | None:
    """Images per class and patients in each fold."""
    if "fold" not in df.columns:
        return None
    sizes = pd.crosstab(df["fold"], df["label"])
    sizes["images"] = sizes.sum(axis=1)
    sizes["patients"] = df.groupby("fold")["patient_id"].nunique()
    sizes = sizes.reset_index()
    return _frame_table(f"folds_{name}", f"{name}: fold sizes (images per class, patients)", sizes)


def leakage_audit(df: pd.DataFrame) -> dict:
    """Patients whose images sit in more than one fold (must be zero for a valid CV)."""
    if "fold" not in df.columns:
        return {"checked": False}
    spread = df.groupby("patient_id")["fold"].nunique()
    leaked = sorted(spread[spread > 1].index.astype(str))
    return {
        "checked": True,
        "patients": int(len(spread)),
        "folds": int(df["fold"].nunique()),
        "leaked_patients": leaked,
    }


def audit_lines(name: str, df: pd.DataFrame) -> list[str]:
    """Plain sentences on folds, leakage, exclusions and notes of one manifest."""
    lines = []
    audit = leakage_audit(df)
    folds_meta = df.attrs.get("folds") or {}
    if audit["checked"]:
        verdict = (
            "no patient appears in more than one fold (no leakage)"
            if not audit["leaked_patients"]
            else f"LEAKAGE: {len(audit['leaked_patients'])} patient(s) in more than one fold, "
            f"e.g. {', '.join(audit['leaked_patients'][:5])}"
        )
        lines.append(
            f"{name}: {len(df)} images, {audit['patients']} patients, {audit['folds']} folds; "
            f"{verdict}."
        )
    else:
        lines.append(f"{name}: {len(df)} images; no fold column, leakage audit not possible.")
    if folds_meta:
        facts = ", ".join(f"{k}={v}" for k, v in sorted(folds_meta.items()))
        lines.append(f"{name}: fold assignment {facts}.")
    excluded = df.attrs.get("excluded") or {}
    if excluded:
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(excluded.items()))
        lines.append(f"{name}: excluded rows: {parts}.")
    else:
        lines.append(f"{name}: no rows excluded.")
    for note in df.attrs.get("notes") or []:
        lines.append(f"{name}: {note}")
    return lines


def _fact(value) -> str:
    """A grouping fact as text: lists joined, mappings as ``key: a, b; ...``."""
    if isinstance(value, dict):
        if not value:
            return "none"
        return "; ".join(f"{k}: {_fact(v)}" for k, v in sorted(value.items()))
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def grouping_table(name: str, df: pd.DataFrame) -> Table | None:
    """The manifest's patient-grouping report (which folders merged into one patient) as rows."""
    group = df.attrs.get("group_report")
    if not isinstance(group, dict) or not group:
        return None
    labels = {
        "group_by": "grouped by",
        "n_groups": "groups (patients)",
        "n_folders": "folders",
        "n_slides": "slides",
        "merged": "groups merging several folders",
        "n_folders_merged": "folders merged",
        "multi_subtype": "groups spanning several subtypes",
    }
    rows = [[Cell(labels.get(k, k.replace("_", " "))), Cell(_fact(v))] for k, v in group.items()]
    return Table(f"grouping_{name}", f"{name}: patient grouping", ["item", "value"], rows, n_keys=1)


def _distinct(collection: RunCollection, key: str) -> list[str]:
    values = {json.dumps(r.info.get(key), sort_keys=True, default=str) for r in collection.runs}
    return sorted(v.strip('"') for v in values if v != "null")


def environment_table(collection: RunCollection) -> Table:
    """Seeds, git SHA, device and package versions recorded by the runs."""
    rows = [
        ["runs readable", str(len(collection.runs))],
        ["runs missing or broken", str(len(collection.problems))],
        *(
            [["runs not selected (--only)", str(collection.analysis.get("not_selected") or 0)]]
            if collection.analysis.get("only")
            else []
        ),
        ["seeds", ", ".join(_distinct(collection, "seed")) or "not recorded"],
        ["git SHA", ", ".join(_distinct(collection, "git_sha")) or "not recorded"],
        ["hardware", ", ".join(_distinct(collection, "device")) or "not recorded"],
        ["synthetic data", "yes" if collection.synthetic else "no"],
        ["random weights", "yes" if collection.random_weights else "no"],
    ]
    versions: dict[str, set[str]] = {}
    for run in collection.runs:
        for pkg, ver in (run.info.get("versions") or {}).items():
            versions.setdefault(pkg, set()).add(str(ver))
    for pkg in sorted(versions):
        rows.append([pkg, ", ".join(sorted(versions[pkg]))])
    return Table(
        "environment",
        "Environment and reproducibility facts recorded in run.json",
        ["item", "value"],
        [[Cell(a), Cell(b)] for a, b in rows],
        n_keys=2,
    )


def timings_table(summaries: list[ConfigSummary]) -> Table | None:
    """Wall time per configuration: every ``timings`` entry summed over its folds (seconds)."""
    keys: list[str] = []
    data = []
    for s in summaries:
        totals: dict[str, float] = {}
        for run in s.runs:
            for k, v in (run.info.get("timings") or {}).items():
                if isinstance(v, (int, float)):
                    totals[k] = totals.get(k, 0.0) + float(v)
                    if k not in keys:
                        keys.append(k)
        if totals:
            data.append((s, totals))
    if not data:
        return None
    header = ["configuration", "folds", *keys]
    rows = [
        [Cell(f"{s.subset}: {s.name}"), Cell(str(s.n_folds))]
        + [Cell(f"{t.get(k, 0.0):.1f}") for k in keys]
        for s, t in data
    ]
    grand = [sum(t.get(k, 0.0) for _, t in data) for k in keys]
    rows.append([Cell("all configurations"), Cell("")] + [Cell(f"{g:.1f}") for g in grand])
    return Table("timings", "Wall time in seconds, summed over folds", header, rows, n_keys=2)
