"""The README's `--only` example: a partial run is scoped, never "missing"."""

from __future__ import annotations

import json
import re

import pandas as pd

from breastbench.cli import main
from breastbench.experiment.config import load_config
from breastbench.experiment.grid import expand

MODELS = [
    {"name": "cnn/test-resnet", "label": "ResNet34", "modes": ["linear_probe"]},
    # a second configuration (an exact duplicate entry is rejected as a mistake)
    {"name": "cnn/test-resnet", "label": "AlexNet", "modes": ["linear_probe"], "input_size": 48},
]


def body(path) -> str:
    """The report's text without its stylesheet (which styles a .missing cell class)."""
    html = re.sub(r"<style>.*?</style>", "", path.read_text(), flags=re.S).lower()
    # the environment table counts broken runs: zero here
    assert "<td>runs missing or broken</td><td>0</td>" in html
    return html.replace("<td>runs missing or broken</td><td>0</td>", "")


def test_readme_only_example_is_scoped(write_config, tmp_path, capsys, monkeypatch):
    cfg = write_config(MODELS, k=2, name="my")
    monkeypatch.chdir(tmp_path)
    expected = sorted(s.run_id for s in expand(load_config(cfg)) if "resnet34" in s.run_id.lower())
    assert len(expected) == 2

    # --dry-run lists exactly the selected ids, writes nothing
    assert main(["run", "my.yaml", "--only", "*resnet34*", "--out", "runs/try1", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == expected and "2 of 4 runs selected" in captured.err
    assert not (tmp_path / "runs").exists()

    # the README line, as written (with --no-explain to keep the test short)
    argv = ["run", "my.yaml", "--only", "*resnet34*", "--out", "runs/try1", "--no-explain"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "missing" not in err.lower()
    assert err.count("not selected") == 1 and "2 other runs of the grid not selected" in err
    assert "ResNet34" in err and "AlexNet" not in err
    out = tmp_path / "runs" / "try1"
    agg = pd.read_csv(out / "summary" / "aggregate.csv")
    assert set(agg["model"]) == {"ResNet34"} and (agg["n"] == agg["n_expected"]).all()
    analysis = json.loads((out / "summary" / "analysis.json").read_text())
    assert analysis["problems"] == [] and analysis["not_selected"] == 2
    html = body(out / "report" / "report.html")
    assert "missing" not in html and "not selected" in html and "alexnet" not in html

    # `report OUT --only` does the same; without --only the gaps are real and named
    assert main(["report", str(out), "--only", "*resnet34*", "--no-explain"]) == 0
    printed = capsys.readouterr().out
    assert "missing" not in printed.lower() and "warning" not in printed
    assert "not selected" in printed
    assert "missing" not in body(out / "report" / "report.html")
    assert main(["report", str(out), "--no-explain"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("warning: run") == 2 and "AlexNet" in printed
