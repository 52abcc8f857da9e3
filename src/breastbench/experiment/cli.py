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
        help="run only run ids containing PATTERN or matching a glob, e.g. '*resnet34*fold0'",
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
        "--no-cache",
        action="store_true",
        help="do not use frozen-feature / vision-token caches (for checks)",
    )
    p.set_defaults(func=_run)

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
    q.set_defaults(func=_predict)


def _run(args: argparse.Namespace) -> int:
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
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    from breastbench.experiment.predict import predict_images, write_predictions
    from breastbench.experiment.provenance import resolve_device

    df = predict_images(args.checkpoint, args.images, resolve_device(args.device), args.batch_size)
    write_predictions(df, args.output)
    print(f"{len(df)} predictions written to {args.output}")
    return 0
