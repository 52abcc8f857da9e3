"""Degradation curves from the runs' perturbed predictions: ``summary/robustness*.csv``.

For every configuration, perturbation, severity (0 = the run's own predictions) and metric:
the mean over replicates (folds, or seeds of an external validation), its standard deviation,
n and a t-interval (95 %) over replicates: the curve. For every configuration, perturbation and
metric: the normalised area under the curve (trapezoid over severities 0..max divided by the
span, so it is in the metric's units: the clean value if nothing degrades), computed per
replicate and summarised the same way, with the drop from clean. ``robustness_compare.csv``
pairs configurations of the same dataset and test set on the AUC, replicate by replicate
(Wilcoxon signed-rank over the shared folds); ``robustness_worst_family.csv`` says which family
of perturbations costs each configuration most (largest mean drop of the AUC from clean).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastbench import jsonio
from breastbench.imaging.perturb import family
from breastbench.results.folder import RunFolder, StoredRun

CURVES = "robustness.csv"
AUC = "robustness_auc.csv"
COMPARE = "robustness_compare.csv"
WORST = "robustness_worst_family.csv"
KEY_FIELDS = ("dataset", "magnification", "model", "mode", "augmentation", "text", "external")


def _metrics(run: StoredRun, table: pd.DataFrame) -> dict[str, float]:
    from breastbench.metrics import compute_metrics

    classes = run.classes
    probs = table[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    y = table["target"].to_numpy()
    prob = probs[:, 1] if len(classes) == 2 else probs
    return compute_metrics(y, prob, classes, warnings_out=[])  # the runs already warned


def per_run(folder: RunFolder, runs: list[StoredRun]) -> pd.DataFrame:
    """Long table: one row per run, perturbation, severity and metric."""
    rows = []
    for run in runs:
        tables = folder.robustness_tables(run.key)
        if not tables:
            continue
        k = run.key
        base = {"config_id": k.config_id, "run_id": run.run_id}
        base["replicate"] = f"{k.fold}|{k.seed}|{k.draw}"  # the replicate axes of the key
        base["model_family"] = run.info.get("model_family") or ""
        base.update({k: v for k, v in run.key.to_dict().items() if k in KEY_FIELDS})
        clean = _metrics(run, run.predictions)
        for name in sorted({n for n, _ in tables}):
            levels = [(0, clean)] + [
                (sev, _metrics(run, tables[(n, sev)]))
                for n, sev in sorted(tables)
                if n == name and sev > 0  # a severity-0 table is the self-check of the clean run
            ]
            for sev, values in levels:
                for metric, value in values.items():
                    rows.append(
                        {
                            **base,
                            "perturbation": name,
                            "family": family(name),
                            "severity": sev,
                            "metric": metric,
                            "value": value,
                        }
                    )
    return pd.DataFrame(rows)


def _summary(values: pd.Series) -> dict:
    from scipy import stats

    v = values.dropna().to_numpy(dtype=float)
    n = len(v)
    mean = float(v.mean()) if n else float("nan")
    sd = float(v.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
    return {"mean": mean, "std": sd, "n": n, "ci_low": mean - half, "ci_high": mean + half}


GROUP = ["config_id", *KEY_FIELDS, "model_family", "perturbation", "family", "metric"]


def curves(long: pd.DataFrame) -> pd.DataFrame:
    """Metric against severity per configuration: mean, std, n, 95 % t-interval over replicates."""
    keys = [c for c in GROUP if c in long.columns] + ["severity"]
    out = [
        {**dict(zip(keys, k)), **_summary(g["value"])}
        for k, g in long.groupby(keys, dropna=False, sort=True)
    ]
    return pd.DataFrame(out)


def areas(long: pd.DataFrame) -> pd.DataFrame:
    """Per replicate normalised AUC over severities, then summarised per configuration."""
    keys = [c for c in GROUP if c in long.columns]
    per_rep = []
    rep_keys = keys + ["run_id", "replicate"]
    for k, g in long.groupby(rep_keys, dropna=False, sort=True):
        g = g.sort_values("severity")
        sev, val = g["severity"].to_numpy(float), g["value"].to_numpy(float)
        span = sev.max() - sev.min()
        auc = float(np.trapezoid(val, sev) / span) if span > 0 else float("nan")
        per_rep.append({**dict(zip(rep_keys, k)), "auc": auc, "clean": val[0]})
    reps = pd.DataFrame(per_rep)
    rows = []
    for k, g in reps.groupby(keys, dropna=False, sort=True):
        s = _summary(g["auc"])
        drop = _summary(g["clean"] - g["auc"])
        rows.append(
            {**dict(zip(keys, k)), **{f"auc_{a}": b for a, b in s.items()}, "drop": drop["mean"]}
        )
    return pd.DataFrame(rows), reps


def compare(reps: pd.DataFrame) -> pd.DataFrame:
    """Pairs of configurations (same dataset, test set, perturbation, metric) on the AUC."""
    from scipy.stats import wilcoxon

    rows = []
    scope = ["dataset", "magnification", "external", "perturbation", "family", "metric"]
    scope = [c for c in scope if c in reps.columns]
    for k, g in reps.groupby(scope, dropna=False, sort=True):
        configs = sorted(g["config_id"].unique())
        for i, a in enumerate(configs):
            for b in configs[i + 1 :]:
                ga = g[g["config_id"] == a].set_index("replicate")["auc"]
                gb = g[g["config_id"] == b].set_index("replicate")["auc"]
                shared = ga.index.intersection(gb.index)
                diff = (ga[shared] - gb[shared]).dropna()
                p = float("nan")
                if len(diff) >= 2 and (diff != 0).any():
                    p = float(wilcoxon(diff.to_numpy()).pvalue)
                rows.append(
                    {
                        **dict(zip(scope, k)),
                        "config_a": a,
                        "config_b": b,
                        "n_pairs": int(len(diff)),
                        "auc_diff_mean": float(diff.mean()) if len(diff) else float("nan"),
                        "wilcoxon_p": p,
                    }
                )
    return pd.DataFrame(rows)


def worst_family(auc: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and metric: the family whose perturbations cost most (mean drop)."""
    keys = [c for c in ("config_id", "model", "mode", "model_family", "metric") if c in auc.columns]
    fam = auc.groupby(keys + ["family"], dropna=False)["drop"].mean().reset_index()
    fam = fam.dropna(subset=["drop"])  # an undefined metric (e.g. AUC with a class absent)
    if fam.empty:
        return fam
    idx = fam.groupby(keys, dropna=False)["drop"].idxmax()
    return fam.loc[idx].reset_index(drop=True)


def write_robustness(folder: RunFolder, runs: list[StoredRun]) -> dict[str, Path]:
    """Write ``summary/robustness.csv``, ``_auc``, ``_compare`` and ``_worst_family`` CSVs."""
    long = per_run(folder, runs)
    paths = {n: folder.summary_dir / n for n in (CURVES, AUC, COMPARE, WORST)}
    if long.empty:
        for path in paths.values():
            path.unlink(missing_ok=True)
        return {}
    auc, reps = areas(long)
    tables = {CURVES: curves(long), AUC: auc, COMPARE: compare(reps), WORST: worst_family(auc)}
    for name, df in tables.items():
        if df.empty:
            paths[name].unlink(missing_ok=True)
            continue
        jsonio.atomic_write_csv(df, paths[name])
    return {n: p for n, p in paths.items() if p.exists()}
