"""Source registry: a source name -> a function ``(root, **options) -> manifest``.

Each source only knows how to list one dataset's files and labels; validation, option
checking and the file check happen here once for all of them. Adding a dataset is one
function and one entry in ``SOURCES``.
"""

from __future__ import annotations

import inspect

import pandas as pd

from breastbench.data.manifest import validate_manifest
from breastbench.data.sources import (
    bach,
    bracs,
    breakhis,
    breastmnist,
    busi,
    cmmd,
    density,
    density_presets,
    embed,
    folder,
    mias,
    pcam,
    synthetic,
)
from breastbench.errors import UserError

SOURCES = {
    "breakhis": breakhis.load,
    "bach": bach.load,
    "folder": folder.load,
    "density-csv": density.load,
    "vindr": density_presets.vindr,
    "rsna": density_presets.rsna,
    "cbis-ddsm": density_presets.cbis_ddsm,
    "inbreast": density_presets.inbreast,
    "mias": mias.load,
    "bracs": bracs.load,
    "pcam": pcam.load,
    "cmmd": cmmd.load,
    "embed": embed.load,
    "busi": busi.load,
    "breastmnist": breastmnist.load,
    "synthetic-breakhis": synthetic.synthetic_breakhis,
    "synthetic-bach": synthetic.synthetic_bach,
    "synthetic-density": synthetic.synthetic_density,
    "synthetic-bracs": synthetic.synthetic_bracs,
    "synthetic-pcam": synthetic.synthetic_pcam,
    "synthetic-cmmd": synthetic.synthetic_cmmd,
    "synthetic-embed": synthetic.synthetic_embed,
}


def source_options(source: str) -> list[str]:
    """The keyword options a source accepts (for help texts and error messages)."""
    params = inspect.signature(SOURCES[source]).parameters
    return [name for name in params if name != "root"]


def load_manifest(source: str, root, check_files: bool = True, **options) -> pd.DataFrame:
    """Build the validated manifest of ``source`` at ``root``; ``None`` options are ignored."""
    if source not in SOURCES:
        raise UserError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    options = {k: v for k, v in options.items() if v is not None}
    allowed = source_options(source)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(
            f"source {source} has no option {', '.join(unknown)}; its options: "
            f"{', '.join(a for a in allowed if a != 'check_files') or 'none'}"
        )
    if "check_files" in allowed:
        options["check_files"] = check_files
    df = SOURCES[source](root, **options)
    validate_manifest(df, check_files=check_files, origin=f"{source} at {root}")
    return df
