"""Patient-grouped, class-stratified k-fold assignment and its audit.

Images of one patient are strongly correlated (same slide, same stain, same breast), so a
split by image leaks and inflates every metric. ``assign_folds`` uses scikit-learn's
``StratifiedGroupKFold``: groups (patients) never straddle folds, and within that constraint
class proportions stay close to the whole. ``audit_folds`` proves the first property and
measures the second on any manifest with a ``fold`` column, including hand-made ones.
"""

from __future__ import annotations

import warnings

import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from breastbench.data.manifest import folds_hash
from breastbench.errors import UserError


def _group_col(df: pd.DataFrame, group_col: str | None) -> str:
    col = group_col or (df.attrs.get("folds") or {}).get("group_col")
    col = col or df.attrs.get("group_col") or "patient_id"
    if col not in df.columns:
        raise UserError(f"group column {col!r} is not in the manifest; use one of {list(df)}")
    return col


def assign_folds(df: pd.DataFrame, k: int = 5, seed: int = 0, group_col: str | None = None):
    """Return a copy of ``df`` with an int ``fold`` column (0..k-1), grouped and stratified.

    ``group_col`` defaults to the source's grouping (``df.attrs["group_col"]``, e.g. the
    BreakHis numeric patient id, or ``slide_id`` with ``group_by=slide``) else ``patient_id``.
    """
    col = _group_col(df, group_col)
    if int(k) < 2:
        raise UserError(f"k={k}: cross-validation needs at least 2 folds")
    n_groups = df[col].nunique()
    if n_groups < k:
        raise UserError(
            f"k={k} folds but only {n_groups} distinct {col} values; use --k {n_groups} or fewer"
        )
    splitter = StratifiedGroupKFold(n_splits=int(k), shuffle=True, random_state=int(seed))
    fold = pd.Series(-1, index=df.index, dtype="int64")
    with warnings.catch_warnings():
        # sklearn warns when a class has fewer groups than folds; audit_folds reports that
        warnings.simplefilter("ignore", UserWarning)
        for i, (_, test) in enumerate(splitter.split(df, df["target"], groups=df[col])):
            fold.iloc[test] = i
    out = df.copy()
    out["fold"] = fold
    out.attrs = {**df.attrs}
    out.attrs["folds"] = {"k": int(k), "seed": int(seed), "group_col": col}
    out.attrs["folds"]["hash"] = folds_hash(out)
    return out


def audit_folds(df: pd.DataFrame, group_col: str | None = None) -> dict:
    """Check a fold assignment: groups in several folds, per-fold class balance, empty classes.

    Returns a JSON-able dict; ``ok`` is False if any group leaks or any fold lacks a class.
    """
    if "fold" not in df.columns:
        raise UserError(
            "the manifest has no 'fold' column; create one with `breastbench data folds`"
        )
    col = _group_col(df, group_col)
    classes = list(df.attrs.get("classes") or sorted(df["label"].unique()))
    folds_per_group = df.groupby(col)["fold"].nunique()
    leaking = df[df[col].isin(folds_per_group[folds_per_group > 1].index)]
    leaks = {
        str(g): sorted(int(f) for f in fs)
        for g, fs in leaking.groupby(col)["fold"].unique().items()
    }
    overall = df["label"].value_counts(normalize=True).reindex(classes, fill_value=0.0)
    per_fold, missing, worst = [], {}, 0.0
    for fold, part in df.groupby("fold"):
        counts = part["label"].value_counts().reindex(classes, fill_value=0)
        props = counts / len(part)
        diff = float((props - overall).abs().max())
        worst = max(worst, diff)
        lacking = [c for c in classes if counts[c] == 0]
        if lacking:
            missing[int(fold)] = lacking
        per_fold.append(
            {
                "fold": int(fold),
                "n_images": int(len(part)),
                "n_groups": int(part[col].nunique()),
                "counts": {c: int(counts[c]) for c in classes},
                "proportions": {c: round(float(props[c]), 4) for c in classes},
                "max_abs_diff": round(diff, 4),
            }
        )
    return {
        "ok": not leaks and not missing,
        "k": int(df["fold"].nunique()),
        "group_col": col,
        "n_images": int(len(df)),
        "n_groups": int(df[col].nunique()),
        "leaks": leaks,
        "missing_classes": missing,
        "overall": {c: round(float(overall[c]), 4) for c in classes},
        "max_abs_diff": round(worst, 4),
        "folds": per_fold,
    }
