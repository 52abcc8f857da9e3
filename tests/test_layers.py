"""No module imports from a floor above its own (the floors listed in docs/DESIGN.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "breastbench"
DESIGN = ROOT / "docs" / "DESIGN.md"


def floors(text: str) -> dict[str, int]:
    """Unit name (subpackage or top-level module) -> floor, from the "Import floors" list."""
    section = text.split("## Import floors", 1)[1].split("\n## ", 1)[0]
    out: dict[str, int] = {}
    for number, names in re.findall(r"^(\d+)\. (.+)$", section, flags=re.M):
        for name in names.split(","):
            out[name.strip()] = int(number)
    return out


def unit(module: str) -> str:
    """``breastbench.models.clip`` -> ``models``; ``breastbench.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path, src: Path) -> str:
    """The dotted name of a source file of the package folder ``src``."""
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, src: Path) -> list[tuple[int, str]]:
    """Every ``breastbench`` module a file imports, at any depth (lazy imports count)."""
    package = module_name(path, src).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                base = ".".join([*package[: len(package) - node.level + 1], base]).rstrip(".")
            if base == "breastbench":  # from breastbench import jsonio
                found += [(node.lineno, f"breastbench.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.split(".")[0] == "breastbench"]


def violations(src: Path, table: dict[str, int]) -> list[str]:
    """One line per upward import or unlisted module."""
    problems = []
    for path in sorted(src.rglob("*.py")):
        name = module_name(path, src)
        own = unit(name)
        if own and own not in table:
            problems.append(f"{name}: no floor in docs/DESIGN.md lists {own!r}")
            continue
        for line, target in imports(path, src):
            other = unit(target)
            if not own or not other or other == own or other not in table:
                continue
            if table[other] > table[own]:
                problems.append(
                    f"{path.relative_to(src.parent)}:{line}: {name} (floor {table[own]}, {own}) "
                    f"imports {target} (floor {table[other]}, {other})"
                )
    return problems


def test_design_lists_every_unit_once():
    table = floors(DESIGN.read_text())
    units = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    units |= {p.parent.name for p in SRC.glob("*/__init__.py")}
    assert set(table) == units, f"DESIGN.md floors vs src: {set(table) ^ units}"


def test_no_module_imports_from_a_floor_above_its_own():
    problems = violations(SRC, floors(DESIGN.read_text()))
    assert not problems, "imports that run upward:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "code",
    [
        "from breastbench.experiment.augment import resize_to\n",
        "def f():\n    from breastbench.experiment import schema\n",
        "import breastbench.experiment.stain\n",
        "from ..experiment import stain\n",
    ],
)
def test_an_upward_import_is_named(tmp_path, code):
    pkg = tmp_path / "breastbench"
    (pkg / "models").mkdir(parents=True)
    (pkg / "experiment").mkdir()
    for init in (pkg, pkg / "models", pkg / "experiment"):
        (init / "__init__.py").write_text("")
    (pkg / "models" / "bad.py").write_text(code)
    (pkg / "experiment" / "fine.py").write_text("from breastbench.models import bad\n")
    problems = violations(pkg, {"models": 4, "experiment": 6})
    assert len(problems) == 1
    assert "breastbench/models/bad.py" in problems[0] and "breastbench.experiment" in problems[0]
