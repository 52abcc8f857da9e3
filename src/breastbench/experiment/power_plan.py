"""``plan``'s power section: what each declared comparison could detect, before any run.

The pairs are those the analysis will test (:func:`breastbench.results.comparisons.
select_pairs` on the grid's configurations and the config's ``compare:``). Each pair's design
is its test patients (every patient once over the ``cv.k`` folds, or the external test set's
patients in one test set), from the data on disk or the published patient count
(:mod:`breastbench.data.published`; where none is published, each image counts as a patient,
which overstates the design and is said so).

With no predictions yet, the scores come from a stated assumption: both configurations have
the same AUC, binormal scores (unit variance, separation ``sqrt(2) Phi^-1(AUC)``) correlated
``correlation`` given the class, classes balanced. A population of such patients is drawn per
test set and the same simulation as ``breastbench power`` (:mod:`breastbench.metrics.power`)
gives the minimum detectable AUC difference at the design and the patients needed for the
assumed difference, at alpha / the pair's correction-family size.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from breastbench.results.comparisons import config_label, select_pairs, subset_label

POPULATION = 1000  # synthetic patients (over all test sets) the studies are resampled from
DRAWS = 1000  # simulated studies per size
ASSUMPTION_DEFAULTS = {"auc": 0.8, "correlation": 0.5, "difference": 0.05, "power": 0.8}


def check_assumption(a: dict) -> None:
    """UserError naming the option of an impossible assumption."""
    from breastbench.errors import UserError

    checks = {
        "auc": ("--assume-auc", 0.5 < a.get("auc", 0.8) < 1, "an AUC in (0.5, 1), e.g. 0.8"),
        "correlation": (
            "--assume-correlation",
            0 <= a.get("correlation", 0.5) < 1,
            "a correlation in [0, 1), e.g. 0.5",
        ),
        "difference": (
            "--assume-difference",
            0 < a.get("difference", 0.05) < 1,
            "an AUC difference in (0, 1), e.g. 0.05",
        ),
        "power": ("--power", 0 < a.get("power", 0.8) < 1, "a power in (0, 1), e.g. 0.8"),
    }
    for name, (option, ok, hint) in checks.items():
        if not ok:
            raise UserError(f"{option} {a[name]}: give {hint}")


def _population(auc: float, correlation: float, strata: int, seed: int) -> list[dict]:
    """Units of ``strata`` test sets of POPULATION patients in all, scored as assumed."""
    rng = np.random.default_rng(seed)
    mu = np.sqrt(2.0) * norm.ppf(auc)
    size = max(200, POPULATION // strata)
    units = []
    for s in range(strata):
        y = np.arange(size) % 2
        common = rng.normal(size=size)
        side = []
        for _ in range(2):
            score = mu * y + np.sqrt(correlation) * common
            score = score + np.sqrt(1.0 - correlation) * rng.normal(size=size)
            side.append(1.0 / (1.0 + np.exp(-score)))
        units.append(
            {
                "stratum": (("fold", s),),
                "y": y,
                "groups": np.arange(size).astype(str),
                "probs_a": [side[0]],
                "probs_b": [side[1]],
            }
        )
    return units


def _design(cfg, counts: dict, key) -> tuple[int, int, str]:
    """(test patients, independent test sets, where the count comes from) of a pair's runs."""
    from breastbench.data.published import published_patients

    name = key.external or key.dataset
    ds = next(d for d in cfg.datasets if d.name == name)
    count = counts[name]
    sets = 1 if key.external else cfg.cv.k
    if count.patients:
        return count.patients, sets, f"{name}: {count.patients} patients on disk"
    found = published_patients(ds.source.removeprefix("synthetic-"))
    if found is not None:
        return found[0], sets, f"{name}: {found[0]} patients, {found[1]}"
    images = count.per_mag.get(key.magnification if not key.external else None) or 0
    return (
        images,
        sets,
        f"{name}: {images} images, patients unknown (each image counted as a patient: optimistic)",
    )


