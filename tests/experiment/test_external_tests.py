"""``external: [{train, tests: [{dataset, label_map}]}]`` expands to one entry per test set."""

from __future__ import annotations

import pytest

from breastbench.errors import UserError
from breastbench.experiment.external import expand_external_tests


def test_tests_expand_with_their_own_label_maps():
    entries = [
        {"train": "a", "test": "b"},
        {
            "train": "a",
            "seeds": [0, 1],
            "tests": ["c", {"dataset": "d", "label_map": {"x": "benign"}}],
        },
    ]
    out = expand_external_tests(entries)
    assert out == [
        {"train": "a", "test": "b"},
        {"train": "a", "seeds": [0, 1], "test": "c", "label_map": None},
        {"train": "a", "seeds": [0, 1], "test": "d", "label_map": {"x": "benign"}},
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"train": "a", "test": "b", "tests": ["c"]}, r"external\[0\]: give either 'test'"),
        ({"train": "a", "tests": []}, r"external\[0\].tests: give a non-empty list"),
        ({"train": "a", "tests": [{"name": "c"}]}, r"external\[0\].tests\[0\]: give a mapping"),
        ({"train": "a", "tests": [{"dataset": "c", "map": {}}]}, r"unknown key\(s\) map"),
        ({"train": "a", "tests": ["c", "c"]}, r"tests\[1\]: 'c' is listed twice"),
    ],
)
def test_bad_tests_are_one_line_errors(entry, message):
    with pytest.raises(UserError, match=message):
        expand_external_tests([entry])
