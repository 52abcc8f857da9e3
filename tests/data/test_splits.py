"""The eva BreakHis split: 40X, classes TA/MC/F/DC, eva's fixed validation patients.

Reference: kaiko-ai/eva, src/eva/vision/data/datasets/classification/breakhis.py
(``_val_patient_ids``, ``classes`` = ["TA", "MC", "F", "DC"], 40X default magnification).
"""

import pandas as pd
import pytest

from breastbench.data.sources import breakhis
from breastbench.errors import UserError

# written out here from eva's source, independently of breastbench.data.splits
EVA_VAL = {
    "18842D", "19979", "15275", "15792", "16875", "3909", "5287",
    "16716", "2773", "5695", "16184CD", "23060CD", "21998CD", "21998EF",
}  # fmt: skip
TRAIN = ["21998AB", "13200", "4364", "29960AB"]
BENIGN = {"TA", "F", "A", "PT"}


def _tree(root):
    subtypes = ["TA", "MC", "F", "DC", "LC", "A"]
    for i, slide in enumerate(sorted(EVA_VAL) + TRAIN):
        for sub in (subtypes[i % 4], subtypes[4 + i % 2]):
            cls = "B" if sub in BENIGN else "M"
            for mag in (40, 100):
                for seq in (1, 2):
                    d = root / f"SOB_{cls}_{sub}_14-{slide}" / f"{mag}X"
                    d.mkdir(parents=True, exist_ok=True)
                    (d / f"SOB_{cls}_{sub}-14-{slide}-{mag}-{seq:03d}.png").write_bytes(b"")
    return root


def test_eva_split_reproduces_the_patient_lists(tmp_path):
    df = breakhis.load(_tree(tmp_path / "bh"), task="subtype", split="eva")
    assert set(df["magnification"]) == {40}
    assert set(df["label"]) <= {"TA", "MC", "F", "DC"}
    assert df.attrs["classes"] == ["TA", "MC", "F", "DC"]
    assert (df["target"] == df["label"].map({"TA": 0, "MC": 1, "F": 2, "DC": 3})).all()
    eva_id = df["image_id"].str.split("-").str[2]
    assert set(eva_id[df["fold"] == 0]) == EVA_VAL
    assert set(eva_id[df["fold"] == 1]) == set(TRAIN)
    split = df.attrs["fixed_split"]
    assert split["test_folds"] == [0] and "kaiko-ai/eva" in split["source"]
    # eva splits 14-21998 by slide letters (AB train, CD/EF validation): reported, not hidden
    assert split["patients_on_both_sides"] == ["14-21998"]


def test_eva_split_needs_40x(tmp_path):
    with pytest.raises(UserError, match=r"uses 40X images; set magnifications: \[40\]"):
        breakhis.load(_tree(tmp_path / "bh"), magnification=100, split="eva")


def test_unknown_split(tmp_path):
    with pytest.raises(UserError, match="unknown split 'thunder'; allowed: eva"):
        breakhis.load(_tree(tmp_path / "bh"), split="thunder")


def test_without_split_nothing_changes(tmp_path):
    df = breakhis.load(_tree(tmp_path / "bh"), task="subtype")
    assert "fixed_split" not in df.attrs and isinstance(df, pd.DataFrame)
    assert set(df["magnification"]) == {40, 100}
