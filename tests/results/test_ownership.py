"""No module outside breastbench.results formats or parses a run id (the contract has one owner)."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "breastbench"
# what building or splitting a run id looks like in code
PATTERNS = [
    r"""["']__fold""",
    r"""f["']aug-""",
    r"""["']aug-["']""",
    r"""["']__ext-""",
    r"""split\(\s*["']__["']""",
    r"""join\(\s*\[?.*["']__["']""",
    r"""["']__["']\s*\.join""",
    r"""\.tmp-\{[^}]*run""",
    r"""rsplit\(\s*["']__""",
    r"""["']seed\{""",
    r"""f["']fold\{""",
]


def test_only_the_results_package_builds_or_parses_run_ids():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "results":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            for pat in PATTERNS:
                if re.search(pat, line):
                    offenders.append(f"{rel}:{i}: {line.strip()}")
    assert offenders == []


def test_the_check_catches_an_offender(tmp_path):
    line = 'run_id = "__".join([dataset, mag, model]) + f"__fold{k}"'
    assert any(re.search(p, line) for p in PATTERNS)
