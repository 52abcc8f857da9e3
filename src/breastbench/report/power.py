"""``breastbench power OUT``: minimum detectable difference and patients needed, per comparison.

The numbers come from :mod:`breastbench.results.power` (which writes ``summary/power.csv``);
this module registers the command and lays the rows out with the report's names.
"""

from __future__ import annotations

import math

import pandas as pd

from breastbench.report.compare import pair_name
from breastbench.report.tables import metric_label


def register(subparsers) -> None:
    """Register the ``power`` command."""
    p = subparsers.add_parser(
        "power",
        help="minimum detectable difference and patients needed for every comparison of a run",
        description=(
            "For every comparison in OUT/summary/comparisons.csv: the smallest difference the "
            "run's design detects with the given power, and the test patients needed to detect "
            "the observed difference, from studies simulated by resampling the run's own "
            "patients within folds and classes (the fold-aware bootstrap's design). Writes "
            "OUT/summary/power.csv."
        ),
    )
    p.add_argument("out", metavar="OUT", help="output folder of `breastbench run`")
    p.add_argument("--power", type=float, default=0.8, help="target power (default: 0.8)")
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="per-test significance level, used as is (default: the analysis' alpha divided by "
        "the comparison's correction-family size; the alpha itself without correction)",
    )
    p.add_argument(
        "--difference",
        type=float,
        default=None,
        help="size every comparison for this difference (metric units, e.g. 0.05 AUC) instead "
        "of its observed one",
    )
    p.add_argument(
        "--draws", type=int, default=2000, help="simulated studies per size (default: 2000)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation (default: 0)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run_power)


def _num(x, fmt: str) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


# the columns of `breastbench power`'s table (summary/power.csv, named as the report names it)
COLUMNS = (
    "Subset",
    "Comparison (A vs B)",
    "Metric",
    "n",
    "Estimate (A − B)",
    "SE",
    "alpha per test",
    "MDD",
    "Needed",
    "Note",
)


def power_table(title: str, columns: tuple[str, ...]):
    """An empty rich table of power rows: subset, comparison, the numbers (right), a note.

    The first two columns and the last are text (left-aligned), every column between them a
    number; ``breastbench plan`` and ``breastbench power`` lay their rows out alike.
    """
    from rich.table import Table

    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i < 2 or i == len(columns) - 1 else "right")
    return table


def render(table: pd.DataFrame, templates: dict | None = None):
    """A rich table of ``power.csv`` rows, configurations named as the report names them."""
    first = table.iloc[0]
    source = str(first["difference_source"])
    what = "the observed difference" if source == "observed" else "the given difference"
    unit = "patients" if str(first["unit"]) == "patients" else "images"
    out = power_table(
        f"power: minimum detectable difference at {first['power']:g} power and {unit} needed "
        f"for {what}",
        COLUMNS,
    )
    for r in table.to_dict("records"):
        needed = r["patients_needed"]
        out.add_row(
            str(r.get("subset", "")),
            pair_name(r["config_a"], r["config_b"], templates),
            metric_label(str(r["metric"])),
            f"{int(r['n'])} {r['unit']}" if not pd.isna(r.get("n")) else "–",
            _num(r["estimate"], "+.4f"),
            _num(r["se"], ".4f"),
            _num(r["alpha_test"], ".3g"),
            _num(r["mdd"], ".4f"),
            "–" if pd.isna(needed) else f"{int(needed)}",
            str(r.get("note") or "") if not pd.isna(r.get("note")) else "",
        )
    out.caption = (
        f"{int(first['draws'])} simulated studies per size, seed {int(first['seed'])}; a study "
        "rejects when its estimate lies beyond z(1 - alpha/2) resampling standard errors; alpha "
        "per test = the analysis' alpha / the correction family's size (Bonferroni, Holm's "
        "strictest step) unless --alpha is given. Needed: test patients over all folds (or of "
        "the one external test set). Source: summary/power.csv."
    )
    return out


def run_power(args) -> int:
    """Handler: compute and write summary/power.csv, print it."""
    from rich.console import Console

    from breastbench import jsonio
    from breastbench.report.names import templates_of
    from breastbench.results import RunFolder
    from breastbench.results.power import write_power

    folder = RunFolder(args.out)
    folder.require()
    loaded = folder.collect()
    table, path = write_power(
        args.out,
        loaded=loaded,
        power=args.power,
        alpha=args.alpha,
        draws=args.draws,
        seed=args.seed,
        difference=args.difference,
    )
    if args.json:
        print(jsonio.dumps(table.to_dict("records")))
        return 0
    Console(width=200).print(render(table, templates_of(loaded[0])))
    print(path)
    return 0
