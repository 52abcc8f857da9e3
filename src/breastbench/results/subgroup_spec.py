"""The ``analysis:`` section of an experiment file: which manifest columns define subgroups.

``analysis: {subgroups: [subtype, magnification, view, ...]}`` names any manifest column; the
analysis then writes per-subgroup metrics and paired tests (:mod:`breastbench.results.subgroups`).
Without ``subgroups`` each dataset gets its source's obvious default where its manifest has the
column: BreakHis ``subtype`` (the tumour type), mammography sources ``view``. A listed column
that no dataset's manifest has is refused in one line before anything trains
(:func:`check_subgroups`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from breastbench.errors import UserError

#: manifest columns that identify an image or carry its truth, never a subgroup
NOT_SUBGROUPS = ("path", "image_id", "patient_id", "target", "fold", "study_id", "slide_id")
MAMMOGRAPHY = ("cmmd", "embed", "mias", "vindr", "rsna", "cbis-ddsm", "inbreast", "density-csv")
#: the default subgroup columns of a source (``synthetic-<source>`` shares its source's)
DEFAULTS = {"breakhis": ("subtype",), **dict.fromkeys(MAMMOGRAPHY, ("view",))}


@dataclass
class AnalysisSpec:
    """Subgroup analysis: which manifest columns split the test images into subgroups."""

    subgroups: list[str] | None = field(
        default=None,
        metadata={
            "help": "manifest columns to split results by, e.g. [subtype, magnification, "
            "view, laterality]; default: breakhis subtype, mammography view (where the "
            "manifest has it); [] for none"
        },
    )
    min_patients: int = field(
        default=5,
        metadata={
            "help": "a subgroup with fewer patients gets no metric (NaN with a note) and no test"
        },
    )

    def validate(self, where: str) -> None:
        """Column names are plain, distinct and not identifiers; min_patients >= 2."""
        if self.min_patients < 2:
            raise UserError(f"{where}.min_patients: got {self.min_patients}; use at least 2")
        names = self.subgroups or []
        for i, name in enumerate(names):
            if not isinstance(name, str) or not name.strip():
                raise UserError(f"{where}.subgroups[{i}]: got {name!r}; give a column name")
            if name in NOT_SUBGROUPS:
                raise UserError(
                    f"{where}.subgroups[{i}]: {name!r} identifies images, it is no subgroup; "
                    "name a column such as subtype, magnification, view or laterality"
                )
        if len(set(names)) != len(names):
            raise UserError(f"{where}.subgroups: a column is listed twice; list each once")


def default_subgroups(source: str) -> list[str]:
    """The default subgroup columns of a manifest source (``synthetic-`` prefix ignored)."""
    return list(DEFAULTS.get(source.removeprefix("synthetic-"), ()))


def has_column(df: pd.DataFrame, column: str) -> bool:
    """True when the manifest has ``column`` with at least one value."""
    return column in df.columns and bool(df[column].notna().any())


def columns_for(spec: AnalysisSpec, source: str, frames: list[pd.DataFrame]) -> list[str]:
    """The subgroup columns of one test set (its tables ``frames``): listed, else defaults."""
    wanted = spec.subgroups if spec.subgroups is not None else default_subgroups(source)
    return [c for c in wanted if any(has_column(df, c) for df in frames)]


def check_subgroups(spec: AnalysisSpec, manifests: dict[str, pd.DataFrame]) -> None:
    """Refuse, in one line, a listed subgroup column that no dataset's manifest has."""
    for i, name in enumerate(spec.subgroups or []):
        if not any(has_column(df, name) for df in manifests.values()):
            have = sorted(
                {c for df in manifests.values() for c in df.columns if has_column(df, c)}
                - set(NOT_SUBGROUPS)
            )
            raise UserError(
                f"analysis.subgroups[{i}]: no dataset's manifest has a column {name!r}; "
                f"columns: {', '.join(have)}"
            )
