"""Helpers of the results-layer end-to-end tests: synthetic datasets, strict JSON check."""

from __future__ import annotations

from pathlib import Path


def datasets(synth: Path, mags=(200,)) -> list[dict]:
    """The two datasets of the histopathology study, on synthetic trees."""
    return [
        {
            "name": "breakhis",
            "source": "synthetic-breakhis",
            "root": str(synth / "breakhis"),
            "task": "binary",
            "magnifications": list(mags),
        },
        {
            "name": "bach",
            "source": "synthetic-bach",
            "root": str(synth / "bach"),
            "task": "binary",
            "cross_validate": False,
        },
    ]


def strict_json_files(root: Path) -> list[Path]:
    """Every JSON file under ``root``, each parsed with NaN/Infinity refused."""
    import json

    def refuse(const):
        raise ValueError(f"non-standard JSON constant {const}")

    files = sorted(root.rglob("*.json"))
    for f in files:
        json.loads(f.read_text(), parse_constant=refuse)
    return files
