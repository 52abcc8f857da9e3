"""mini-MIAS (Suckling et al. 1994): 322 films, background tissue F/G/D, 1024x1024 PGM.

``Info.txt`` starts with prose, then one row per abnormality: ``mdbNNN BG CLASS [SEV X Y R]``
(normal films stop after CLASS, some rows carry ``*NOTE 3*``, an image with two masses has two
rows). BG is the 3-class tissue type, not BI-RADS, so the classes are F, G, D. The films are
listed in pairs, left (even number) and right (odd) of one woman: mdb001+mdb002 form one
patient, which keeps both breasts of a woman in the same fold.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from breastbench.data.sources._common import require_root
from breastbench.data.sources.density import MISSING, build_density_manifest
from breastbench.errors import UserError

CLASSES = ["F", "G", "D"]  # fatty, fatty-glandular, dense-glandular (ordinal)
CLASS_NAMES = {"F": "fatty", "G": "fatty-glandular", "D": "dense-glandular"}
ROW_RE = re.compile(r"^(mdb(\d{3}))\s+(\S+)\s+(\S+)")


def _tissue(value) -> tuple[str | None, str | None]:
    text = str(value).strip().upper()
    if not text:
        return None, MISSING
    return (text, None) if text in CLASSES else (None, None)


def parse_info(path: Path) -> list[dict]:
    """One dict per data row of ``Info.txt`` (the prose header and footer are skipped)."""
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines():
        m = ROW_RE.match(line.strip())
        if m:
            rows.append({"ref": m[1], "number": int(m[2]), "tissue": m[3], "abnormality": m[4]})
    if not rows:
        raise UserError(f"{path}: no 'mdbNNN BG CLASS ...' rows; is this the mini-MIAS Info.txt?")
    return rows


def load(root, csv=None, skip_invalid=False, skip_missing=False, check_files=True) -> pd.DataFrame:
    """Manifest of mini-MIAS: ``root/Info.txt`` (or ``csv``) and ``root/mdbNNN.pgm``."""
    root = require_root(root, "mini-MIAS")
    info = Path(csv) if csv else root / "Info.txt"
    if not info.is_file():
        raise UserError(f"{info} not found; point ROOT at the mini-MIAS folder with Info.txt")
    records = []
    for row in parse_info(info):
        n = row["number"]
        records.append(
            {
                "path": str(root / f"{row['ref']}.pgm"),
                "image_id": row["ref"],
                # pairs (1,2), (3,4)...: the left and right film of one woman
                "patient_id": f"mias-{(n + 1) // 2:03d}",
                "laterality": "L" if n % 2 == 0 else "R",
                "view": "MLO",
                "density_raw": row["tissue"],
            }
        )
    notes = ["MIAS tissue classes F/G/D are not BI-RADS A-D (3-class background tissue)"]
    return build_density_manifest(
        records,
        csv_path=info,
        density_col="background tissue",
        dataset="mias",
        source="mias",
        skip_invalid=skip_invalid,
        skip_missing=skip_missing,
        check_files=check_files,
        dedupe=True,
        notes=notes,
        classes=CLASSES,
        normalize=_tissue,
        task="tissue",
        expected="F, G or D",
    )