def plan_power(cfg, specs, counts: dict, assumption: dict | None = None) -> dict:
    """The power section of ``plan --json``: the assumption and one row per declared pair."""
    from breastbench.metrics.power import (
        minimum_detectable_difference,
        patients_needed,
        simulated_differences,
    )

    a = {**ASSUMPTION_DEFAULTS, **(assumption or {})}
    spec = cfg.compare
    order = list(dict.fromkeys(s.key.config for s in specs))
    pairs, _ = select_pairs(order, spec, order)
    families: dict[str, int] = {}
    for x, y, *_ in pairs:
        fam = {"subset": subset_label(x, y), "metric": "auc", "table": ""}[spec.family]
        families[fam] = families.get(fam, 0) + 1
    rows, cache = [], {}
    for x, y, label, _ in pairs:
        patients, sets, origin = _design(cfg, counts, x)
        fam = {"subset": subset_label(x, y), "metric": "auc", "table": ""}[spec.family]
        m = families[fam] if spec.correction != "none" else 1
        alpha = spec.alpha / m
        row = {
            "pair": label,
            "subset": subset_label(x, y),
            "a": config_label(x),
            "b": config_label(y),
            "config_a": x.run_id,
            "config_b": y.run_id,
            "patients": patients,
            "test_sets": sets,
            "patients_from": origin,
            "family_size": m,
            "alpha_test": alpha,
            "mdd": float("nan"),
            "patients_needed": float("nan"),
            "note": "",
        }
        if patients < 2 * sets * 2:
            row["note"] = "too few patients to split into test sets with both classes"
            rows.append(row)
            continue
        k = (patients, sets, alpha)
        if k not in cache:
            units = _population(a["auc"], a["correlation"], sets, spec.seed)
            noise = simulated_differences(units, "auc", ["0", "1"], patients, DRAWS, spec.seed)
            mdd = minimum_detectable_difference(noise, alpha, a["power"])
            needed, note = patients_needed(
                units, "auc", ["0", "1"], a["difference"], alpha, a["power"], DRAWS, spec.seed
            )
            cache[k] = (mdd, needed, note)
        row["mdd"], row["patients_needed"], row["note"] = cache[k]
        rows.append(row)
    return {
        "assumption": {
            **a,
            "metric": "auc",
            "model": "both configurations at the assumed AUC, binormal scores correlated as "
            "assumed given the class, balanced classes, one score per patient",
        },
        "comparisons": rows,
    }


def render_power(section: dict):
    """A rich table of the power section (None without pairs)."""
    from breastbench.report.power import power_table

    rows = section["comparisons"]
    if not rows:
        return None
    a = section["assumption"]
    table = power_table(
        f"power of the declared comparisons (AUC): minimum detectable difference at "
        f"{a['power']:g} power, patients needed for a difference of {a['difference']:g}",
        (
            "subset",
            "comparison",
            "patients",
            "test sets",
            "alpha per test",
            "MDD",
            "needed",
            "note",
        ),
    )
    for r in rows:
        table.add_row(
            r["subset"],
            f"{r['a']} vs {r['b']}",
            str(r["patients"]),
            str(r["test_sets"]),
            f"{r['alpha_test']:.3g}",
            "–" if np.isnan(r["mdd"]) else f"{r['mdd']:.3f}",
            "–" if np.isnan(r["patients_needed"]) else str(int(r["patients_needed"])),
            r["note"],
        )
    origins = sorted({r["patients_from"] for r in rows})
    table.caption = (
        f"Assumed: AUC {a['auc']:g} for both configurations, score correlation "
        f"{a['correlation']:g} between them, balanced classes, one score per patient (images "
        "of a patient are not extra independent evidence); studies simulated by resampling "
        f"patients within test sets as `breastbench power` does; alpha per test = alpha / "
        f"correction-family size. Patients: {'; '.join(origins)}."
    )
    return table
