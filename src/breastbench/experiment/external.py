"""``external:`` entries that test one training set on several test sets at once.

An entry may list ``tests: [{dataset: bach, label_map: {...}}, {dataset: pcam, label_map:
{...}}]`` instead of one ``test``/``label_map``: it stands for one external validation per
test set, each with its own declared label map (test label -> training class; labels already
named like a training class need none, anything else is an error at run time, never a guess).
Expanded before the schema is applied, so everything downstream (grid, run keys, analysis)
sees ordinary entries: one row per (configuration, test set) in ``summary/aggregate.csv``, n =
the entry's seeds.
"""

from __future__ import annotations

from breastbench.errors import UserError

TEST_KEYS = ("dataset", "label_map")


def expand_external_tests(entries: list, datasets: list | None = None) -> list:
    """Replace each entry with ``tests:`` by one entry per test set (order kept).

    An entry with ``leave_one_source_out`` becomes one entry per held-out source, its training
    sets appended to ``datasets`` (the raw ``datasets:`` list; see
    :mod:`breastbench.experiment.loso`).
    """
    from breastbench.experiment.loso import LOSO_KEY, expand_loso
    from breastbench.experiment.sections import check_label_map

    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and LOSO_KEY in entry:
            out += expand_loso(entry, f"external[{i}]", datasets)
            continue
        if not isinstance(entry, dict) or "tests" not in entry:
            out.append(entry)
            continue
        where = f"external[{i}]"
        if "test" in entry or "label_map" in entry:
            raise UserError(
                f"{where}: give either 'test' (+ 'label_map') or 'tests', not both; 'tests' lists "
                "{dataset, label_map} per test set"
            )
        tests = entry["tests"]
        if not isinstance(tests, list) or not tests:
            raise UserError(f"{where}.tests: give a non-empty list of {{dataset, label_map}}")
        base = {k: v for k, v in entry.items() if k != "tests"}
        seen = set()
        for j, test in enumerate(tests):
            if isinstance(test, str):
                test = {"dataset": test}
            if not isinstance(test, dict) or not isinstance(test.get("dataset"), str):
                raise UserError(f"{where}.tests[{j}]: give a mapping with 'dataset' (a name)")
            unknown = sorted(set(test) - set(TEST_KEYS))
            if unknown:
                raise UserError(
                    f"{where}.tests[{j}]: unknown key(s) {', '.join(unknown)}; allowed: "
                    + ", ".join(TEST_KEYS)
                )
            if test["dataset"] in seen:
                raise UserError(f"{where}.tests[{j}]: {test['dataset']!r} is listed twice")
            seen.add(test["dataset"])
            label_map = test.get("label_map")
            if label_map is not None and not isinstance(label_map, dict):
                raise UserError(f"{where}.tests[{j}].label_map: give a mapping test -> train class")
            check_label_map(label_map, f"{where}.tests[{j}].label_map")
            out.append({**base, "test": test["dataset"], "label_map": label_map})
    return out
