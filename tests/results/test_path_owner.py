"""results/ owns every path and file name of a run folder; every file goes through one write.

Read with :mod:`ast` over ``src/breastbench``:

- outside ``breastbench.results``, no module joins a run-folder name (``"runs"``,
  ``"summary"``, ``"metrics.json"``, ``"predictions.csv"``, ``"grid.json"``, ``"manifests"``,
  a summary table's file name...) to a path, nor climbs out of a run's folder with
  ``.parent.parent.parent``: they ask :class:`breastbench.results.RunFolder`;
- no module writes a file (``open(..., "w")``, ``write_text``/``write_bytes``, ``to_csv``,
  ``savefig``, ``np.save``, ``json.dump``, ``torch.save``...) except inside a callable handed
  to :func:`breastbench.jsonio.atomic_write`, the one atomic write (``jsonio`` itself is it).
"""

from __future__ import annotations

import ast
from pathlib import Path

from breastbench.results import layout

SRC = Path(__file__).parents[2] / "src" / "breastbench"

RUN_FOLDER_NAMES = {
    layout.MARKER,
    layout.CONFIG,
    layout.GRID,
    layout.LOG,
    layout.RUNS,
    layout.PARTIAL,
    layout.MANIFESTS,
    layout.CACHE,
    layout.SUMMARY,
    layout.REPORT,
    layout.RUN_INFO,
    layout.METRICS,
    layout.PREDICTIONS,
    layout.HISTORY,
    layout.CHECKPOINT,
    layout.ROBUSTNESS,
    layout.ANALYSIS,
    *(f"{name}.csv" for name in (*layout.SUMMARY_TABLES, *layout.ROBUSTNESS_TABLES)),
    f"{layout.SUBGROUPS}.csv",
    f"{layout.TABLE}.txt",
    *layout.TRACKING.values(),
}
# calls that write a file: (module or None for any object's method, attribute name)
WRITE_METHODS = {
    "write_text",
    "write_bytes",
    "to_csv",
    "to_parquet",
    "to_excel",
    "to_json",
    "savefig",
    "save_as",
    "imwrite",
    "open_memmap",
}
WRITE_FUNCTIONS = {
    ("np", "save"),
    ("np", "savez"),
    ("np", "savez_compressed"),
    ("json", "dump"),
    ("torch", "save"),
    ("pydicom", "dcmwrite"),
    (None, "save_file"),  # safetensors
}
PATH_CALLS = {"Path", "joinpath", "with_name", "glob", "rglob", "join"}
# writers that may bypass the atomic helper, each with the reason
WRITE_ALLOWED = {
    "jsonio.py": "the atomic helper itself",
    "data/synth_histology.py": "writes a synthetic tree inside the temporary folder that "
    "data/synthetic.py renames into place (the whole tree is one atomic write)",
    "data/synth_density.py": "same: inside data/synthetic.py's temporary folder",
    "data/synth_mammo.py": "same: inside data/synthetic.py's temporary folder",
    "data/synth_multicenter.py": "same: inside data/synthetic.py's temporary folder",
    "experiment/images.py": "streams the image cache into memory-mapped temporaries (too large "
    "for one in-memory write), renamed into place; stale ones are swept by process id",
}


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _strings(node: ast.AST) -> list[str]:
    """String constants of ``node``, including the literal parts of an f-string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    return []


def _path_offences(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        operands: list[ast.AST] = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            operands = [node.left, node.right]
        elif isinstance(node, ast.Call) and _name(node.func) in PATH_CALLS:
            operands = list(node.args)
        for operand in operands:
            for text in _strings(operand):
                if text in RUN_FOLDER_NAMES or text.lstrip("/") in RUN_FOLDER_NAMES:
                    out.append((node.lineno, f"joins {text!r} to a path"))
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "parent"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "parent"
            and isinstance(node.value.value, ast.Attribute)
            and node.value.value.attr == "parent"
        ):
            out.append((node.lineno, "climbs .parent.parent.parent"))
    return out


def _writes_file(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name) and func.id == "open":
        mode = call.args[1] if len(call.args) > 1 else None
        mode = next((k.value for k in call.keywords if k.arg == "mode"), mode)
        text = mode.value if isinstance(mode, ast.Constant) else "r"
        return isinstance(text, str) and any(c in text for c in "wx")
    if isinstance(func, ast.Attribute):
        owner = _name(func.value)
        if func.attr in WRITE_METHODS:
            return True
        return (owner, func.attr) in WRITE_FUNCTIONS or (None, func.attr) in WRITE_FUNCTIONS
    return isinstance(func, ast.Name) and (None, func.id) in WRITE_FUNCTIONS


def _write_offences(tree: ast.AST) -> list[tuple[int, str]]:
    inside_helper: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == "atomic_write":
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                inside_helper |= {id(n) for n in ast.walk(arg)}
    return [
        (node.lineno, f"writes a file outside the atomic helper: {ast.unparse(node.func)}(...)")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and id(node) not in inside_helper and _writes_file(node)
    ]


def _offences(rel: str, source: str) -> list[str]:
    tree = ast.parse(source)
    found = [] if rel.startswith("results/") else _path_offences(tree)
    if rel not in WRITE_ALLOWED:
        found += _write_offences(tree)
    return [f"{rel}:{line}: {why}" for line, why in sorted(found)]


def test_only_results_builds_run_folder_paths_and_every_write_is_atomic():
    offences = []
    for path in sorted(SRC.rglob("*.py")):
        offences += _offences(path.relative_to(SRC).as_posix(), path.read_text())
    assert offences == []


def test_every_allowed_writer_exists_and_says_why():
    for rel, reason in WRITE_ALLOWED.items():
        assert (SRC / rel).is_file(), rel
        assert len(reason) > 20


def test_the_check_catches_each_kind_of_offence():
    cases = {
        'out = run_dir / "summary" / "aggregate.csv"': "joins 'summary'",
        'p = Path(root, "runs")': "joins 'runs'",
        'p = folder / f"{name}" / "metrics.json"': "joins 'metrics.json'",
        "run_dir = ckpt.parent.parent.parent": "climbs",
        'open(p, "w").write("x")': "open(...)",
        'path.write_text("x")': "write_text",
        "df.to_csv(path, index=False)": "to_csv",
        "fig.savefig(path)": "savefig",
        "np.save(path, a)": "np.save",
        "json.dump(obj, fh)": "json.dump",
        "torch.save(state, path)": "torch.save",
    }
    for code, what in cases.items():
        found = _offences("report/x.py", code)
        assert found and all(what in f or "joins" in f for f in found), (code, found)
        assert any(what in f for f in found), (code, found)


def test_the_check_allows_reads_and_the_atomic_helper():
    allowed = [
        'open(p, "rb").read()',
        'open(p, encoding="utf-8")',
        "jsonio.atomic_write(path, lambda tmp: np.save(tmp, a))",
        "jsonio.atomic_write(p, lambda tmp: fig.savefig(tmp, format='png'))",
        'folder.summary_path("roc")',
        'parser.add_parser("report")',
        'sub = root / "images"',
    ]
    for code in allowed:
        assert _offences("report/x.py", code) == [], code
    assert _offences("results/folder.py", 'p = self.root / "runs"') == []
