"""The pairwise comparison table (the histopathology study's Table 7), from predictions.

Within each dataset x magnification x augmentation setting the best learning mode of each model
(by mean accuracy) is compared with every other model's best, as the study compares model
families. Every pair gets, for accuracy, F1 and AUC, the fold-level Wilcoxon signed-rank test
(exact p with n folds, as the study reports) and a pooled out-of-fold test that can reach
significance (McNemar for accuracy, DeLong for binary AUC, a patient-resampled paired bootstrap
otherwise). Holm's correction runs within each test across the whole table. All numbers come
from :mod:`breastbench.metrics` on the runs' ``predictions.csv`` files.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from breastbench.errors import UserError
from breastbench.metrics.classification import probabilities_from_predictions
from breastbench.metrics.compare import align_predictions, compare_configs, comparison_table
from breastbench.metrics.stats import min_wilcoxon_p, paired_bootstrap
from breastbench.report.summary import ConfigSummary
from breastbench.report.tables import Cell, Table, metric_label

TEST_LABELS = {
    "wilcoxon": "Wilcoxon (folds)",
    "mcnemar": "McNemar",
    "delong": "DeLong",
    "bootstrap": "paired bootstrap",
}


def _metric_names(binary: bool) -> list[str]:
    return ["accuracy", "f1", "auc"] if binary else ["accuracy", "f1_macro", "auc_ovr_macro"]


def _pooled(s: ConfigSummary) -> pd.DataFrame:
    df = pd.concat([r.predictions.assign(fold=r.info.get("fold")) for r in s.runs])
    if "image_id" not in df.columns:
        df = df.assign(image_id=df["path"])
    return df.reset_index(drop=True)


def _rank_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with midranks (equals scikit-learn's ROC AUC, ties included)."""
    pos = int(truth.sum())
    neg = len(truth) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    return float((rankdata(score)[truth].sum() - pos * (pos + 1) / 2) / (pos * neg))


def fast_metric(name: str, n_classes: int):
    """``f(y, prob) -> float`` for F1 / macro-F1 / OvR macro AUC, fast enough to bootstrap.

    The bootstrap scores thousands of resamples; a full scikit-learn metric set per resample
    takes minutes per pair on a laptop. These give the same values as
    :func:`breastbench.metrics.compute_metrics` (zero-division -> 0 for F1, classes absent
    from a resample left out of the AUC mean) in microseconds.
    """

    def f1_per_class(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        pred = (p[:, 1] >= 0.5).astype(int) if n_classes == 2 else p.argmax(axis=1)
        tp = np.bincount(y[pred == y], minlength=n_classes)
        den = np.bincount(pred, minlength=n_classes) + np.bincount(y, minlength=n_classes)
        return np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)

    if name == "f1":
        return lambda y, p: float(f1_per_class(y, p)[1])
    if name == "f1_macro":
        return lambda y, p: float(f1_per_class(y, p).mean())
    if name == "auc_ovr_macro":

        def auc(y: np.ndarray, p: np.ndarray) -> float:
            values = [_rank_auc(y == k, p[:, k]) for k in range(n_classes)]
            values = [v for v in values if not np.isnan(v)]
            return float(np.mean(values)) if values else float("nan")

        return auc
    return None


def _bootstrap_row(pa, pb, metric, classes, n_boot, seed) -> dict:
    """A pooled paired-bootstrap comparison row in :func:`compare_configs`' format."""
    a, b = align_predictions(pa, pb)
    y = a["target"].to_numpy().astype(int)
    prob_a = probabilities_from_predictions(a, classes)
    prob_b = probabilities_from_predictions(b, classes)
    fn = fast_metric(metric, len(classes))
    groups = a["patient_id"].to_numpy() if "patient_id" in a.columns else None
    r = paired_bootstrap(y, prob_a, prob_b, fn, n_boot, seed, classes=classes, groups=groups)
    unit = f"{r['n_groups']} patients" if groups is not None else f"{r['n']} samples"
    return {
        "test": "bootstrap",
        "metric": metric,
        "n": r["n"],
        "statistic": r["difference"],
        "p": r["p"],
        "effect": r["difference"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "note": f"{r['n_boot']} resamples of {unit}, seed {seed}",
        "value_a": fn(y, prob_a),
        "value_b": fn(y, prob_b),
    }


def _compare(pa, pb, metric, test, classes, n_boot, seed) -> dict:
    """Pooled "auto" tests of F1 and multi-class AUC use the fast bootstrap; the rest as is."""
    if test == "auto" and fast_metric(metric, len(classes)) is not None:
        return _bootstrap_row(pa, pb, metric, classes, n_boot, seed)
    return compare_configs(pa, pb, metric, test=test, classes=classes, n_boot=n_boot, seed=seed)


def candidate_pairs(summaries: list[ConfigSummary]) -> list[tuple[ConfigSummary, ConfigSummary]]:
    """Best mode per model within each setting; all pairs of those, better one first."""
    groups: dict[tuple, list[ConfigSummary]] = {}
    for s in summaries:
        if s.external or len(s.runs) < 2 or "accuracy" not in s.mean:
            continue
        groups.setdefault((s.dataset, s.magnification, s.augmentation), []).append(s)
    pairs = []
    for _, rows in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])):
        best: dict[str, ConfigSummary] = {}
        for s in rows:
            if s.model not in best or s.mean["accuracy"] > best[s.model].mean["accuracy"]:
                best[s.model] = s
        chosen = list(best.values()) if len(best) > 1 else rows
        chosen = sorted(chosen, key=lambda s: -s.mean["accuracy"])
        pairs.extend(itertools.combinations(chosen, 2))
    return pairs


