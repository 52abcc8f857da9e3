"""``breastbench report RUN_DIR [-o OUT]``: turn a run folder into the HTML/Markdown report."""

from __future__ import annotations


def register(subparsers) -> None:
    """Register the ``report`` command."""
    parser = subparsers.add_parser(
        "report",
        help="write report.html, report.md, tables and figures for a run folder",
        description=(
            "Build the report of a `breastbench run` output folder from its prediction, "
            "metrics and history files (models are only loaded for explainability maps)."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `breastbench run`")
    parser.add_argument("-o", "--out", default=None, help="report folder (default: RUN_DIR/report)")
    parser.add_argument(
        "--no-explain", action="store_true", help="skip Grad-CAM / saliency maps (faster)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="PATTERN",
        help="report only the runs whose id or model label matches PATTERN (glob or substring, "
        "case-insensitive), as `run --only`; the others are counted as not selected",
    )
    parser.set_defaults(func=run_report)


def run_report(args) -> int:
    """Handler: build the report, print any broken runs and the report path."""
    from breastbench.modes.registry import load_recorded_plugins
    from breastbench.report.html import build_report
    from breastbench.results import RunFolder

    load_recorded_plugins(RunFolder(args.run_dir).config_path)  # the runs' own mode plugins
    # build_report refuses a wrong folder or destination before it writes anything
    path = build_report(
        args.run_dir, args.out, explain_maps=not args.no_explain, log=print, only=args.only
    )
    print(path)
    return 0
