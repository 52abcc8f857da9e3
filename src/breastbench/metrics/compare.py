"""Compare two configurations from their prediction tables.

:func:`compare_configs` aligns two ``predictions.csv`` tables on ``image_id``, refuses to
compare tables that do not cover exactly the same samples with the same labels, runs one paired
test and returns one row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from breastbench.errors import UserError
from breastbench.metrics.classification import (
    classes_from_predictions,
    predict_labels,
    probabilities_from_predictions,
)
from breastbench.metrics.delong import delong_test
from breastbench.metrics.stats import (
    mcnemar_test,
    metric_function,
    paired_bootstrap,
    wilcoxon_folds,
)

TESTS = ("auto", "bootstrap", "delong", "mcnemar", "wilcoxon")
ROW_KEYS = ("test", "metric", "n", "statistic", "p", "effect", "ci_low", "ci_high", "note")


def align_predictions(
    pred_a: pd.DataFrame, pred_b: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables restricted to the same ``image_id`` order; errors if samples differ."""
    for name, df in (("first", pred_a), ("second", pred_b)):
        for col in ("image_id", "target"):
            if col not in df.columns:
                raise UserError(f"the {name} prediction table lacks the '{col}' column")
        dup = df["image_id"][df["image_id"].duplicated()]
        if len(dup):
            raise UserError(
                f"the {name} prediction table has {dup.nunique()} duplicated image_id values "
                f"(e.g. {dup.iloc[0]!r}); pass one out-of-fold prediction per image"
            )
    ids_a, ids_b = set(pred_a["image_id"]), set(pred_b["image_id"])
    if ids_a != ids_b:
        only_a, only_b = sorted(ids_a - ids_b, key=str), sorted(ids_b - ids_a, key=str)
        example = (only_a or only_b)[0]
        raise UserError(
            f"the two configurations cover different samples ({len(only_a)} images only in the "
            f"first, {len(only_b)} only in the second, e.g. {example!r}); compare runs on the "
            "same dataset, folds and magnification"
        )
    a = pred_a.set_index("image_id").sort_index()
    b = pred_b.set_index("image_id").loc[a.index]
    if (a["target"].to_numpy() != b["target"].to_numpy()).any():
        raise UserError(
            "the two prediction tables disagree on the true label of some images; they come "
            "from different manifests or class mappings"
        )
    return a.reset_index(), b.reset_index()


def _choose_test(test: str, metric: str, binary: bool) -> str:
    if test not in TESTS:
        raise UserError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}")
    if test == "auto":
        if metric == "auc" and binary:
            return "delong"
        return "mcnemar" if metric == "accuracy" else "bootstrap"
    if test == "delong" and not (binary and metric == "auc"):
        raise UserError("test 'delong' compares binary AUCs; use metric='auc' on a binary task")
    if test == "mcnemar" and metric != "accuracy":
        raise UserError("test 'mcnemar' compares accuracy; use metric='accuracy'")
    return test


def _per_fold(a, b, classes, metric) -> dict:
    for name, df in (("first", a), ("second", b)):
        if "fold" not in df.columns:
            raise UserError(f"test 'wilcoxon' needs a 'fold' column in the {name} table")
    if (a["fold"].to_numpy() != b["fold"].to_numpy()).any():
        raise UserError(
            "the two configurations used different fold assignments, so per-fold scores are "
            "not paired; rerun both with the same folds"
        )
    fn = metric_function(metric, classes)
    folds = sorted(a["fold"].unique())
    y = a["target"].to_numpy()
    pa = probabilities_from_predictions(a, classes)
    pb = probabilities_from_predictions(b, classes)
    fold = a["fold"].to_numpy()
    sa = [fn(y[fold == f], pa[fold == f]) for f in folds]
    sb = [fn(y[fold == f], pb[fold == f]) for f in folds]
    res = wilcoxon_folds(sa, sb)
    return {
        "statistic": res["statistic"],
        "p": res["p"],
        "effect": res["effect"],
        "note": f"{len(folds)} folds; effect = median fold difference. {res['note']}".strip(),
    }


def compare_configs(
    pred_a: pd.DataFrame,
    pred_b: pd.DataFrame,
    metric: str = "auc",
    *,
    test: str = "auto",
    classes: Sequence[str] | None = None,
    group: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """One paired comparison of configuration a vs b on their pooled out-of-fold predictions.

    Args:
        pred_a: prediction table of configuration a (``image_id``, ``target``,
            ``prob_<class>``, and ``fold`` for the Wilcoxon test).
        pred_b: prediction table of configuration b, covering the same images.
        metric: a metric name of :func:`breastbench.metrics.compute_metrics`.
        test: ``auto`` (DeLong for binary AUC, McNemar for accuracy, else bootstrap),
            ``bootstrap``, ``delong``, ``mcnemar`` or ``wilcoxon`` (per-fold scores).
        classes: ordered class names (default: from the tables).
        group: column whose values are resampled as units by the bootstrap (``patient_id``).
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
        alpha: confidence level ``1 - alpha`` for the interval.

    Returns:
        ``{test, metric, n, statistic, p, effect, ci_low, ci_high, note, value_a, value_b}``;
        ``effect`` is metric(a) - metric(b) (median fold difference for Wilcoxon); the CI is
        NaN when the test gives none.
    """
    classes = classes_from_predictions(pred_a, classes)
    a, b = align_predictions(pred_a, pred_b)
    binary = len(classes) == 2
    chosen = _choose_test(test, metric, binary)
    y = a["target"].to_numpy().astype(int)
    pa = probabilities_from_predictions(a, classes)
    pb = probabilities_from_predictions(b, classes)
    fn = metric_function(metric, classes)
    row = dict.fromkeys(ROW_KEYS, float("nan"))
    row.update(test=chosen, metric=metric, n=len(y), note="")
    row.update(value_a=fn(y, pa), value_b=fn(y, pb))
    if chosen == "delong":
        r = delong_test(y, pa[:, 1], pb[:, 1], alpha=alpha)
        row.update(statistic=r["z"], p=r["p"], effect=r["diff"])
        row.update(ci_low=r["ci_low"], ci_high=r["ci_high"])
    elif chosen == "mcnemar":
        n = len(y)
        r = mcnemar_test(y, predict_labels(pa, len(classes)), predict_labels(pb, len(classes)))
        # Wald interval of a paired difference of proportions
        # (Agresti, Categorical Data Analysis, sec. 11.1).
        se = np.sqrt(max((r["b"] + r["c"]) - (r["b"] - r["c"]) ** 2 / n, 0.0)) / n
        half = float(stats.norm.ppf(1.0 - alpha / 2.0) * se)
        row.update(statistic=r["statistic"], p=r["p"], effect=r["effect"])
        row.update(ci_low=r["effect"] - half, ci_high=r["effect"] + half)
        row["note"] = f"b={r['b']}, c={r['c']} discordant; {r['method']}"
    elif chosen == "bootstrap":
        groups = None
        if group is not None:
            if group not in a.columns:
                raise UserError(f"group column {group!r} is not in the prediction tables")
            groups = a[group].to_numpy()
        r = paired_bootstrap(
            y, pa, pb, metric, n_boot, seed, classes=classes, groups=groups, alpha=alpha
        )
        row.update(statistic=r["difference"], p=r["p"], effect=r["difference"])
        row.update(ci_low=r["ci_low"], ci_high=r["ci_high"])
        unit = f"{r['n_groups']} {group} groups" if group else f"{r['n']} samples"
        row["note"] = f"{r['n_boot']} resamples of {unit}, seed {seed}"
    else:
        row.update(_per_fold(a, b, classes, metric))
    return row