def run_comparisons(
    summaries: list[ConfigSummary], n_boot: int = 1000, seed: int = 0
) -> tuple[pd.DataFrame, list[str]]:
    """All comparison rows with Holm-adjusted p (within each test); notes for skipped pairs."""
    rows, notes = [], []
    for a, b in candidate_pairs(summaries):
        classes = a.runs[0].classes
        binary = len(classes) == 2
        pa, pb = _pooled(a), _pooled(b)
        # a missing fold in either configuration: compare on the folds both have
        shared = set(pa["fold"]) & set(pb["fold"])
        pa, pb = pa[pa["fold"].isin(shared)], pb[pb["fold"].isin(shared)]
        for metric in _metric_names(binary):
            for test in ("wilcoxon", "auto"):
                try:
                    row = _compare(pa, pb, metric, test, classes, n_boot, seed)
                except UserError as err:
                    notes.append(f"{a.config} vs {b.config} ({metric}, {test}): skipped, {err}")
                    break
                row.update(
                    dataset=a.dataset,
                    magnification=a.mag_label,
                    augmentation=a.aug_label,
                    config_a=a.config,
                    config_b=b.config,
                    a=f"{a.model} ({a.mode_label})",
                    b=f"{b.model} ({b.mode_label})",
                    n_folds=len(shared),
                )
                rows.append(row)
    return comparison_table(rows, by=["test"]), sorted(set(notes))


def fmt_p(p: float) -> str:
    """Exact p with 3 significant digits (``0.0625``, ``1.2e-05``)."""
    return "n/a" if p is None or math.isnan(p) else f"{p:.3g}"


def _fmt(x: float, digits: int = 4) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:+.{digits}f}"


def comparison_report_table(table: pd.DataFrame) -> Table | None:
    """Table 7: test, n, exact p, Holm p, effect and its 95% CI per pair and metric."""
    if table.empty:
        return None
    header = ["Setting", "Comparison (A vs B)", "Metric"]
    header += ["Test", "n", "p", "Holm p", "Effect (A − B)", "95% CI"]
    rows = []
    for r in table.to_dict("records"):
        n = f"{r['n_folds']} folds" if r["test"] == "wilcoxon" else f"{r['n']} images"
        ci = "–" if math.isnan(r["ci_low"]) else f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        rows.append(
            [
                Cell(f"{r['dataset']} {r['magnification']}, aug {r['augmentation']}"),
                Cell(f"{r['a']} vs {r['b']}"),
                Cell(metric_label(r["metric"])),
                Cell(TEST_LABELS.get(r["test"], r["test"])),
                Cell(n),
                Cell(fmt_p(r["p"])),
                Cell(fmt_p(r["p_holm"]), bold=bool(r["p_holm"] < 0.05)),
                Cell(_fmt(r["effect"])),
                Cell(ci),
            ]
        )
    return Table(
        key="comparisons",
        caption=(
            "Pairwise comparisons of each model's best learning mode. Wilcoxon signed-rank "
            "over fold scores (exact p; effect = median fold difference) and a pooled "
            "out-of-fold test (McNemar for accuracy, DeLong for binary AUC, paired bootstrap "
            "resampling patients otherwise). Holm correction within each test across the table; "
            "bold: Holm p < 0.05."
        ),
        header=header,
        rows=rows,
        n_keys=4,
    )


def wilcoxon_statement(n_folds: int) -> str:
    """The plain statement on what a k-fold Wilcoxon test can and cannot show."""
    p = min_wilcoxon_p(n_folds)
    verdict = "can never reach" if p >= 0.05 else "can reach"
    return (
        f"With {n_folds} folds the two-sided exact Wilcoxon signed-rank test {verdict} "
        f"p < 0.05: its smallest possible p-value is 2/2^{n_folds} = {p:.4g}, reached only when "
        "one model wins on every fold. A Wilcoxon p above 0.05 here is therefore no evidence of "
        "equal performance; the pooled out-of-fold tests (McNemar, DeLong, paired bootstrap) "
        "use every image and can detect a difference, and the Holm correction accounts for "
        "the number of comparisons in the table."
    )
