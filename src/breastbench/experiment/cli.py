"""``breastbench run``, ``plan``, ``configs list`` and ``predict``."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add the ``run``, ``plan``, ``configs`` and ``predict`` commands."""
    p = subparsers.add_parser(
        "run",
        help="run an experiment YAML (datasets x models x modes x folds)",
        description="Run every pending unit of an experiment; completed runs are skipped and "
        "interrupted runs resume from their last epoch checkpoint.",
    )
    p.add_argument(
        "experiment",
        help="experiment YAML file, or the name of a shipped config (breastbench configs list)",
    )
    p.add_argument("--out", help="output folder (default: output_dir of the YAML)")
    _common(p)
    p.add_argument(
        "--only",
        nargs="+",
        metavar="PATTERN",
        help="run only runs whose id contains PATTERN or matches a glob, case-insensitive, "
        "e.g. '*resnet34*fold0'",
    )
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument(
        "--resume",
        dest="resume",
        action="store_true",
        default=True,
        help="resume interrupted runs from epoch checkpoints (default)",
    )
    p.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="restart interrupted runs from scratch (completed runs stay)",
    )
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: one run after another in this process; ray: one Ray task per run "
        "(pip install 'breastbench[ray]')",
    )
    p.add_argument(
        "--address",
        help="Ray cluster to join (auto or HOST:PORT; default: start Ray locally, every "
        "local GPU, one run per GPU)",
    )
    p.add_argument(
        "--retrain-changed",
        action="store_true",
        help="retrain completed runs whose recorded settings differ from the config "
        "(default: stop and name the changed field)",
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="skip the HTML report at the end (build it later with `breastbench report OUT`)",
    )
    p.add_argument(
        "--no-explain",
        action="store_true",
        help="report without Grad-CAM / saliency maps (faster)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use frozen-feature / vision-token caches (for checks)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the run ids that would run (after --only) and exit; nothing is written",
    )
    p.set_defaults(func=_run)

    pl = subparsers.add_parser(
        "plan",
        help="show the grid, cache builds and estimated device-hours of an experiment",
        description="The grid of an experiment (runs per configuration, which are complete, "
        "cache builds) and an estimate of device-hours from the packaged throughput table; "
        "works before the data is downloaded.",
    )
    pl.add_argument("experiment", help="experiment YAML file, or a shipped config's name")
    pl.add_argument("--out", help="output folder to check for complete runs")
    _common(pl)
    pl.add_argument(
        "--device-kind",
        default="h100",
        help="throughput table row to estimate with: h100 or cpu, or a kind of the "
        "--throughput file (default: h100)",
    )
    pl.add_argument(
        "--throughput",
        metavar="FILE",
        help="throughput JSON measured on your GPU (bench/gpu_check.sh writes it) to use "
        "instead of the packaged table for the models and device kinds it holds",
    )
    pl.add_argument("--json", action="store_true", help="print the plan as JSON")
    pl.add_argument(
        "--assume-auc",
        type=float,
        default=0.8,
        help="power section: the AUC both configurations of a comparison are assumed to have "
        "(default: 0.8)",
    )
    pl.add_argument(
        "--assume-correlation",
        type=float,
        default=0.5,
        help="power section: the assumed correlation of two configurations' scores given the "
        "class (default: 0.5)",
    )
    pl.add_argument(
        "--assume-difference",
        type=float,
        default=0.05,
        help="power section: the AUC difference to size each comparison for (default: 0.05)",
    )
    pl.add_argument(
        "--power", type=float, default=0.8, help="power section: target power (default: 0.8)"
    )
    pl.set_defaults(func=_plan)

    c = subparsers.add_parser(
        "configs",
        help="the experiment configs shipped with breastbench",
        description="Shipped configs can be named instead of a path: breastbench run NAME.",
    )
    csub = c.add_subparsers(dest="configs_command", metavar="COMMAND")
    csub.required = True
    cl = csub.add_parser("list", help="list the shipped configs with their one-line description")
    cl.add_argument("--paths", action="store_true", help="print each config's file path too")
    cl.set_defaults(func=_configs_list)

    q = subparsers.add_parser(
        "predict",
        help="apply a trained model to new images",
        description="Apply a saved checkpoint (runs/<run_id>/checkpoint) to images or folders.",
    )
    q.add_argument("checkpoint", help="checkpoint folder or run folder")
    q.add_argument("images", nargs="+", help="image files or folders")
    q.add_argument("-o", "--output", default="predictions.csv", help="output CSV")
    q.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    q.add_argument("--batch-size", type=int, default=32)
    q.add_argument(
        "--manifest",
        help="CSV with a 'path' column and the columns a text-context model's template uses "
        "(default: the run folder's manifests)",
    )
    q.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="value for a text-context field, e.g. --context magnification=40 (repeatable)",
    )
    q.add_argument(
        "--perturb",
        metavar="NAME:SEVERITY",
        help="perturb every image first (robustness: list in README), e.g. --perturb blur:3",
    )
    q.add_argument(
        "--perturb-seed",
        type=int,
        default=0,
        help="seed of the perturbation draws (the robustness section's seed; default 0)",
    )
    q.set_defaults(func=_predict)


