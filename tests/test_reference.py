"""docs/REFERENCE.md is generated from the schema and the parser, and is current."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from breastbench.reference import reference_markdown

DOC = Path(__file__).parents[1] / "docs" / "REFERENCE.md"


def test_reference_page_is_current():
    assert DOC.read_text() == reference_markdown(), (
        "docs/REFERENCE.md is stale: python -m breastbench.reference > docs/REFERENCE.md"
    )


def test_every_config_key_and_cli_option_is_documented():
    from breastbench.cli import build_parser
    from breastbench.experiment.config import ExperimentConfig, ModelConfig, TrainingConfig

    text = DOC.read_text()
    for cls, prefix in (
        (ExperimentConfig, ""),
        (ModelConfig, "models[]."),
        (TrainingConfig, "training."),
    ):
        for f in dataclasses.fields(cls):
            assert f"`{prefix}{f.name}`" in text, f.name
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, child in sub.choices.items():
        for action in child._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}`" in text, (name, flag)


def test_readme_source_options_are_accepted():
    """Every `options: {...}` key the README shows for a source is one that source accepts."""
    import re

    from breastbench.data.sources import source_options

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    found = re.findall(r"`(density-csv)` with\s+`options: \{([^}]*)\}`", readme.replace("\n", " "))
    assert found, "README example for density-csv options not found"
    for source, body in found:
        keys = [kv.split(":")[0].strip() for kv in body.split(",")]
        assert set(keys) <= set(source_options(source)), (source, keys)
