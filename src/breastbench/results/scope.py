"""``--only``: the analysis and report of a partial run cover the selected runs only.

A run excluded by ``--only`` is neither missing nor broken: it was not asked for. The scope
keeps the runs and problems whose key matches a pattern (``RunKey.matches``: case-insensitive
glob or substring of the run id or the decoded model label) and counts the rest in one line.
"""

from __future__ import annotations

from breastbench.results.folder import Problem, StoredRun


def in_scope(key, only: list[str] | None) -> bool:
    """Whether a run key is selected (everything is, without patterns)."""
    return not only or (key is not None and any(key.matches(p) for p in only))


def scope(
    runs: list[StoredRun], problems: list[Problem], only: list[str] | None
) -> tuple[list[StoredRun], list[Problem], int]:
    """(selected runs, selected problems, number of grid runs left out) for ``only``."""
    if not only:
        return runs, problems, 0
    kept_runs = [r for r in runs if in_scope(r.key, only)]
    kept_problems = [p for p in problems if p.key is None or in_scope(p.key, only)]
    left_out = len(runs) - len(kept_runs) + len(problems) - len(kept_problems)
    return kept_runs, kept_problems, left_out


def not_selected_line(only: list[str], left_out: int, selected: int) -> str:
    """The one line a scoped summary, table and report show instead of "missing" rows."""
    return (
        f"--only {' '.join(only)}: {selected} runs selected; {left_out} other runs of the grid "
        "not selected (left out of this analysis and report)"
    )
