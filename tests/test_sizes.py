"""Small modules and functions (issue 20): no module over 400 lines, no function over 80.

Argparse registration (``register`` in a ``cli.py``) is exempt: it is one flat list of options.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "breastbench"
MAX_MODULE, MAX_FUNCTION = 400, 80


def test_no_module_over_400_lines():
    big = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE
    }
    assert big == {}


def test_no_function_over_80_lines_outside_argparse_registration():
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if path.name == "cli.py" and node.name == "register":
                continue
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION:
                long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert long == []
