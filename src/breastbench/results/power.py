"""``summary/power.csv``: what each comparison of a run folder could detect, and with how many.

For every bootstrap row of ``summary/comparisons.csv`` (one per pair and metric; the Wilcoxon
rows' power is fixed by the number of folds, see the report's statement on it) the same units
the analysis tested are rebuilt from the runs' predictions
(:func:`breastbench.results.comparisons.paired_units`: folds or seeds, patients resampled
within each fold and class) and :mod:`breastbench.metrics.power` simulates studies from them:

- ``mdd``: the minimum detectable difference at the run's own design (its patients, folds) at
  the requested power;
- ``patients_needed``: the smallest number of test patients (over all folds, or of the one test
  set of an external validation) whose studies detect the observed difference (or the
  ``difference`` asked for) with that power.

An ``mdd`` wider than a bounded metric's whole range (:func:`breastbench.metrics.intervals.
metric_bounds`) is left empty with a note: no difference that metric can show is detectable.
Both use ``alpha_test``: the analysis' alpha divided by the number of defined tests in the
comparison's correction family (Bonferroni, i.e. Holm's first and strictest step; the alpha
itself when the correction is ``none``), or the ``alpha`` given, which is then used as is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from breastbench import jsonio
from breastbench.errors import UserError
from breastbench.results.comparisons import FAMILY_COLUMNS, paired_units
from breastbench.results.folder import RunFolder
from breastbench.results.layout import POWER
from breastbench.results.spec import CompareSpec

COLUMNS = [
    "pair",
    "subset",
    "config_a",
    "config_b",
    "a",
    "b",
    "metric",
    "test",
    "n",
    "unit",
    "replicates",
    "replicate_unit",
    "estimate",
    "se",
    "family_size",
    "alpha_test",
    "power",
    "mdd",
    "difference",
    "difference_source",
    "patients_needed",
    "draws",
    "seed",
    "note",
]


def _inputs(folder: RunFolder) -> tuple[pd.DataFrame, dict, CompareSpec]:
    """The bootstrap rows of comparisons.csv, analysis.json and the compare spec it used."""
    from breastbench.schema import from_dict

    folder.require()
    path = folder.summary_path("comparisons")
    if not path.is_file():
        raise UserError(
            f"{path}: no comparisons in this run folder; run `breastbench report "
            f"{folder.root}` (it writes the analysis) or give the config a compare: section"
        )
    table = pd.read_csv(path)
    missing = {"config_a", "config_b", "metric", "test", "p"} - set(table.columns)
    if missing:
        raise UserError(
            f"{path}: no column {', '.join(sorted(missing))}; rerun `breastbench report "
            f"{folder.root}` to rewrite the analysis with this breastbench"
        )
    try:
        analysis = jsonio.read_json(folder.analysis_path)
    except (OSError, ValueError):
        analysis = {}
    spec = from_dict(CompareSpec, (analysis or {}).get("compare") or {}, "analysis.json compare")
    boot = table[table["test"] == "bootstrap"]
    if boot.empty:
        raise UserError(
            f"{path}: no bootstrap comparison to size; the folder's comparisons have no "
            "fold-aware bootstrap rows (rerun `breastbench report` with this breastbench)"
        )
    return table, analysis, spec


def _family_sizes(table: pd.DataFrame, spec: CompareSpec) -> pd.Series:
    """Defined tests in each row's correction family (what Holm and Bonferroni count)."""
    cols = [c for c in FAMILY_COLUMNS[spec.family] if c in table.columns]
    defined = table["p"].notna().astype(int)
    if not cols:
        return pd.Series(int(defined.sum()), index=table.index)
    return defined.groupby([table[c] for c in cols], dropna=False).transform("sum")


