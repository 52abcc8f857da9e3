"""The reference page (docs/REFERENCE.md), generated from the config schema and the CLI parser.

Every experiment-file key and every command-line option is listed from the code that accepts
it, so the documentation cannot drift from it: a test regenerates the page and compares.
Regenerate with ``python -m breastbench.reference > docs/REFERENCE.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

from breastbench.experiment.schema import _type_name


def _dataclass_of(tp):
    for arg in (tp, *typing.get_args(tp)):
        if dataclasses.is_dataclass(arg):
            return arg
        for inner in typing.get_args(arg):
            if dataclasses.is_dataclass(inner):
                return inner
    return None


def _config_rows(cls, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            default = "see below" if dataclasses.is_dataclass(value) else repr(value)
        else:
            default = "required"
        help_text = f.metadata.get("help", "").replace("|", "\\|")
        kind = _type_name(hints[f.name]).replace("|", "\\|")
        rows.append(f"| `{path}` | {kind} | `{default}` | {help_text} |")
        nested = _dataclass_of(hints[f.name])
        if nested is not None:
            sep = "[]." if typing.get_origin(hints[f.name]) is list else "."
            rows += _config_rows(nested, f"{path}{sep}")
    return rows


def config_reference() -> str:
    """Markdown table of every experiment-file key."""
    from breastbench.experiment.config import ExperimentConfig

    head = ["| key | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join(head + _config_rows(ExperimentConfig))


def cli_reference() -> str:
    """Markdown list of every command and option."""
    from breastbench.cli import build_parser

    parser = build_parser()
    out = []

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        opts = [a for a in p._actions if not isinstance(a, argparse._SubParsersAction)]
        shown = [a for a in opts if a.dest != "help"]
        if shown and name:
            out.append(f"### `{name}`\n")
            out.append((p.description or "").strip() + "\n")
            for a in shown:
                flags = ", ".join(f"`{s}`" for s in a.option_strings) or f"`{a.metavar or a.dest}`"
                out.append(f"- {flags}: {(a.help or '').strip()}")
            out.append("")
        for sub in subs:
            for cmd, child in sub.choices.items():
                walk(child, f"{name} {cmd}".strip())

    walk(parser, "")
    return "\n".join(out)


def reference_markdown() -> str:
    """The whole page."""
    return (
        "# breastbench reference\n\n"
        "Generated from the code (`python -m breastbench.reference > docs/REFERENCE.md`); a test "
        "keeps it current.\n\n"
        "## Experiment file keys\n\n"
        "Lists of sections (`datasets`, `models`, `external`) take the keys shown with `[]`; "
        "a model entry also takes `sweep: {option: [values]}` (one labelled configuration per "
        "combination); an external entry also takes `tests: [{dataset, label_map}]` (one "
        "validation per test set) or `leave_one_source_out: [datasets]` (one per held-out "
        "dataset, trained on the others pooled: a dataset `{name: loso-minus-<held-out>, source: "
        "union, options: {members: [...]}, cross_validate: false}` is added per held-out "
        "dataset).\n\n"
        f"{config_reference()}\n\n## Commands\n\n{cli_reference()}\n"
    )


if __name__ == "__main__":
    print(reference_markdown(), end="")
