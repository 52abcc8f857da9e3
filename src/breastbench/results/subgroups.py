"""Subgroup analysis: ``summary/subgroups.csv`` and ``summary/subgroup_comparisons.csv``.

The columns come from the ``analysis:`` section (:mod:`breastbench.results.subgroup_spec`):
each test image's subgroup is its value in that manifest column (``manifests/<dataset>.csv``,
joined on the image path, or the predictions table's own column, e.g. ``view`` of an external
test set). Everything follows the replicate hierarchy of the rest of the analysis:

- ``subgroups.csv``: per configuration, column, subgroup and metric, the metric of the
  subgroup's images computed within each fold model (support draws averaged within their fold;
  seeds of an external validation each on the shared test set) and averaged over folds, never
  an AUC of pooled scores of different models; its 95% interval is a percentile interval of
  patients resampled within each fold and class (never images), so a bounded metric's interval
  stays in its range (:func:`breastbench.metrics.bootstrap.fold_aware_interval`); ``worst``
  marks the configuration's worst subgroup per column and metric. Subgroups with fewer than
  ``min_patients`` patients, and metrics undefined there (one class: AUC), are NaN with a note.
- ``subgroup_comparisons.csv``: for every pair the analysis compares (``compare:``), the
  fold-aware paired bootstrap of the gap within each subgroup; corrected (``compare.correction``)
  within its family: one pair, one column, one metric, over the subgroups (undefined p-values
  are left out of m); resamples sized so the family can reach alpha.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from breastbench.errors import UserError
from breastbench.results.comparisons import (
    config_label,
    pair_labels,
    select_pairs,
    subset_label,
)
from breastbench.results.folder import RunFolder
from breastbench.results.key import RunKey
from breastbench.results.spec import CompareSpec
from breastbench.results.stored import StoredRun
from breastbench.results.subgroup_spec import AnalysisSpec, columns_for, default_subgroups
from breastbench.results.tables import default_metrics, stratum, unit_name, unit_of

COLUMNS = ["config_id", "label", "subgroup_column", "subgroup", "metric", "value", "ci_low"]
COLUMNS += ["ci_high", "ci_method", "n_patients", "n_images", "n", "unit", "worst", "note"]
CI_METHOD = "patient bootstrap percentile (within fold and class)"
LOWER_IS_BETTER = ("brier", "ece", "log_loss", "nll", "loss")


def spec_and_sources(folder: RunFolder) -> tuple[AnalysisSpec, dict[str, str]]:
    """The saved experiment.yaml's ``analysis:`` section and {dataset name: source}."""
    import yaml

    from breastbench.schema import from_dict

    try:
        raw = yaml.safe_load(folder.config_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        raw = {}
    raw = raw if isinstance(raw, dict) else {}
    sources = {
        str(d.get("name")): str(d.get("source", ""))
        for d in raw.get("datasets") or []
        if isinstance(d, dict)
    }
    return from_dict(AnalysisSpec, raw.get("analysis") or {}, "analysis"), sources


def _label(value) -> str | None:
    """A subgroup's name as text (``40`` not ``40.0``); None for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return None if text in ("", "nan") else text


class _Subgroups:
    """Each run's test images with their subgroup values, read once per dataset."""

    def __init__(self, folder: RunFolder, spec: AnalysisSpec, sources: dict[str, str]):
        self.folder, self.spec, self.sources = folder, spec, sources
        self.manifests: dict[str, pd.DataFrame | None] = {}

    def manifest(self, dataset: str) -> pd.DataFrame | None:
        if dataset not in self.manifests:
            path = self.folder.manifest_path(dataset)
            try:
                df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
            except (OSError, ValueError, pd.errors.ParserError):
                df = None
            self.manifests[dataset] = df
        return self.manifests[dataset]

    def columns(self, run: StoredRun) -> list[str]:
        """The subgroup columns of a run's test set (listed, or its source's defaults)."""
        dataset = run.key.external or run.key.dataset
        manifest = self.manifest(dataset)
        frames = [run.predictions] + ([] if manifest is None else [manifest])
        return columns_for(self.spec, self.sources.get(dataset, ""), frames)

    def values(self, run: StoredRun, column: str) -> pd.Series:
        """Each prediction row's subgroup (text; None where the image has none)."""
        pred = run.predictions
        if column in pred.columns:
            raw = pred[column]
        else:
            manifest = self.manifest(run.key.external or run.key.dataset)
            if manifest is None or column not in manifest.columns:
                return pd.Series([None] * len(pred), index=pred.index, dtype=object)
            lookup = manifest.drop_duplicates("path").set_index("path")[column]
            raw = pred["path"].astype(str).map(lookup)
        return raw.map(_label)


def _units(group: list[StoredRun], rows: dict[str, pd.DataFrame], classes) -> dict:
    """The fold-aware bootstrap's units of one configuration restricted to one subgroup.

    The resampling clusters are always patients: near-duplicate images of one patient are one
    observation, whatever ``compare.unit`` says for the whole-test-set comparisons.
    """
    from breastbench.metrics.classification import probabilities_from_predictions

    by_unit: dict[tuple, list[StoredRun]] = {}
    for r in group:
        by_unit.setdefault(unit_of(r.key), []).append(r)
    order: dict[tuple, pd.Index] = {}
    out = {}
    for u, members in sorted(by_unit.items()):
        members = sorted(members, key=lambda r: r.key)
        where = stratum(u)
        frames = [rows[r.run_id].drop_duplicates("image_id").set_index("image_id") for r in members]
        if frames[0].empty:  # no image of this subgroup in this fold's test set
            continue
        if where not in order:
            order[where] = frames[0].sort_index().index
        idx = order[where]
        if any(set(f.index) != set(idx) for f in frames):
            raise UserError(
                f"{members[0].run_id}: the runs of one fold or test set were scored on other "
                "images; compare runs on the same folds and test set"
            )
        first = frames[0].loc[idx]
        out[u] = {
            "ids": idx,
            "stratum": where,
            "y": first["target"].to_numpy().astype(int),
            "groups": first["patient_id"].astype(str).to_numpy(),
            "probs": [probabilities_from_predictions(f.loc[idx], classes) for f in frames],
        }
    return out


def _worst(table: pd.DataFrame) -> pd.Series:
    """True on each configuration's worst defined subgroup per column and metric."""
    worst = pd.Series(False, index=table.index)
    for (_, _, metric), part in table.groupby(
        ["config_id", "subgroup_column", "metric"], sort=False
    ):
        values = part["value"].astype(float).dropna()
        if len(values) < 2:
            continue
        low = str(metric).endswith(LOWER_IS_BETTER)
        worst[values.idxmax() if low else values.idxmin()] = True
    return worst


def _cells(reader: _Subgroups, by_cfg: dict, notes: list[str]) -> dict:
    """{config: {column: {subgroup: {unit: unit dict}}}} of every configuration's test sets."""
    missing = set(reader.spec.subgroups or [])
    cells: dict[RunKey, dict[str, dict[str, dict]]] = {}
    for cfg, group in sorted(by_cfg.items()):
        columns = reader.columns(group[0])
        missing -= set(columns)
        for column in columns:
            values = {r.run_id: reader.values(r, column) for r in group}
            for name in sorted({v for s in values.values() for v in s.dropna()}):
                rows = {r.run_id: r.predictions[values[r.run_id] == name] for r in group}
                try:
                    units = _units(group, rows, group[0].classes)
                except UserError as err:
                    notes.append(f"subgroups {column}={name}, {config_label(cfg)}: {err}")
                    continue
                cells.setdefault(cfg, {}).setdefault(column, {})[name] = units
    for column in sorted(missing):
        notes.append(f"analysis.subgroups: no run's test set has a column {column!r}; skipped")
    return cells


def _one_per_stratum(units) -> list[dict]:
    """One unit per stratum (the seeds of an external validation share one test set)."""
    seen, out = set(), []
    for u in units:
        if u["stratum"] not in seen:
            seen.add(u["stratum"])
            out.append(u)
    return out


def _too_few(patients: int, spec: AnalysisSpec) -> str:
    if patients < spec.min_patients:
        return f"{patients} patients < analysis.min_patients = {spec.min_patients}"
    return ""


def _metric_row(cfg, column, name, units, metric, classes, compare, spec) -> dict:
    """One row of ``subgroups.csv``: the subgroup's metric and its patient-clustered interval."""
    from breastbench.metrics.bootstrap import fold_aware_interval

    tests = _one_per_stratum(units.values())
    patients = sum(len(set(u["groups"])) for u in tests)
    row = {
        "config_id": cfg.run_id,
        "label": config_label(cfg),
        "subgroup_column": column,
        "subgroup": name,
        "metric": metric,
        "value": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "ci_method": "",
        "n_patients": patients,
        "n_images": sum(len(u["y"]) for u in tests),
        "n": 0,
        "unit": unit_name(units),
        "note": _too_few(patients, spec),
    }
    if row["note"]:
        return row
    res = fold_aware_interval(
        list(units.values()), metric, classes, compare.n_boot, compare.seed, alpha=compare.alpha
    )
    row.update(value=res["value"], ci_low=res["ci_low"], ci_high=res["ci_high"], n=res["n_units"])
    row["ci_method"] = "" if math.isnan(res["ci_low"]) else CI_METHOD
    if math.isnan(res["value"]):
        row["note"] = f"{metric} undefined in every fold (a single class?)"
    return row


def subgroup_analysis(
    folder: RunFolder,
    runs: list[StoredRun],
    compare: CompareSpec,
    order: list[RunKey] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """``subgroups.csv``, ``subgroup_comparisons.csv`` and notes (see the module docstring)."""
    from breastbench.metrics.bootstrap import boot_size_for_family

    spec, sources = spec_and_sources(folder)
    by_cfg: dict[RunKey, list[StoredRun]] = {}
    for r in runs:
        by_cfg.setdefault(r.key.config, []).append(r)
    notes: list[str] = []
    cells = _cells(_Subgroups(folder, spec, sources), by_cfg, notes)
    metrics_of = {
        cfg: compare.metrics or default_metrics(len(by_cfg[cfg][0].classes)) for cfg in cells
    }
    out = [
        _metric_row(cfg, column, name, units, metric, by_cfg[cfg][0].classes, compare, spec)
        for cfg, columns in cells.items()
        for column, subgroups in columns.items()
        for name, units in subgroups.items()
        for metric in metrics_of[cfg]
    ]
    table = pd.DataFrame(out, columns=COLUMNS)
    if not table.empty:
        table["worst"] = _worst(table)
        undefined = int((table["note"] != "").sum())
        if undefined:
            notes.append(
                f"subgroups.csv: {undefined} of {len(table)} subgroup metrics are NaN "
                "(too few patients or a single class; see the note column)"
            )
    pairs, _ = select_pairs(list(by_cfg), compare, order)
    family = max((len(c) for cols in cells.values() for c in cols.values()), default=0)
    n_boot = boot_size_for_family(family, compare.alpha, compare.n_boot)
    context = (cells, metrics_of, by_cfg, compare, spec, n_boot)
    return table, _gap_tests(pairs, context), notes


def _gap_row(a, b, pair, column, name, metric, context) -> dict:
    """One row of ``subgroup_comparisons.csv``: the paired bootstrap of the gap a - b."""
    from breastbench.metrics.bootstrap import fold_aware_bootstrap

    cells, _, by_cfg, compare, spec, n_boot = context
    ua, ub = cells[a][column][name], cells[b][column][name]
    shared = [u for u in ua if u in ub]
    units = [{**ua[u], "probs_a": ua[u]["probs"], "probs_b": ub[u]["probs"]} for u in shared]
    patients = sum(len(set(u["groups"])) for u in _one_per_stratum(units))
    la, lb = pair_labels(a, b)
    row = {
        "pair": pair,
        "subset": subset_label(a, b),
        "config_a": a.run_id,
        "config_b": b.run_id,
        "a": la,
        "b": lb,
        "subgroup_column": column,
        "subgroup": name,
        "metric": metric,
        "test": "bootstrap",
        "n_patients": patients,
        "replicates": len(shared),
        "value_a": np.nan,
        "value_b": np.nan,
        "estimate": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p": np.nan,
        "note": _too_few(patients, spec) if shared else "no fold or test set in common",
    }
    if any(list(ua[u]["ids"]) != list(ub[u]["ids"]) for u in shared):
        row["note"] = "the two configurations were scored on other images of this subgroup"
    if row["note"]:
        return row
    try:
        res = fold_aware_bootstrap(
            units, metric, by_cfg[a][0].classes, n_boot, compare.seed, alpha=compare.alpha
        )
    except UserError as err:
        undefined = "undefined" in str(err)
        row["note"] = (
            f"{metric} undefined in every fold (a single class?)" if undefined else str(err)
        )
        return row
    row.update(
        value_a=res["value_a"],
        value_b=res["value_b"],
        estimate=res["difference"],
        ci_low=res["ci_low"],
        ci_high=res["ci_high"],
        p=res["p"],
        note=f"fold-aware paired bootstrap, {res['n_boot']} resamples of {res['n_groups']} "
        f"patients within fold and class, seed {compare.seed}",
    )
    return row


def _gap_tests(pairs, context) -> pd.DataFrame:
    """The paired fold-aware bootstrap of a - b within each subgroup, corrected per family."""
    from breastbench.metrics.stats import bonferroni, holm

    cells, metrics_of, by_cfg, compare, _, _ = context
    rows = []
    for a, b, pair, _ in pairs:
        if a not in cells or b not in cells or by_cfg[a][0].classes != by_cfg[b][0].classes:
            continue
        for column in sorted(set(cells[a]) & set(cells[b])):
            for name in sorted(set(cells[a][column]) & set(cells[b][column])):
                for metric in metrics_of[a]:
                    rows.append(_gap_row(a, b, pair, column, name, metric, context))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["correction"] = compare.correction
    table["p_adj"] = np.nan
    table["family_size"] = 0
    adjust = {"holm": holm, "bonferroni": bonferroni}.get(compare.correction)
    for _, part in table.groupby(["config_a", "config_b", "subgroup_column", "metric"], sort=False):
        p = part["p"].to_numpy(float)
        table.loc[part.index, "p_adj"] = adjust(p) if adjust else p
        table.loc[part.index, "family_size"] = int(np.sum(~np.isnan(p)))
    table["alpha"] = compare.alpha
    table["significant"] = (table["p_adj"] < compare.alpha).fillna(False).astype(bool)
    return table


__all__ = ["AnalysisSpec", "default_subgroups", "spec_and_sources", "subgroup_analysis"]
