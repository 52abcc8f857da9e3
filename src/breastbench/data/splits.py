"""Published fixed splits, so breastbench's numbers sit beside other benchmarks' leaderboards.

``eva``: kaiko-ai/eva's BreakHis task (``src/eva/vision/data/datasets/classification/
breakhis.py``): 40X images of the four subtypes with at least 7 patients, classes in eva's order
TA, MC, F, DC, and a fixed validation set of 14 patient ids (eva's id is the third ``-`` field
of the file name, e.g. ``16184CD``: number plus slide letters). eva reports 1,132 train and 339
validation images of 1,471. The split is data: the lists below, applied to a manifest as a
``fold`` column (0 = eva's validation patients, the held-out fold; 1 = eva's training
patients), so the run trains once on fold 1 and evaluates on fold 0.
"""

from __future__ import annotations

import pandas as pd

from breastbench.errors import UserError

EVA_BREAKHIS = {
    "source": "kaiko-ai/eva src/eva/vision/data/datasets/classification/breakhis.py",
    "magnification": 40,
    "classes": ("TA", "MC", "F", "DC"),
    "val_patients": frozenset(
        {
            "18842D",
            "19979",
            "15275",
            "15792",
            "16875",
            "3909",
            "5287",
            "16716",
            "2773",
            "5695",
            "16184CD",
            "23060CD",
            "21998CD",
            "21998EF",
        }
    ),
    "expected": {"train": 1132, "val": 339},
}
SPLITS = {"eva": EVA_BREAKHIS}
VAL_FOLD, TRAIN_FOLD = 0, 1


def eva_patient_id(image_id: str) -> str:
    """Eva's patient id: the third ``-`` field of a BreakHis file name (``16184CD``)."""
    return image_id.split("-")[2]


def apply_split(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Restrict a BreakHis manifest to split ``name`` and set its fixed ``fold`` column.

    Labels become the split's classes in its order; ``attrs["fixed_split"]`` records the split,
    its source and the fold to evaluate on (``test_folds``).
    """
    if name not in SPLITS:
        raise UserError(f"split: unknown split {name!r}; allowed: {', '.join(SPLITS)}")
    spec = SPLITS[name]
    mags = set(df["magnification"].unique())
    if spec["magnification"] not in mags:
        raise UserError(
            f"split: {name} uses {spec['magnification']}X images; set magnifications: "
            f"[{spec['magnification']}] (or leave magnification unset) for this dataset"
        )
    classes = list(spec["classes"])
    keep = (df["magnification"] == spec["magnification"]) & df["subtype"].isin(classes)
    out = df[keep].copy().reset_index(drop=True)
    attrs = dict(df.attrs)
    out["label"] = out["subtype"]
    out["target"] = out["label"].map({c: i for i, c in enumerate(classes)}).astype("int64")
    ids = out["image_id"].map(eva_patient_id)
    out["fold"] = ids.isin(spec["val_patients"]).map({True: VAL_FOLD, False: TRAIN_FOLD})
    out["fold"] = out["fold"].astype("int64")
    # eva splits by slide letters: report numeric patients that sit on both sides
    both = out.groupby("patient_id")["fold"].nunique()
    spanning = sorted(both[both > 1].index)
    attrs.update(
        classes=classes,
        task="subtype",
        group_col="slide_id",
        fixed_split={
            "name": name,
            "source": spec["source"],
            "test_folds": [VAL_FOLD],
            "train_folds": [TRAIN_FOLD],
            "patients_on_both_sides": spanning,
        },
    )
    attrs["notes"] = [
        *attrs.get("notes", []),
        f"fixed split {name} ({spec['source']}): {int((out['fold'] == TRAIN_FOLD).sum())} train, "
        f"{int((out['fold'] == VAL_FOLD).sum())} validation images, classes {', '.join(classes)}"
        + (f"; numeric patients on both sides: {', '.join(spanning)}" if spanning else ""),
    ]
    out.attrs = attrs
    return out
