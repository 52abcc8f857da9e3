"""Every file and folder name of a run folder, in one place (``docs/DESIGN.md``, "Run folder").

Only :mod:`breastbench.results` joins these names to paths (through
:class:`breastbench.results.RunFolder`); a test (``tests/results/test_path_owner.py``) fails
when a module elsewhere spells one of them in a path.
"""

from __future__ import annotations

import re

from breastbench.errors import UserError

LAYOUT = 2
MARKER = "breastbench-run.json"  # layout version (a folder without it is an older layout)
CONFIG = "experiment.yaml"  # the resolved config
GRID = "grid.json"  # every run id of the grid
LOG = "run.log"  # the progress log of `breastbench run`
RUNS = "runs"
PARTIAL = ".partial"  # resume states of unfinished runs
MANIFESTS = "manifests"
CACHE = "cache"
SUMMARY = "summary"
REPORT = "report"
# the files of one run's folder
RUN_INFO = "run.json"
METRICS = "metrics.json"  # written last: marks the run complete
PREDICTIONS = "predictions.csv"
HISTORY = "history.csv"
CHECKPOINT = "checkpoint"
ROBUSTNESS = "robustness"  # a run's folder of predictions under test-time perturbations
# the analysis' files (``summary/<name>.csv`` and ``summary/analysis.json``)
ANALYSIS = "analysis.json"
CURVE_TABLES = ("roc", "confusion", "reliability_pooled", "loss_curves")  # results/curves.py
SUMMARY_TABLES = ("metrics_by_run", "aggregate", "pooled", "comparisons", "reliability")
SUBGROUPS = "subgroups"  # results/subgroups.py: per-subgroup metrics
SUBGROUP_COMPARISONS = "subgroup_comparisons"  # paired tests of the gap within each subgroup
SUMMARY_TABLES += CURVE_TABLES + (SUBGROUPS, SUBGROUP_COMPARISONS)
ROBUSTNESS_TABLES = ("robustness", "robustness_auc", "robustness_worst_family")
POWER = "power"  # summary/power.csv: `breastbench power OUT` (results/power.py)
TABLE = "table"  # summary/table.txt: the whole terminal table
TRACKING = {"mlflow": "mlruns", "tensorboard": "tensorboard"}  # OUT/<folder> per tracker

TMP = re.compile(r"^\.tmp-(?P<run_id>.+)-(?P<pid>\d+)$")


def component(name: str, what: str) -> str:
    """``name`` as one file-name component; UserError for anything that would be a path.

    Free text reaches file names only through a codec (:func:`breastbench.results.key.encode`)
    or a slug; this is the last check that no user string walks out of the output folder.
    """
    bad = not name or name in (".", "..") or any(c in name for c in "/\\\0")
    if bad or name.startswith(".tmp-"):
        raise UserError(
            f"{what} {name!r} cannot be a file name; use letters, digits, . _ - (no / or ..)"
        )
    return name
