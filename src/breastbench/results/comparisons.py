"""Which configurations the analysis compares, and the tests behind ``comparisons.csv``.

Pairs come from the ``compare:`` section (:class:`breastbench.results.spec.CompareSpec`) or its
default; each pair gets the replicate test (Wilcoxon over shared folds or seeds) and the
fold-aware bootstrap, corrected per family. See :mod:`breastbench.results.analysis`.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from breastbench.errors import UserError
from breastbench.results.key import RunKey
from breastbench.results.spec import SUBSET_FIELDS, CompareSpec, selector
from breastbench.results.stored import StoredRun
from breastbench.results.tables import (
    CONFIG_FIELDS,
    default_metrics,
    stratum,
    unit_name,
    unit_of,
    unit_values,
)


# -- pairs -----------------------------------------------------------------------------------
def _matches(cfg: RunKey, sel: dict) -> bool:
    """``cfg`` matches ``sel``; label-efficiency configurations only when ``sel`` names shots.

    Temperature-scaled configurations likewise only when ``sel`` names ``calibration``.
    """
    if cfg.shots is not None and "shots" not in sel:
        return False
    if cfg.calibration is not None and "calibration" not in sel:
        return False
    return all(getattr(cfg, k) == v or str(getattr(cfg, k)) == str(v) for k, v in sel.items())


def _pairs(configs: list[RunKey], sel_x: dict, held: list[str], sel_y: dict | None = None):
    """(x, y): x matches ``sel_x``, y != x agrees with it on ``held`` and matches ``sel_y``.

    Without ``sel_y``, y is any configuration outside ``sel_x`` that is not label efficiency.
    """
    for x in configs:
        if not _matches(x, sel_x):
            continue
        for y in configs:
            if y == x or not all(getattr(x, f) == getattr(y, f) for f in held):
                continue
            other = y.shots is None and not _matches(y, sel_x)
            if _matches(y, sel_y) if sel_y is not None else other:
                yield x, y


def _subset(cfg: RunKey) -> tuple:
    return tuple(getattr(cfg, f) for f in SUBSET_FIELDS)


def select_pairs(
    configs: list[RunKey], spec: CompareSpec, order: list[RunKey] | None = None
) -> tuple[list[tuple[RunKey, RunKey, str, str]], list[str]]:
    """(a, b, pair label, reference label) for every comparison ``spec`` asks for; notes.

    The reference label is ``config_label(b)`` when b is the reference a is compared with, and
    empty for an explicit pair. ``order`` is the grid's order of configurations (the default
    reference of a subset is its first configuration there).
    """
    out: list[tuple[RunKey, RunKey, str, str]] = []
    notes: list[str] = []
    configs = sorted(configs)
    if spec.reference is not None:
        sel = selector(spec.reference, "compare.reference")
        held = [f for f in CONFIG_FIELDS if f not in sel]
        label = f"vs {_sel_text(sel)}"
        found = 0
        for b, a in _pairs(configs, sel, held):
            out.append((a, b, label, config_label(b)))
            found += 1
        if not found:
            notes.append(f"compare.reference ({_sel_text(sel)}) matched no pair of configurations")
    elif not spec.pairs:
        rank = {k: i for i, k in enumerate(dict.fromkeys(order or []))}
        plain = [c for c in configs if c.shots is None and c.calibration is None]
        subsets: dict[tuple, list[RunKey]] = {}
        for c in plain:
            subsets.setdefault(_subset(c), []).append(c)
        for members in subsets.values():
            members = sorted(members, key=lambda c: (rank.get(c, len(rank)), c))
            ref = members[0]
            for a in members[1:]:
                out.append((a, ref, "vs the subset's first configuration", config_label(ref)))
        for a, b in itertools.combinations(plain, 2):
            if _text_only(a, b):  # text-conditioned vs its image-only twin, per model and mode
                a, b = (a, b) if a.text is not None else (b, a)
                out.append((a, b, "text context vs image-only", ""))
    for i, (raw_a, raw_b) in enumerate(spec.pairs or []):
        sa, sb = (
            selector(raw_a, f"compare.pairs[{i}][0]"),
            selector(raw_b, f"compare.pairs[{i}][1]"),
        )
        held = [f for f in CONFIG_FIELDS if f not in sa and f not in sb]
        label = f"{_sel_text(sa)} vs {_sel_text(sb)}"
        found = 0
        for a, b in _pairs(configs, sa, held, sb):
            out.append((a, b, label, ""))
            found += 1
        if not found:
            notes.append(f"compare.pairs[{i}] ({label}) matched no pair of configurations")
    seen: set = set()
    unique = []
    for a, b, label, ref in out:
        if (a, b) not in seen and (b, a) not in seen:
            seen.add((a, b))
            unique.append((a, b, label, ref))
    return unique, notes


def _text_only(a: RunKey, b: RunKey) -> bool:
    """The same configuration except one is image-only and the other text-conditioned."""
    same = all(getattr(a, f) == getattr(b, f) for f in CONFIG_FIELDS if f != "text")
    return same and (a.text is None) != (b.text is None)


def _sel_text(sel: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sel.items())


def config_label(cfg: RunKey) -> str:
    """Short human label: ``ResNet34 (finetune, aug off)`` plus text context and shots."""
    parts = [cfg.mode, f"aug {cfg.augmentation}"]
    if cfg.text:
        parts.append(f"text {cfg.text}")
    if cfg.shots is not None:
        parts.append("all shots" if cfg.shots == "all" else f"{cfg.shots} shots")
    if cfg.calibration is not None:
        parts.append(f"{cfg.calibration}-scaled")
    return f"{cfg.model} ({', '.join(parts)})"


def pair_labels(a: RunKey, b: RunKey) -> tuple[str, str]:
    """Labels of a and b, with the dataset, magnification or test set where they differ."""
    la, lb = config_label(a), config_label(b)
    extra_a, extra_b = [], []
    if a.dataset != b.dataset:
        extra_a.append(a.dataset)
        extra_b.append(b.dataset)
    if a.magnification != b.magnification:
        extra_a.append(f"{a.magnification}x" if a.magnification else "all magnifications")
        extra_b.append(f"{b.magnification}x" if b.magnification else "all magnifications")
    if a.external != b.external:
        extra_a.append(f"test {a.external or 'CV'}")
        extra_b.append(f"test {b.external or 'CV'}")
    if extra_a:
        la, lb = f"{la} [{', '.join(extra_a)}]", f"{lb} [{', '.join(extra_b)}]"
    return la, lb


def subset_label(a: RunKey, b: RunKey) -> str:
    """The fields both sides share, e.g. ``breakhis 40x`` or ``breakhis→bach``."""
    parts = []
    if a.dataset == b.dataset:
        parts.append(
            a.dataset + (f"→{a.external}" if a.external and a.external == b.external else "")
        )
    if a.magnification == b.magnification:
        parts.append(f"{a.magnification}x" if a.magnification else "all magnifications")
    if a.augmentation == b.augmentation:
        parts.append(f"aug {a.augmentation}")
    return ", ".join(parts)


# -- tests -----------------------------------------------------------------------------------
def _units(group: list[StoredRun]) -> dict[tuple, list[StoredRun]]:
    out: dict[tuple, list[StoredRun]] = {}
    for r in group:
        out.setdefault(unit_of(r.key), []).append(r)
    return out


def _replicate_test(ga: list[StoredRun], gb: list[StoredRun], metric: str) -> dict | None:
    """Wilcoxon signed-rank over the independent units both have (draws averaged first)."""
    from breastbench.metrics import wilcoxon_folds

    sa, sb = unit_values(ga, metric), unit_values(gb, metric)
    shared = sorted(set(sa) & set(sb))
    if len(shared) < 2:
        return None
    res = wilcoxon_folds([sa[k] for k in shared], [sb[k] for k in shared])
    unit = unit_name(shared)
    return {
        "test": "wilcoxon",
        "unit": unit,
        "n": len(shared),
        "replicates": len(shared),
        "replicate_unit": unit,
        "statistic": res["statistic"],
        "p": res["p"],
        "effect": res["effect"],
        "ci_low": np.nan,
        "ci_high": np.nan,
        "value_a": float(np.mean([sa[k] for k in shared])),
        "value_b": float(np.mean([sb[k] for k in shared])),
        "note": f"Wilcoxon signed-rank over {len(shared)} paired {unit} (draws averaged within "
        f"their fold first; exact p; smallest attainable p {res['min_p']:.4g}); effect = median "
        f"difference. {res['note']}".strip(),
    }


def _aligned(run: StoredRun, order: pd.Index, targets: np.ndarray) -> pd.DataFrame:
    df = run.predictions.drop_duplicates("image_id").set_index("image_id")
    if set(df.index) != set(order) or len(df) != len(order):
        raise UserError(
            f"{run.run_id} was scored on other images than its counterpart; compare runs on the "
            "same folds and test set"
        )
    df = df.loc[order]
    if (df["target"].to_numpy() != targets).any():
        raise UserError(f"{run.run_id} disagrees with its counterpart on some true labels")
    return df


def paired_units(
    ga: list[StoredRun], gb: list[StoredRun], classes: list[str], spec
) -> tuple[list[dict], list[tuple]]:
    """The units of :func:`breastbench.metrics.stats.fold_aware_bootstrap` for a and b.

    One unit per fold (or seed) both configurations have, with its stratum, true labels,
    resampling groups (patients, or images with ``spec.unit == "image"``) and each side's
    replicate probability matrices aligned to one image order; and the shared units' keys.
    """
    from breastbench.metrics.classification import probabilities_from_predictions

    ua, ub = _units(ga), _units(gb)
    shared = sorted(set(ua) & set(ub))
    reference: dict[tuple, tuple[pd.Index, np.ndarray, np.ndarray]] = {}
    units = []
    for u in shared:
        where = stratum(u)
        if where not in reference:
            first = ua[u][0].predictions.drop_duplicates("image_id").set_index("image_id")
            first = first.sort_index()
            groups = (
                first["patient_id"].astype(str).to_numpy()
                if spec.unit == "patient" and "patient_id" in first.columns
                else np.arange(len(first)).astype(str)
            )
            reference[where] = (first.index, first["target"].to_numpy().astype(int), groups)
        order, y, groups = reference[where]
        probs = {
            side: [
                probabilities_from_predictions(_aligned(r, order, y), classes)
                for r in sorted(runs[u], key=lambda r: r.key)
            ]
            for side, runs in (("a", ua), ("b", ub))
        }
        units.append(
            {
                "stratum": where,
                "y": y,
                "groups": groups,
                "probs_a": probs["a"],
                "probs_b": probs["b"],
            }
        )
    return units, shared


def _fold_aware_test(
    ga: list[StoredRun], gb: list[StoredRun], metric: str, classes: list[str], spec, n_boot: int
) -> dict | None:
    """The fold-aware bootstrap: within-unit differences, patients resampled within folds."""
    from breastbench.metrics.stats import fold_aware_bootstrap

    units, shared = paired_units(ga, gb, classes, spec)
    if not shared:
        return None
    r = fold_aware_bootstrap(units, metric, classes, n_boot, spec.seed, alpha=spec.alpha)
    unit = unit_name(shared)
    what = "patients" if spec.unit == "patient" else "images"
    return {
        "test": "bootstrap",
        "unit": what,
        "n": int(r["n_groups"]),
        "replicates": int(r["n_units"]),
        "replicate_unit": unit,
        "statistic": r["difference"],
        "p": r["p"],
        "effect": r["difference"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "value_a": r["value_a"],
        "value_b": r["value_b"],
        "note": f"fold-aware paired bootstrap: mean over {r['n_units']} {unit} of the "
        f"within-{unit[:-1]} difference (draws averaged within their fold), {r['n_boot']} "
        f"resamples of {r['n_groups']} {what} ({r['n_images']} images) drawn within each "
        f"{'fold' if unit == 'folds' else 'test set'} and class, seed {spec.seed}; smallest "
        f"attainable p {r['min_p']:.3g}",
    }


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    from breastbench.metrics.stats import bonferroni, holm

    if method == "holm":
        return holm(p)
    if method == "bonferroni":
        return bonferroni(p)
    return p.copy()


FAMILY_COLUMNS = {
    "subset": ["subset", "metric", "test"],
    "metric": ["metric", "test"],
    "table": ["test"],
}


def comparisons(
    runs: list[StoredRun], spec: CompareSpec, order: list[RunKey] | None = None
) -> tuple[pd.DataFrame, list[str], dict]:
    """The comparisons table (see the module docstring), notes, and facts for analysis.json."""
    from breastbench.metrics.stats import boot_size_for_family

    by_cfg: dict[RunKey, list[StoredRun]] = {}
    for r in runs:
        by_cfg.setdefault(r.key.config, []).append(r)
    pairs, notes = select_pairs(list(by_cfg), spec, order)
    planned = []
    for a, b, label, ref in pairs:
        classes = by_cfg[a][0].classes
        if classes != by_cfg[b][0].classes:
            notes.append(f"{a.run_id} vs {b.run_id}: different classes, not compared")
            continue
        for metric in spec.metrics or default_metrics(len(classes)):
            planned.append((a, b, label, ref, metric, classes))
    # the largest correction family of the bootstrap sets its resample count
    sizes: dict[tuple, int] = {}
    for a, b, _, _, metric, _ in planned:
        key = {"subset": (subset_label(a, b), metric), "metric": (metric,), "table": ()}[
            spec.family
        ]
        sizes[key] = sizes.get(key, 0) + 1
    largest = max(sizes.values(), default=0)
    n_boot = boot_size_for_family(largest, spec.alpha, spec.n_boot)
    facts = {
        "n_boot": n_boot,
        "largest_family": largest,
        "min_corrected_p": min(1.0, 2.0 * largest / (n_boot + 1)) if largest else None,
        "alpha": spec.alpha,
        "primary": spec.primary,
    }
    rows = []
    for a, b, label, ref, metric, classes in planned:
        ga, gb = by_cfg[a], by_cfg[b]
        la, lb = pair_labels(a, b)
        tests = []
        rep = _replicate_test(ga, gb, metric)
        if rep is not None:
            tests.append(rep)
        try:
            boot = _fold_aware_test(ga, gb, metric, classes, spec, n_boot)
            if boot is not None:
                tests.append(boot)
        except UserError as err:
            notes.append(f"{la} vs {lb} ({metric}): {err}")
        for t in tests:
            rows.append(
                {
                    "pair": label,
                    "subset": subset_label(a, b),
                    "config_a": a.run_id,
                    "config_b": b.run_id,
                    "a": la,
                    "b": lb,
                    "metric": metric,
                    "role": "primary" if t["test"] == spec.primary else "secondary",
                    "reference": ref,
                    **t,
                    "estimate": t["effect"],
                }
            )
    table = pd.DataFrame(rows)
    facts["n_primary"] = 0
    facts["n_significant"] = 0
    if table.empty:
        return table, notes, facts
    table["correction"] = spec.correction
    table["p_adj"] = np.nan
    for _, part in table.groupby(FAMILY_COLUMNS[spec.family], dropna=False):
        table.loc[part.index, "p_adj"] = _adjust(part["p"].to_numpy(float), spec.correction)
    table["alpha"] = spec.alpha
    table["significant"] = (table["p_adj"] < spec.alpha).fillna(False).astype(bool)
    primary = table[table["role"] == "primary"]
    facts["n_primary"] = int(len(primary))
    facts["n_significant"] = int(primary["significant"].sum())
    return table, notes, facts
