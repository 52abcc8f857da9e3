"""BRACS (Brancati et al., Database 2022): the RoI set of breast carcinoma subtypes, 7 classes.

Layout as downloaded from https://www.bracs.icar.cnr.it (the ``BRACS_RoI`` FTP folder)::

    BRACS_RoI/<version>/{train,val,test}/<n>_<CLASS>/BRACS_<wsi>_<CLASS>_<k>.png

with ``<version>`` ``latest_version`` (the default) and classes ``0_N 1_PB 2_UDH 3_FEA 4_ADH
5_DCIS 6_IC``. The file name repeats the class and names the whole-slide image it was cut from
(``BRACS_1003_N_1.png`` is RoI 1 of slide ``BRACS_1003.svs``), so each row carries its slide.

Tasks (the paper's hierarchy, Table 1): ``multiclass`` (the 7 classes), ``3class`` (benign
N/PB/UDH, atypical FEA/ADH, malignant DCIS/IC) and ``binary`` (benign = N/PB/UDH/FEA/ADH,
malignant = DCIS/IC: the same two class names as BreakHis, so a BreakHis model can be tested on
BRACS).

Grouping: the dataset's spreadsheet ``BRACS.xlsx`` has a WSI table mapping each slide
(``WSI Filename``) to its patient (``Patient Id``). When it is found next to the RoI folder
(or given as ``wsi_table``, xlsx or csv) folds are grouped by patient; otherwise by WSI, which
can put two slides of one woman in different folds: a note says which grouping was used.

``split: official`` keeps the published train/val/test sets as a fixed ``fold`` column
(0 = test, the fold evaluated; 1 = train; 2 = val, which joins training since breastbench
selects on an inner split of the training patients).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from breastbench.data.manifest import build_manifest
from breastbench.data.sources._common import JunkCount, choose, require_root, walk_files
from breastbench.errors import UserError

CLASSES = ["N", "PB", "UDH", "FEA", "ADH", "DCIS", "IC"]
FOLDERS = {f"{i}_{c}": c for i, c in enumerate(CLASSES)}
THREE_CLASS = {c: "benign" for c in ("N", "PB", "UDH")}
THREE_CLASS.update({"FEA": "atypical", "ADH": "atypical", "DCIS": "malignant", "IC": "malignant"})
BINARY = {c: ("malignant" if v == "malignant" else "benign") for c, v in THREE_CLASS.items()}
TASKS = {
    "multiclass": (CLASSES, None),
    "3class": (["benign", "atypical", "malignant"], THREE_CLASS),
    "binary": (["benign", "malignant"], BINARY),
}
SETS = ("train", "val", "test")
OFFICIAL_FOLDS = {"test": 0, "train": 1, "val": 2}
NAME_RE = re.compile(r"^(?P<wsi>BRACS_\d+)_(?P<cls>[A-Z]+)_(?P<k>\d+)\.png$")
NAME_HELP = "BRACS_<wsi>_<CLASS>_<k>.png"
WSI_TABLE = "BRACS.xlsx"


def find_version(root: Path, version: str) -> Path:
    """The folder holding ``train/val/test`` from BRACS_RoI's parent, itself or the version."""
    for cand in (root / "BRACS_RoI" / version, root / version, root):
        if any((cand / s).is_dir() for s in SETS):
            return cand
    raise UserError(
        f"no BRACS RoI layout under {root}: expected BRACS_RoI/{version}/{{train,val,test}}/"
        "<n>_<CLASS>/*.png (pass the folder that holds BRACS_RoI)"
    )


def _norm(name) -> str:
    return re.sub(r"[^a-z]", "", str(name).lower())


def read_wsi_table(path: Path) -> dict[str, str]:
    """``slide -> patient`` from the WSI table (a sheet of BRACS.xlsx, or a CSV)."""
    try:
        if path.suffix.lower() == ".csv":
            sheets = {"csv": pd.read_csv(path, dtype=str)}
        else:
            sheets = pd.read_excel(path, sheet_name=None, dtype=str)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the BRACS WSI table {path}: {err}") from None
    for sheet in sheets.values():
        cols = {_norm(c): c for c in sheet.columns}
        wsi = cols.get("wsifilename") or cols.get("wsi")
        patient = cols.get("patientid") or cols.get("patient")
        if wsi and patient:
            rows = sheet[[wsi, patient]].dropna()
            return {
                Path(str(w).strip()).stem: str(p).strip() for w, p in zip(rows[wsi], rows[patient])
            }
    raise UserError(
        f"{path}: no sheet with columns 'WSI Filename' and 'Patient Id'; pass the dataset's "
        "BRACS.xlsx or a CSV with those two columns"
    )


