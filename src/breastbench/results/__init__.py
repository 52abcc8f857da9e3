"""Results: the run key, the run folder and the one analysis of it.

Every writer and reader of experiment outputs goes through this package: the runner writes
runs with :class:`RunFolder`, the analysis (:mod:`breastbench.results.analysis`) reads them and
writes ``summary/``, the report renders ``summary/`` and the run folders.
"""

from breastbench.results.folder import LAYOUT, Problem, RunFolder, StoredRun
from breastbench.results.key import RunIdError, RunKey, text_tag
from breastbench.results.spec import CompareSpec

__all__ = [
    "LAYOUT",
    "CompareSpec",
    "Problem",
    "RunFolder",
    "RunIdError",
    "RunKey",
    "StoredRun",
    "text_tag",
]