def _check_options(power: float, alpha: float | None, draws: int) -> None:
    if not 0 < power < 1:
        raise UserError(f"--power {power}: give a power in (0, 1), e.g. 0.8")
    if alpha is not None and not 0 < alpha < 1:
        raise UserError(f"--alpha {alpha}: give a level in (0, 1), e.g. 0.05")
    if draws < 200:
        raise UserError(f"--draws {draws}: too few simulated studies; use at least 200")


def _size_row(row: dict, ga, gb, spec, metric: str) -> dict:
    """Fill ``se``, ``mdd``, ``patients_needed`` and ``note`` of one comparison's row."""
    from breastbench.metrics.intervals import metric_bounds
    from breastbench.metrics.power import (
        minimum_detectable_difference,
        patients_needed,
        simulated_differences,
    )

    if not ga or not gb:
        row["note"] = "its runs are no longer in the folder; rerun `breastbench report`"
        return row
    units, shared = paired_units(ga, gb, ga[0].classes, spec)
    if not shared:
        row["note"] = "no shared fold or seed"
        return row
    classes, level, power = ga[0].classes, row["alpha_test"], row["power"]
    draws, seed = row["draws"], row["seed"]
    noise = simulated_differences(units, metric, classes, None, draws, seed)
    row["se"] = float(np.std(noise, ddof=1))
    row["mdd"] = minimum_detectable_difference(noise, level, power)
    needed, note = patients_needed(
        units, metric, classes, row["difference"], level, power, draws, seed, se=row["se"]
    )
    row["patients_needed"] = needed
    bounds = metric_bounds(metric)
    if bounds is not None and row["mdd"] > bounds[1] - bounds[0]:
        row["mdd"] = np.nan
        note = "; ".join(
            x for x in ("no difference within the metric's range is detectable", note) if x
        )
    row["note"] = note
    return row


def power_table(
    out_dir,
    power: float = 0.8,
    alpha: float | None = None,
    draws: int = 2000,
    seed: int = 0,
    difference: float | None = None,
    loaded: tuple | None = None,
) -> pd.DataFrame:
    """One row per bootstrap comparison of ``out_dir`` (see the module docstring); not written.

    ``alpha`` None uses the analysis' alpha over the family size; ``difference`` None sizes the
    study for each comparison's observed difference. ``loaded`` is ``folder.collect()`` when
    the caller has read it already.
    """
    from breastbench.results.scope import scope

    _check_options(power, alpha, draws)
    folder = RunFolder(out_dir)
    table, analysis, spec = _inputs(folder)
    sizes = _family_sizes(table, spec)
    runs, _, _ = scope(*(loaded or folder.collect()), analysis.get("only") or None)
    by_cfg: dict[str, list] = {}
    for r in runs:
        by_cfg.setdefault(r.key.config.run_id, []).append(r)
    rows = []
    for i, r in table[table["test"] == "bootstrap"].iterrows():
        m = max(int(sizes.loc[i]), 1)
        level = alpha if alpha is not None else spec.alpha / (1 if spec.correction == "none" else m)
        row = {
            **{c: r[c] for c in COLUMNS if c in r.index},
            "family_size": m,
            "alpha_test": level,
            "power": power,
            "difference": float(r["estimate"]) if difference is None else float(difference),
            "difference_source": "observed" if difference is None else "--difference",
            "draws": draws,
            "seed": seed,
            "se": np.nan,
            "mdd": np.nan,
            "patients_needed": np.nan,
            "note": "",
        }
        ga, gb = by_cfg.get(str(r["config_a"])), by_cfg.get(str(r["config_b"]))
        rows.append(_size_row(row, ga, gb, spec, str(r["metric"])))
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def write_power(out_dir, **kwargs) -> tuple[pd.DataFrame, str]:
    """Compute :func:`power_table` and write ``summary/power.csv`` atomically; (table, path)."""
    folder = RunFolder(out_dir)
    df = power_table(out_dir, **kwargs)
    path = folder.summary_path(POWER)
    jsonio.atomic_write_csv(df, path)
    return df, str(path)
