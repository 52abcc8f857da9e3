"""Counts that describe a manifest: what ``data inspect`` prints and the demo shows.

Kept apart from the CLI so other commands (demo, reports) can print the same facts.
"""

from __future__ import annotations

import pandas as pd


def _counts(series: pd.Series, order=None) -> dict:
    counts = series.value_counts()
    keys = [k for k in (order or sorted(counts.index, key=str)) if k in counts.index]
    return {str(k): int(counts[k]) for k in keys}


def summarize(df: pd.DataFrame) -> dict:
    """JSON-able summary: sizes, per-label/subtype/magnification counts, exclusions, notes."""
    classes = list(df.attrs.get("classes") or sorted(df["label"].unique()))
    out = {
        "dataset": df.attrs.get("dataset", str(df["dataset"].iloc[0])),
        "task": df.attrs.get("task"),
        "classes": classes,
        "synthetic": bool(df.attrs.get("synthetic", False)),
        "n_images": int(len(df)),
        "n_patients": int(df["patient_id"].nunique()),
        "by_label": _counts(df["label"], classes),
    }
    if "subtype" in df.columns and df["subtype"].notna().any():
        out["by_subtype"] = _counts(df["subtype"].dropna())
    if "magnification" in df.columns and df["magnification"].notna().any():
        out["by_magnification"] = {
            f"{int(mag)}X": {"n": int(len(part)), **_counts(part["label"], classes)}
            for mag, part in df.groupby("magnification")
        }
    for col in ("view", "laterality"):
        if col in df.columns and df[col].notna().any():
            out[f"by_{col}"] = _counts(df[col].dropna())
    out["excluded"] = dict(df.attrs.get("excluded") or {})
    out["notes"] = list(df.attrs.get("notes") or [])
    if df.attrs.get("group_report"):
        out["group_report"] = df.attrs["group_report"]
    return out
