"""Golden tests of the table builders and writers on hand-made run folders."""

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from runfolder import make_run_folder  # noqa: E402

from breastbench.report.collect import collect_runs  # noqa: E402
from breastbench.report.summary import summarize  # noqa: E402
from breastbench.report.tables import (  # noqa: E402
    all_tables,
    density_table,
    external_table,
    results_tables,
)
from breastbench.report.writers import latex_escape, to_csv, to_html, to_latex, to_markdown  # noqa: E402
from breastbench.results.analysis import write_summary  # noqa: E402


@pytest.fixture(scope="module")
def summaries(tmp_path_factory):
    root = make_run_folder(tmp_path_factory.mktemp("runs"))
    write_summary(root)
    return summarize(collect_runs(root))


def _row(table, model, mag):
    return next(r for r in table.rows if r[0].text == model and r[2].text == mag)


def test_mean_and_sample_std(summaries):
    cnn = next(
        s
        for s in summaries
        if s.model == "cnn/test_resnet"
        and s.magnification == 40
        and s.augmentation == "off"
        and not s.external
    )
    ref = np.array([0.9, 0.8, 0.7])
    assert cnn.mean["accuracy"] == pytest.approx(ref.mean())
    assert cnn.std["accuracy"] == pytest.approx(ref.std(ddof=1))  # 0.1, not the population 0.08
    assert cnn.n["accuracy"] == 3
    ext = next(s for s in summaries if s.external)
    assert ext.n["accuracy"] == 1 and np.isnan(ext.std["accuracy"])  # one seed: no std


def test_results_tables_golden(summaries):
    tables = results_tables(summaries)
    keys = [t.key for t in tables]
    assert keys == [
        "results_breakhis-x_aug-off",
        "results_breakhis-x_aug-on",
        "results_density-demo_aug-off",
    ]
    off = tables[0]
    assert off.header == ["Model", "Mode", "Magnification", "Accuracy", "F1-score", "AUC", "Folds"]
    # CNNs first (paper order), magnifications ascending
    assert [(r[0].text, r[2].text) for r in off.rows] == [
        ("cnn/test_resnet", "40×"),
        ("cnn/test_resnet", "100×"),
        ("clip/test-biomedclip", "40×"),
        ("clip/test-biomedclip", "100×"),
    ]
    row = _row(off, "cnn/test_resnet", "40×")
    assert [c.text for c in row[3:]] == ["0.8000 ± 0.100", "0.7500 ± 0.100", "0.8500 ± 0.100", "3"]
    assert not any(c.bold for c in row)
    best = _row(off, "cnn/test_resnet", "100×")
    assert [c.bold for c in best[3:6]] == [True, True, True]
    vlm = _row(off, "clip/test-biomedclip", "40×")
    assert vlm[3].text == "0.6500 ± 0.050"


def test_best_marking_ties_and_lower_is_better(summaries):
    on = results_tables(summaries)[1]
    # both CNN magnifications tie at 0.81 with augmentation: both are marked
    assert [r[3].bold for r in on.rows] == [True, True, False, False]
    s = copy.deepcopy(
        [
            x
            for x in summaries
            if x.dataset == "breakhis_x" and not x.external and x.augmentation == "off"
        ]
    )[:2]
    s[0].mean["ece"], s[0].std["ece"] = 0.05, 0.01
    s[1].mean["ece"], s[1].std["ece"] = 0.20, 0.01
    table = results_tables(s)[0]
    col = table.header.index("ECE")
    assert [r[col].bold for r in table.rows] == [True, False]


def test_external_and_density_tables(summaries):
    ext = external_table(summaries)
    assert ext.rows[0][2].text == "breakhis_x 40×"
    assert ext.rows[0][3].text == "bach_x"
    assert ext.rows[0][ext.header.index("Accuracy")].text == "0.7500"  # one model: no std
    dens = density_table(summaries)
    assert dens.header == [
        "Dataset",
        "Model",
        "Mode",
        "Accuracy",
        "Macro-F1",
        "QWK",
        "AUC",
        "Folds",
    ]
    cnn = dens.rows[0]
    assert [c.text for c in cnn[3:7]] == [
        "0.7100 ± 0.010",
        "0.6500 ± 0.000",
        "0.6000 ± 0.000",
        "0.8000 ± 0.000",
    ]
    assert all(c.bold for c in cnn[3:7])
    assert dens.rows[1][2].text == "zero-shot"


def test_latex_escaping():
    assert latex_escape("a_b%c&d#e$f{g}h~i^j\\k") == (
        r"a\_b\%c\&d\#e\$f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
    )
    assert latex_escape("0.8000 ± 0.100") == r"0.8000 $\pm$ 0.100"
    assert latex_escape("40×") == r"40$\times$"


def test_writers(summaries):
    off = results_tables(summaries)[0]
    tex = to_latex(off)
    assert r"cnn/test\_resnet & fine-tune & 40$\times$ & 0.8000 $\pm$ 0.100" in tex
    assert r"\textbf{0.8100 $\pm$ 0.100}" in tex
    assert tex.count(r"\\") == len(off.rows) + 1
    assert r"\begin{tabular}{lllrrrr}" in tex
    md = to_markdown(off)
    assert "| cnn/test_resnet | fine-tune | 100× | **0.8100 ± 0.100** |" in md
    csv = to_csv(off).splitlines()
    assert csv[0] == "Model,Mode,Magnification,Accuracy,F1-score,AUC,Folds,best"
    assert csv[2].endswith(",3,Accuracy;F1-score;AUC")
    html = to_html(off)
    assert "<strong>0.8100 ± 0.100</strong>" in html


def test_all_tables_keys_unique(summaries):
    keys = [t.key for t in all_tables(summaries)]
    assert len(keys) == len(set(keys))
    assert json.dumps(keys)
