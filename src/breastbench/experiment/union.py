"""The manifest of a union dataset (``source: union``): several sources pooled for training.

Built from the members' manifests as :func:`~breastbench.experiment.runner.prepare_manifests`
made them, that is after each member's ``datasets[i].label_map``. Patient ids are prefixed with
the member's name (``rsna:12``), so two sources' patient ``12`` stay two patients (grouped
splits and per-patient counts never merge them), and the ``source_dataset`` column says which
member each row came from. Every member must have the same class names; the union keeps the
class order of the members' common list. The leave-one-source-out training sets
(:mod:`breastbench.experiment.loso`) are unions.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from breastbench.errors import UserError
from breastbench.experiment.loso import UNION

SOURCE_COLUMN = "source_dataset"


def members_first(datasets: list) -> list[tuple[int, object]]:
    """``(index, dataset)`` pairs with the unions last, so their members are built first."""
    pairs = list(enumerate(datasets))
    return [p for p in pairs if p[1].source != UNION] + [p for p in pairs if p[1].source == UNION]


def union_manifest(datasets: list, index: int, manifests: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The pooled manifest of union ``datasets[index]`` from its members' ``manifests``.

    Refuses (one line, naming the member's ``label_map``) members whose class names differ.
    """
    ds = datasets[index]
    members: list[str] = list(ds.options["members"])
    names = [d.name for d in datasets]
    classes = _common_classes(ds.name, members, manifests, names)
    parts = []
    for m in members:
        part = manifests[m].drop(columns=["fold"], errors="ignore")
        parts.append(
            part.assign(patient_id=m + ":" + part["patient_id"].astype(str), **{SOURCE_COLUMN: m})
        )
    df = pd.concat(parts, ignore_index=True)
    twice = df["path"][df["path"].duplicated()]
    if len(twice):
        first = df[df["path"] == twice.iloc[0]][SOURCE_COLUMN].tolist()
        raise UserError(
            f"datasets[{index}].options.members: image {twice.iloc[0]} is in both "
            f"{first[0]} and {first[1]}; a union pools distinct datasets, list it once"
        )
    df["target"] = df["label"].map({c: i for i, c in enumerate(classes)}).astype(int)
    tasks = list(dict.fromkeys(str(manifests[m].attrs.get("task")) for m in members))
    df.attrs = {
        "classes": classes,
        "task": "+".join(tasks),
        "source": UNION,
        "dataset": ds.name,
        "members": members,
        "excluded": {},
        "notes": [f"union of {', '.join(members)}; patient ids prefixed with the member's name"],
        "synthetic": any(bool(manifests[m].attrs.get("synthetic")) for m in members),
    }
    return df


def _common_classes(name: str, members: list[str], manifests, names: list[str]) -> list[str]:
    """The class list most members share (first such member's order); refuse any other."""
    sets = Counter(frozenset(manifests[m].attrs["classes"]) for m in members)
    common = max(sets, key=lambda s: sets[s])  # ties: the first member's (Counter keeps order)
    ref = next(m for m in members if frozenset(manifests[m].attrs["classes"]) == common)
    classes = list(manifests[ref].attrs["classes"])
    for m in members:
        own = list(manifests[m].attrs["classes"])
        if frozenset(own) != common:
            j = names.index(m)
            extra = [c for c in own if c not in classes]
            fix = (
                f"map {m}'s labels {extra} onto {classes} there (e.g. {extra[0]}: {classes[0]})"
                if extra
                else f"{m} has no {[c for c in classes if c not in own]}: leave it out of {name}"
            )
            raise UserError(
                f"datasets[{j}].label_map: {m} has classes {own} but {ref} has {classes}, and "
                f"{name} pools them for training with one class list; {fix}"
            )
    return classes
