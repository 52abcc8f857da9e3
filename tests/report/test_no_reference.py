"""A comparisons table without a named reference (the column read back all empty, float64)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from breastbench.report.collect import RunCollection
from breastbench.report.content import reference_id
from breastbench.report.headline import focus_rows


def _comparisons(reference) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "config_a": ["a", "a"],
            "config_b": ["b", "c"],
            "metric": ["auc", "auc"],
            "test": ["wilcoxon", "wilcoxon"],
            "ci_low": [0.1, 0.2],
            "ci_high": [0.3, 0.4],
            "reference": reference,
        }
    )


def test_an_all_empty_reference_column_is_no_reference_and_no_warning():
    comps = _comparisons([np.nan, np.nan])  # what read_csv makes of an empty column
    assert comps["reference"].dtype == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas 3 warns, a later pandas raises
        rows = focus_rows(comps, {"a", "b", "c"}, "auc")
        ref = reference_id(
            RunCollection(
                root=None, runs=[], problems=[], manifests={}, summary={"comparisons": comps}
            )
        )
    assert len(rows) == 2 and ref is None


def test_a_named_reference_keeps_only_its_rows():
    comps = _comparisons(["a", np.nan])
    rows = focus_rows(comps, {"a", "b", "c"}, "auc")
    assert rows["config_b"].tolist() == ["b"]
    ref = reference_id(
        RunCollection(root=None, runs=[], problems=[], manifests={}, summary={"comparisons": comps})
    )
    assert ref == "a"
