"""Command-line overrides (``--set training.epochs=1``) and shipped configs by name.

``--set KEY=VALUE`` edits the raw experiment mapping before it is validated, so an override
goes through the same schema, with the same one-line errors, as a value written in the file.
``KEY`` is a dotted path; a number picks a list entry (``models.0.modes``); ``VALUE`` is read as
YAML (``1``, ``1e-4``, ``true``, ``[linear_probe, lora]``, ``{k: 3}``, ``null``).

A shipped config (``src/breastbench/configs/*.yaml``, installed with the package) can be named
instead of given as a path: ``breastbench run breakhis_cnn_vs_vlm``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from breastbench.errors import UserError


def shipped() -> dict[str, Path]:
    """Name -> path of every config shipped with the package."""
    folder = Path(str(resources.files("breastbench") / "configs"))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def describe(path: Path) -> str:
    """The first comment line of a config file (its one-line description)."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def config_path(name: str) -> Path:
    """A YAML path as given, or the shipped config called ``name`` (``.yaml`` optional)."""
    path = Path(name)
    if path.is_file():
        return path
    configs = shipped()
    stem = name.removesuffix(".yaml").removesuffix(".yml")
    if "/" not in name and stem in configs:
        return configs[stem]
    raise UserError(
        f"experiment file not found: {name}; give a YAML path or a shipped config name "
        f"({', '.join(configs)}; see `breastbench configs list`)"
    )


def parse(item: str) -> tuple[list[str], object]:
    """``a.b.0=VALUE`` -> (['a', 'b', '0'], parsed YAML value)."""
    key, sep, text = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not key.strip() or any(not p for p in parts):
        raise UserError(
            f"--set {item}: expected KEY=VALUE with a dotted key, e.g. --set training.epochs=1"
        )
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"--set {item}: the value is not valid YAML ({problem})") from None
    return parts, value


def apply(raw: dict, items: list[str]) -> dict:
    """Apply ``--set`` items to the raw experiment mapping (in place); return it."""
    for item in items:
        parts, value = parse(item)
        node = raw
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            here = ".".join(parts[:depth]) or "the experiment file"
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise UserError(
                        f"--set {item}: {here} is a list of {len(node)} entries; use an index "
                        f"0-{len(node) - 1} after {here}."
                    )
                index = int(part)
                if last:
                    node[index] = value
                else:
                    node = node[index]
                continue
            if not isinstance(node, dict):
                raise UserError(
                    f"--set {item}: {here} is {node!r}, not a mapping; set {here} itself"
                )
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}  # a section the file leaves out: its defaults, then this
                node = node[part]
    return raw
