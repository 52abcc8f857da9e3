"""``breastbench run`` and ``breastbench predict``."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``run`` and ``predict`` commands."""
    p = subparsers.add_parser(
        "run",
        help="run an experiment YAML (datasets x models x modes x folds)",
        description="Run every pending unit of an experiment; completed runs are skipped and "
        "interrupted runs resume from their last epoch checkpoint.",
    )
    p.add_argument("experiment", help="experiment YAML file (see configs/)")
    p.add_argument("--out", help="output folder (default: output_dir of the YAML)")
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
    p.set_defaults(func=_run)

    pl = subparsers.add_parser(
        "plan",
        help="show the grid, cache builds and estimated device-hours of an experiment",
        description="The grid of an experiment (runs per configuration, which are complete, "
        "cache builds) and an estimate of device-hours from the packaged throughput table; "
        "works before the data is downloaded.",
    )
    pl.add_argument("experiment", help="experiment YAML file")
    pl.add_argument("--out", help="output folder to check for complete runs")
    pl.add_argument(
        "--device-kind",
        default="h100",
        choices=["h100", "cpu"],
        help="throughput table row to estimate with (default: h100)",
    )
    pl.add_argument("--json", action="store_true", help="print the plan as JSON")
    pl.set_defaults(func=_plan)

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


def _run(args: argparse.Namespace) -> int:
    from breastbench.errors import UserError

    if args.address and args.executor != "ray":
        raise UserError("--address joins a Ray cluster; add --executor ray")
    from breastbench.experiment.config import load_config
    from breastbench.experiment.runner import run_experiment

    cfg = load_config(args.experiment)
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
    )
    return 0


def _plan(args: argparse.Namespace) -> int:
    from rich.console import Console

    from breastbench import jsonio
    from breastbench.experiment.config import load_config
    from breastbench.experiment.plan import make_plan, render
    from breastbench.experiment.runner import check_models

    cfg = load_config(args.experiment)
    check_models(cfg)
    plan = make_plan(cfg, args.out, args.device_kind)
    if args.json:
        print(jsonio.dumps(plan))
    else:
        Console(width=160).print(render(plan))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from breastbench.errors import UserError
    from breastbench.experiment import perturb
    from breastbench.experiment.predict import predict_images, write_predictions
    from breastbench.experiment.provenance import resolve_device

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
