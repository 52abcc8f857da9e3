"""The results table at 80 columns, on a terminal and in a log, and `models list` widths."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))

from runfolder import (  # noqa: E402
    BINARY,
    base_info,
    make_run_folder,
    predictions,
    run_id,
    write_run,
)

from breastbench.cli import main  # noqa: E402
from breastbench.report.collect import collect_runs  # noqa: E402
from breastbench.report.terminal import results_view, write_table  # noqa: E402
from breastbench.results.analysis import write_summary  # noqa: E402

LONG = "Qwen2-VL-2B[lora_scope=connector,lora_r=16]"  # a sweep label, 44 characters


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = make_run_folder(tmp_path_factory.mktemp("w"), density=True)
    for fold, acc in enumerate((0.61, 0.72, 0.83)):
        rid = run_id("breakhis_x", 40, LONG, "lora", "off", fold)
        info = base_info("breakhis_x", 40, LONG, "lora", "off", fold, BINARY, "binary")
        preds = predictions(BINARY, fold, 12, 1.0, 500 + fold)
        write_run(root, rid, info, {"accuracy": acc, "auc": acc + 0.1}, preds)
    write_summary(root)
    return root


def expected_rows(root) -> list[tuple[str, str]]:
    """(model label, accuracy mean±std) per configuration, computed here with pandas."""
    rows = []
    for m in sorted(root.glob("runs/*/metrics.json")):
        info = json.loads((m.parent / "run.json").read_text())
        rows.append({**info, "accuracy": json.loads(m.read_text())["accuracy"]})
    df = pd.DataFrame(rows).fillna({"magnification": -1, "external": ""})
    keys = ["dataset", "magnification", "model", "mode", "augmentation", "external"]
    out = []
    for (_, _, model, *_), g in df.groupby(keys):
        acc = g["accuracy"].to_numpy()
        text = f"{acc.mean():.3f}"
        if len(acc) > 1:
            text += f"±{np.std(acc, ddof=1):.3f}"
        out.append((model, text))
    return out


@pytest.mark.parametrize("terminal", [True, False])
def test_every_label_and_value_at_80_columns(folder, terminal):
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=terminal, color_system=None)
    console.print(results_view(console, folder, collect_runs(folder)))
    text = buf.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    lines = text.splitlines()
    expected = expected_rows(folder)
    assert len(expected) == 12
    for model, acc in expected:  # the label and its values, on the label's own row pair
        hits = [i for i, line in enumerate(lines) if model in line]
        assert any(acc in lines[i] or acc in lines[i + 1] for i in hits), (model, acc)
    assert "missing: fold" not in text  # nothing missing in this folder
    assert "QWK" in text and LONG in text


def test_the_whole_table_goes_to_a_file(folder, tmp_path):
    path = write_table(folder, collect_runs(folder), tmp_path / "table.txt")
    text = path.read_text()
    assert "…" not in text and LONG in text and "\x1b[" not in text
    for model, acc in expected_rows(folder):
        assert any(model in line and acc in line for line in text.splitlines()), (model, acc)


def test_wide_terminal_keeps_the_table(folder):
    console = Console(file=io.StringIO(), width=200)
    assert type(results_view(console, folder, collect_runs(folder))).__name__ == "Table"


@pytest.mark.parametrize("columns", [80, 200])
def test_models_list_fits_the_terminal(monkeypatch, capsys, columns):
    from breastbench.models import list_models

    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["models", "list"]) == 0
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) <= columns
    names = {line.split()[1] for line in text.splitlines() if line.startswith(("│", "|"))}
    assert set(list_models()) <= names
    assert ("┃ licence" in text) == (columns >= 140)