def _find_table(version_dir: Path, wsi_table) -> Path | None:
    if wsi_table:
        path = Path(wsi_table).expanduser()
        if not path.is_file():
            raise UserError(f"option wsi_table: {path} not found")
        return path
    for folder in (version_dir, *version_dir.parents[:3]):
        if (folder / WSI_TABLE).is_file():
            return folder / WSI_TABLE
    return None


def parse_path(path: str) -> dict:
    """Fields of one RoI from its set folder, class folder and file name."""
    p = Path(path)
    m = NAME_RE.match(p.name)
    folder_cls = FOLDERS.get(p.parent.name)
    in_set = p.parent.parent.name in SETS
    if m is None or m["cls"] not in CLASSES or folder_cls is None or not in_set:
        raise UserError(
            f"{path}: not a BRACS RoI (expected <set>/<n>_<CLASS>/{NAME_HELP} with set in "
            f"{SETS} and CLASS in {CLASSES}); remove it or use source 'folder'"
        )
    if m["cls"] != folder_cls:
        raise UserError(f"{path}: file name says {m['cls']} but the folder says {folder_cls}")
    return {
        "path": path,
        "image_id": p.stem,
        "slide_id": m["wsi"],
        "subtype": folder_cls,
        "folder": p.parent.parent.name,
    }


def load(
    root,
    task: str = "multiclass",
    version: str = "latest_version",
    split: str | None = None,
    wsi_table: str | None = None,
) -> pd.DataFrame:
    """Manifest of the BRACS RoI images (``task`` multiclass, 3class or binary)."""
    choose(task, tuple(TASKS), "task")
    if split not in (None, "", "official"):
        raise UserError(f"option split={split!r} is not valid for bracs; use split: official")
    top = require_root(root, "BRACS")
    version_dir = find_version(top, version)
    junk = JunkCount()
    paths = walk_files(version_dir, (".png",), junk)
    if not paths:
        raise UserError(f"no .png RoIs under {version_dir}; check the BRACS_RoI download")
    rows = [parse_path(p) for p in paths]
    table_path = _find_table(version_dir, wsi_table)
    notes = []
    if table_path is not None:
        patients = read_wsi_table(table_path)
        unknown = sorted({r["slide_id"] for r in rows} - set(patients))
        if unknown:
            raise UserError(
                f"{table_path}: slide(s) {', '.join(unknown[:3])} have no row in the WSI table; "
                "use the BRACS.xlsx of this download or drop the wsi_table option"
            )
        for r in rows:
            r["patient_id"] = patients[r["slide_id"]]
        notes.append(f"folds grouped by patient (WSI table {table_path.name})")
    else:
        for r in rows:
            r["patient_id"] = r["slide_id"]
        notes.append(
            f"no {WSI_TABLE} found: folds grouped by WSI (slide), so two slides of one patient "
            "may sit in different folds; put BRACS.xlsx next to BRACS_RoI to group by patient"
        )
    classes, mapping = TASKS[task]
    for r in rows:
        r["label"] = r["subtype"] if mapping is None else mapping[r["subtype"]]
    n_slides = len({r["slide_id"] for r in rows})
    n_patients = len({r["patient_id"] for r in rows})
    notes.append(f"{len(rows)} RoIs from {n_slides} slides of {n_patients} groups ({version})")
    if junk.note():
        notes.append(junk.note())
    df = build_manifest(
        rows, classes, dataset="bracs", task=task, source="bracs", notes=notes, origin=str(top)
    )
    df.attrs["group_col"] = "patient_id"
    if split == "official":
        df = official_split(df)
    return df


def official_split(df: pd.DataFrame) -> pd.DataFrame:
    """The published train/val/test sets as a fixed fold column (0 = test)."""
    out = df.copy()
    out["fold"] = out["folder"].map(OFFICIAL_FOLDS).astype("int64")
    counts = {s: int((out["folder"] == s).sum()) for s in SETS}
    out.attrs = dict(df.attrs)
    out.attrs["fixed_split"] = {
        "name": "official",
        "source": "BRACS_RoI train/val/test folders",
        "test_folds": [OFFICIAL_FOLDS["test"]],
        "train_folds": [OFFICIAL_FOLDS["train"], OFFICIAL_FOLDS["val"]],
    }
    out.attrs["notes"] = [
        *df.attrs.get("notes", []),
        "official split: {train} train, {val} val (trained on), {test} test RoIs".format(**counts),
    ]
    return out
