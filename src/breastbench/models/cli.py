"""``breastbench models list`` and ``models info NAME [--mode M] [--option K=V ...] [--json]``.

``info`` builds the architecture on the meta device (no weights, no download), so it answers
"how many parameters train under LoRA / linear probing?" on any machine.
"""

from __future__ import annotations

import argparse
import json

from breastbench.models.registry import MODES


def register(subparsers) -> None:
    """Register the ``models`` command group."""
    p = subparsers.add_parser("models", help="list registered models and show their details")
    sub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    sub.required = True

    ls = sub.add_parser("list", help="table of every registered model")
    ls.add_argument("--family", choices=("cnn", "vit", "clip", "vlm"), help="only this family")
    ls.set_defaults(func=_list)

    info = sub.add_parser("info", help="parameter counts, input size, weights source, licence")
    info.add_argument("name", help="registered name, e.g. cnn/resnet34")
    info.add_argument("--mode", choices=MODES, help="count trainable parameters under this mode")
    info.add_argument(
        "--num-classes",
        type=int,
        help="head size (default: 1000 for CNNs, i.e. the ImageNet head; 2 otherwise)",
    )
    info.add_argument(
        "--weights",
        help="also build with these weights ('pretrained' or a local file/folder) to check that "
        "they are available and fit; counts still come from the meta-device build",
    )
    info.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model option as under `options:` in a config (repeatable; values are YAML "
        "scalars, e.g. --option lora_r=8 --option lora_scope=vision)",
    )
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=_info)


def parse_options(items: list[str]) -> dict:
    """``["lora_r=8", "lora_scope=vision"]`` -> ``{"lora_r": 8, "lora_scope": "vision"}``.

    Values are parsed as YAML scalars, exactly as they would be read from a config file.
    """
    import yaml

    from breastbench.errors import UserError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--option {item!r}: expected KEY=VALUE, e.g. --option lora_r=8")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise UserError(f"--option {item!r}: value is not a YAML scalar") from None
    return out


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from breastbench.models import get_info, list_models

    console = Console()  # the terminal's width (80 in a log unless COLUMNS says otherwise)
    wide = console.width >= 140  # room for the weights source and licence columns
    table = Table(title="breastbench models")
    columns = ("name", "family", "weights", "input", "modes", "licence", "gated")
    for col in columns if wide else ("name", "family", "input", "modes", "gated"):
        # names never break, so each can be copied into a config
        table.add_column(col, overflow="fold", no_wrap=col == "name")
    for name in list_models(args.family):
        i = get_info(name)
        weights = "random (test model)" if i.test_variant else i.weights
        size = "x".join(str(v) for v in i.input_size[1:])
        gated = "yes" if i.gated else ""
        modes = ", ".join(i.modes)
        if wide:
            table.add_row(name, i.family, weights, size, modes, i.licence, gated)
        else:
            table.add_row(name, i.family, size, modes, gated)
    console.print(table)
    if not wide:
        console.print("weights and licence: breastbench models info NAME (or a wider terminal)")
    return 0


def _info(args: argparse.Namespace) -> int:
    from breastbench.models.info import model_info

    options = parse_options(args.option)
    d = model_info(args.name, mode=args.mode, num_classes=args.num_classes, options=options)
    if args.weights:
        from breastbench.models import create

        model = create(args.name, d["num_classes"], weights=args.weights, **options)
        d["weights_loaded"] = model.weights_source
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=args.name, show_header=False)
    for key, value in d.items():
        if isinstance(value, int) and key.endswith("params"):
            value = f"{value:,} ({value / 1e6:.2f}M)"
        elif isinstance(value, dict) and key == "trainable_by_part":
            value = ", ".join(f"{part} {n / 1e6:.2f}M" for part, n in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        table.add_row(key, str(value))
    Console(width=160).print(table)
    return 0
