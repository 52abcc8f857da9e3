"""Leave-one-source-out (LOSO) external validation: train on all sources but one, test on it.

An ``external:`` entry ``{leave_one_source_out: [vindr, rsna, cbis-ddsm, inbreast], seeds: [0,
1, 2]}`` (``models``, ``modes`` and ``augmentation`` subset it as in any external entry) stands
for one external validation per listed source. The held-out source is the test set; the
training set is the union of the other listed datasets, a ``datasets:`` entry added here::

    {name: loso-minus-vindr, source: union, options: {members: [rsna, cbis-ddsm, inbreast]},
     cross_validate: false}

so run ids, tables and ``summary/`` name it ``loso-minus-vindr`` (trained on) and ``vindr``
(tested on). Expanded before the schema is applied; everything downstream sees ordinary
datasets and external entries (the resolved ``experiment.yaml`` holds them expanded, and reads
back unchanged). A union is built from its members' manifests after their own
``datasets[i].label_map`` (:mod:`breastbench.experiment.union`), so every listed source must
share the task's class names once mapped: a source is both trained and tested on, so its labels
are mapped once, on its dataset entry, never per LOSO entry.
"""

from __future__ import annotations

from breastbench.errors import UserError

UNION = "union"  # the ``source`` of a dataset built from other datasets' manifests
LOSO_KEY = "leave_one_source_out"
#: entry keys that a LOSO entry decides itself (train, test) or refuses (label maps)
_NOT_WITH_LOSO = ("train", "test", "tests", "label_map")


def union_name(held_out: str) -> str:
    """The training set's name when ``held_out`` is left out: ``loso-minus-vindr``."""
    return f"loso-minus-{held_out}"


def expand_loso(entry: dict, where: str, datasets) -> list[dict]:
    """One external entry per held-out source; the union datasets are appended to ``datasets``.

    ``datasets`` is the raw ``datasets:`` list (mappings, as read from YAML). A union already
    declared under the same name with the same members is reused (two LOSO entries over the same
    sources, e.g. one per model subset, share their training sets); any other is refused.
    """
    sources = entry[LOSO_KEY]
    at = f"{where}.{LOSO_KEY}"
    if not isinstance(sources, list) or len(sources) < 2:
        raise UserError(f"{at}: give a list of at least 2 dataset names, e.g. [vindr, rsna, embed]")
    for key in _NOT_WITH_LOSO:
        if key in entry:
            fix = (
                "map each source's labels once, on its dataset entry (datasets[i].label_map): "
                "every source is trained on as well as tested on"
                if key == "label_map"
                else "each listed source is tested on in turn, trained on the others"
            )
            raise UserError(f"{where}.{key}: not allowed with {LOSO_KEY}; {fix}")
    if not isinstance(datasets, list):
        raise UserError(f"datasets: give a list of datasets ({at} names some of them)")
    declared = {d.get("name"): d for d in datasets if isinstance(d, dict)}
    for j, name in enumerate(sources):
        if not isinstance(name, str) or name not in declared:
            raise UserError(
                f"{at}[{j}]: unknown dataset {name!r}; defined: "
                + ", ".join(str(n) for n in declared)
            )
        if name in sources[:j]:
            raise UserError(f"{at}[{j}]: {name!r} is listed twice; list each source once")
        if declared[name].get("source") == UNION:
            raise UserError(f"{at}[{j}]: {name!r} is itself a union; list the sources it joins")
    base = {k: v for k, v in entry.items() if k != LOSO_KEY}
    out = []
    for held in sources:
        union = {
            "name": union_name(held),
            "source": UNION,
            "options": {"members": [s for s in sources if s != held]},
            "cross_validate": False,
        }
        known = declared.get(union["name"])
        if known is None:
            datasets.append(union)
            declared[union["name"]] = union
        elif not _same_union(known, union):
            raise UserError(
                f"{at}: the training set without {held} is named {union['name']!r}, but that "
                "name is taken (by a dataset, or an earlier leave_one_source_out over other "
                "sources); list the same sources in every such entry, or rename that dataset"
            )
        out.append({**base, "train": union["name"], "test": held})
    return out


def _same_union(known: dict, union: dict) -> bool:
    """Whether a declared dataset is the same union (members in any order)."""
    members = (known.get("options") or {}).get("members")
    return (
        known.get("source") == UNION
        and isinstance(members, list)
        and sorted(map(str, members)) == sorted(union["options"]["members"])
    )


def check_unions(datasets: list) -> None:
    """Every ``source: union`` dataset names declared, non-union members and nothing else.

    ``datasets``: the validated :class:`~breastbench.experiment.config.DatasetConfig` list.
    A union has no root, task, magnifications or label map of its own (its members' apply) and
    is a training set for external validation only (``cross_validate: false``).
    """
    names = [d.name for d in datasets]
    for i, ds in enumerate(datasets):
        if ds.source != UNION:
            continue
        where = f"datasets[{i}]"
        for key in ("root", "task", "magnifications", "label_map"):
            if getattr(ds, key):
                raise UserError(
                    f"{where}.{key}: a union (source: union) is built from its members' "
                    f"manifests, each with its own {key}; remove {key} here"
                )
        if ds.cross_validate:
            raise UserError(
                f"{where}.cross_validate: a union is a training set for external validation; "
                "write cross_validate: false"
            )
        extra = sorted(set(ds.options) - {"members"})
        if extra:
            raise UserError(f"{where}.options: unknown option {extra[0]!r}; a union takes members")
        members = ds.options.get("members")
        if not isinstance(members, list) or not members:
            raise UserError(f"{where}.options.members: give the dataset names it joins")
        for j, m in enumerate(members):
            at = f"{where}.options.members[{j}]"
            if m not in names or m == ds.name:
                others = ", ".join(n for n in names if n != ds.name)
                raise UserError(f"{at}: unknown dataset {m!r}; defined: {others}")
            if datasets[names.index(m)].source == UNION:
                raise UserError(f"{at}: {m!r} is itself a union; list the datasets it joins")
            if m in members[:j]:
                raise UserError(f"{at}: {m!r} is listed twice; list each member once")
