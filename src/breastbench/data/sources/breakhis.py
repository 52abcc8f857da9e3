"""BreakHis (Spanhol et al. 2016): benign/malignant and 8 subtypes at 40/100/200/400X.

Everything is parsed from the file name (``SOB_B_A-14-22549AB-40-001.png``), so the official
tree, the Kaggle copy and a flat folder of originals all load the same way and no image is
decoded. The patient is the numeric part of the slide id (``14-22549``): slides with letter
suffixes of one number come from one woman and some numbers span several subtype folders, so
grouping by folder or slide would leak a patient across folds.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict

import pandas as pd

from breastbench.data.manifest import build_manifest
from breastbench.data.sources._common import JunkCount, choose, require_root, walk_files
from breastbench.errors import UserError

NAME_RE = re.compile(
    r"^SOB_(?P<cls>[BM])_(?P<subtype>[A-Z]+)-(?P<year>\d+)-(?P<slide>(?P<number>\d+)[A-Z]*)"
    r"-(?P<mag>\d+)-(?P<seq>\d+)\.(?i:png)$"  # .PNG too: some copies upper-case it
)
NAME_HELP = "SOB_<B|M>_<subtype>-<year>-<slide>-<40|100|200|400>-<seq>.png"
SUBTYPES = {  # ordered: the 4 benign then the 4 malignant subtypes, as in the paper
    "A": ("benign", "adenosis"),
    "F": ("benign", "fibroadenoma"),
    "PT": ("benign", "phyllodes_tumor"),
    "TA": ("benign", "tubular_adenoma"),
    "DC": ("malignant", "ductal_carcinoma"),
    "LC": ("malignant", "lobular_carcinoma"),
    "MC": ("malignant", "mucinous_carcinoma"),
    "PC": ("malignant", "papillary_carcinoma"),
}
MAGNIFICATIONS = (40, 100, 200, 400)
TASKS = {"binary": ["benign", "malignant"], "subtype": list(SUBTYPES)}
GROUP_COLUMNS = {"patient": "patient_id", "slide": "slide_id", "folder": "folder"}


def parse_name(path: str) -> dict:
    """Parse one BreakHis file name into manifest fields; raise naming the file if it is not one."""
    name = os.path.basename(path)
    m = NAME_RE.match(name)
    if m is None or m["subtype"] not in SUBTYPES or int(m["mag"]) not in MAGNIFICATIONS:
        raise UserError(
            f"{path}: not a BreakHis file name (expected {NAME_HELP}); remove the file or use "
            "source 'folder' for other images"
        )
    benign_malignant = SUBTYPES[m["subtype"]][0]
    if benign_malignant[0].upper() != m["cls"]:
        raise UserError(f"{path}: class letter {m['cls']} contradicts subtype {m['subtype']}")
    slide = f"{m['year']}-{m['slide']}"
    return {
        "path": path,
        "image_id": name[: -len(".png")],
        "patient_id": f"{m['year']}-{m['number']}",
        "slide_id": slide,
        "folder": f"SOB_{m['cls']}_{m['subtype']}_{slide}",
        "subtype": m["subtype"],
        "magnification": int(m["mag"]),
        "binary": benign_malignant,
    }


def group_report(rows: list[dict], group_by: str) -> dict:
    """Which folders merged into each group and which groups span several subtypes."""
    col = GROUP_COLUMNS[group_by]
    folders, subtypes = defaultdict(set), defaultdict(set)
    for row in rows:
        folders[row[col]].add(row["folder"])
        subtypes[row[col]].add(row["subtype"])
    merged = {g: sorted(f) for g, f in sorted(folders.items()) if len(f) > 1}
    return {
        "group_by": group_by,
        "n_groups": len(folders),
        "n_folders": len({row["folder"] for row in rows}),
        "n_slides": len({row["slide_id"] for row in rows}),
        "merged": merged,
        "n_folders_merged": sum(len(f) for f in merged.values()),
        "multi_subtype": {g: sorted(s) for g, s in sorted(subtypes.items()) if len(s) > 1},
    }


def load(
    root,
    task: str = "binary",
    magnification: int | str | None = None,
    group_by: str = "patient",
    split: str | None = None,
) -> pd.DataFrame:
    """Manifest of every BreakHis PNG under ``root`` (official, Kaggle or flat layout).

    ``split: eva`` keeps eva's published task and fixed patient lists (``data/splits.py``).
    """
    choose(task, tuple(TASKS), "task")
    choose(group_by, tuple(GROUP_COLUMNS), "group_by")
    root = require_root(root, "BreakHis")
    junk = JunkCount()
    paths = walk_files(root, (".png",), junk)
    if not paths:
        raise UserError(f"no .png files under {root}; point ROOT at the BreaKHis_v1 folder")
    rows = [parse_name(p) for p in paths]
    seen: dict[str, str] = {}
    for row in rows:
        if row["image_id"] in seen:
            raise UserError(
                f"image {row['image_id']} found twice ({seen[row['image_id']]} and "
                f"{row['path']}); ROOT holds two copies of BreakHis, point it at one"
            )
        seen[row["image_id"]] = row["path"]
    if magnification not in (None, "", "all"):
        mag = int(str(magnification).upper().rstrip("X"))
        choose(str(mag), tuple(map(str, MAGNIFICATIONS)), "magnification")
        rows = [r for r in rows if r["magnification"] == mag]
    for row in rows:
        row["label"] = row["binary"] if task == "binary" else row["subtype"]
        del row["binary"]
    report = group_report(rows, group_by)
    notes = [
        f"{report['n_folders']} slide folders, {report['n_slides']} slide ids, "
        f"{len({r['patient_id'] for r in rows})} patients (numeric id); grouping folds by "
        f"{group_by}: {report['n_groups']} groups, {len(report['merged'])} of them merge "
        f"{report['n_folders_merged']} folders, {len(report['multi_subtype'])} span several "
        "subtypes"
    ]
    if junk.note():
        notes.append(junk.note())
    df = build_manifest(
        rows,
        TASKS[task],
        dataset="breakhis",
        task=task,
        source="breakhis",
        notes=notes,
        origin=str(root),
    )
    df.attrs["group_report"] = report
    df.attrs["group_col"] = GROUP_COLUMNS[group_by]
    if split:
        from breastbench.data.splits import apply_split

        df = apply_split(df, split)
    return df