def _common(p: argparse.ArgumentParser) -> None:
    """Options ``run`` and ``plan`` share: overrides and the preflight switch."""
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one experiment-file value, e.g. --set training.epochs=1 --set "
        "models.0.modes=[linear_probe] (dotted path, list index, YAML value; repeatable)",
    )
    p.add_argument(
        "--skip-preflight",
        action="store_true",
        help="do not check weights, data roots and CSVs before starting (experts)",
    )


def _load(args: argparse.Namespace):
    from breastbench.experiment.config import load_config
    from breastbench.experiment.overrides import config_path

    return load_config(config_path(args.experiment), sets=args.sets)


def resume_command(args: argparse.Namespace, out_dir) -> str:
    """The ``breastbench run`` line that continues this run into the same folder."""
    import shlex

    argv = ["breastbench", "run", str(args.experiment), "--out", str(out_dir)]
    for s in args.sets:
        argv += ["--set", s]
    if args.only:
        argv += ["--only", *args.only]
    for flag, on in (
        ("--no-report", args.no_report),
        ("--no-explain", args.no_explain),
        ("--no-cache", args.no_cache),
        ("--skip-preflight", args.skip_preflight),
    ):
        if on:
            argv.append(flag)
    if args.device:
        argv += ["--device", args.device]
    if args.executor != "local":
        argv += ["--executor", args.executor]
    if args.address:
        argv += ["--address", args.address]
    return shlex.join(argv)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastbench.errors import UserError

    if args.address and args.executor != "ray":
        raise UserError("--address joins a Ray cluster; add --executor ray")
    from breastbench.experiment.runner import run_experiment, selected_runs

    cfg = _load(args)
    if args.dry_run:
        runs = selected_runs(cfg, args.only)
        for spec in runs:
            print(spec.run_id)
        total = len(selected_runs(cfg, None))
        print(f"{len(runs)} of {total} runs selected; nothing written (--dry-run)", file=sys.stderr)
        return 0
    out_dir = Path(args.out or cfg.output_dir).resolve()
    run_experiment(
        cfg,
        out=args.out,
        only=args.only,
        device=args.device,
        resume=args.resume,
        use_cache=not args.no_cache,
        report=not args.no_report,
        retrain_changed=args.retrain_changed,
        executor=args.executor,
        address=args.address,
        explain_maps=not args.no_explain,
        skip_preflight=args.skip_preflight,
        resume_command=resume_command(args, out_dir),
    )
    return 0


def _plan(args: argparse.Namespace) -> int:
    from rich.console import Console

    from breastbench import jsonio
    from breastbench.errors import UserError
    from breastbench.experiment import preflight
    from breastbench.experiment.plan import make_plan, render
    from breastbench.experiment.power_plan import check_assumption, render_power
    from breastbench.experiment.runner import check_models

    cfg = _load(args)
    check_models(cfg)
    assumption = {
        "auc": args.assume_auc,
        "correlation": args.assume_correlation,
        "difference": args.assume_difference,
        "power": args.power,
    }
    check_assumption(assumption)
    plan = make_plan(cfg, args.out, args.device_kind, args.throughput, assumption)
    found = [] if args.skip_preflight else preflight.problems(cfg)
    plan["preflight"] = found
    if args.json:
        print(jsonio.dumps(plan))
    else:
        Console(width=160).print(render(plan))
        power = render_power(plan["power"])
        if power is not None:
            Console(width=160).print(power)
    if found:  # the plan is printed; what would stop `run` is the error, exit 2
        raise UserError(preflight.message(found))
    return 0


def _configs_list(args: argparse.Namespace) -> int:
    from breastbench.experiment.overrides import describe, shipped

    for name, path in shipped().items():
        print(f"{name}: {describe(path)}" + (f"\n  {path}" if args.paths else ""))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from breastbench.errors import UserError
    from breastbench.experiment.predict import check_output, predict_images, write_predictions
    from breastbench.experiment.provenance import resolve_device
    from breastbench.imaging import perturb

    context = {}
    for item in args.context:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"--context {item}: expected KEY=VALUE, e.g. magnification=40")
        if name in context:
            raise UserError(f"--context {name}: given twice; give each field once")
        context[name] = value
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be at least 1")
    check_output(args.output)  # a folder given as -o is refused before the model loads
    df = predict_images(
        args.checkpoint,
        args.images,
        resolve_device(args.device),
        args.batch_size,
        manifest=args.manifest,
        context=context,
        perturbation=perturb.parse(args.perturb) if args.perturb else None,
        perturb_seed=args.perturb_seed,
    )
    write_predictions(df, args.output)
    print(f"{len(df)} predictions written to {args.output}")
    return 0
