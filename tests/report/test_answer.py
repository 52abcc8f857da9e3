"""The answer first: names not hashes, headline sentence and forest data from summary/."""

import html as htmllib
import json
import math
import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))

from runfolder import BINARY, base_info, make_run_folder, predictions, write_run  # noqa: E402

from breastbench.report.html import build_report  # noqa: E402
from breastbench.report.names import mpl_text  # noqa: E402
from breastbench.report.terminal import summary_table  # noqa: E402
from breastbench.results import RunKey, text_tag  # noqa: E402

TEMPLATE = "Patient age {age}; cost $5"
ODD_LABEL = "Qwen2-VL-2B[lora_scope=decoder]"
EXPERIMENT = """name: tiny_cnn_vs_vlm
models:
  - {name: cnn/test-resnet, label: cnn/test_resnet, modes: [finetune]}
  - {name: clip/test-biomedclip, label: clip/test-biomedclip, modes: [lora]}
published:
  - {metric: accuracy, config: {model: cnn/test_resnet, mode: finetune, magnification: 40,
     augmentation: "off"}, mean: 0.81, std: 0.01, source: "Table 4"}
  - {metric: accuracy, config: {model: clip/test-biomedclip, mode: lora, magnification: 40,
     augmentation: "off"}, mean: 0.99, std: 0.01, source: "Table 4"}
  - {metric: auc, config: "AlexNet:finetune", mean: 0.99, source: "Table 4"}
  - {metric: accuracy, config: "clip/test-biomedclip:lora", versus: "cnn/test_resnet:finetune",
     p: 0.021, source: "Table 7"}
"""


def add_odd_runs(root: Path, folds: int = 3) -> None:
    """A text-context VLM with brackets in its label and a ``$`` in its template, 40x aug off."""
    for fold in range(folds):
        key = RunKey("breakhis_x", 40, ODD_LABEL, "lora", "off", text=text_tag(TEMPLATE), fold=fold)
        info = base_info(
            "breakhis_x",
            40,
            ODD_LABEL,
            "lora",
            "off",
            fold,
            BINARY,
            "binary",
            text_context=TEMPLATE,
        )
        info["model_family"] = "vlm"
        acc = [0.7, 0.75, 0.6][fold]
        metrics = {"accuracy": acc, "f1": acc - 0.05, "auc": acc + 0.05}
        write_run(root, key.run_id, info, metrics, predictions(BINARY, fold, 12, 1.5, 500 + fold))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = make_run_folder(tmp_path_factory.mktemp("answer") / "run", density=False)
    add_odd_runs(root)
    (root / "experiment.yaml").write_text(EXPERIMENT)
    # a broken run of the odd model: its warning must name it in words
    broken = RunKey("breakhis_x", 100, ODD_LABEL, "lora", "off", fold=0).run_id
    (root / "runs" / broken).mkdir(parents=True)
    (root / "runs" / broken / "run.json").write_text("{not json")
    warnings: list[str] = []
    old = os.umask(0o022)
    try:
        page = build_report(root, explain_maps=False, log=warnings.append)
    finally:
        os.umask(old)
    return root, page, warnings


ENCODED = re.compile(r"%2F|%5B|%5D|%3D|%24|txt-[0-9a-f]{8}|\[text [0-9a-f]{8}\]", re.I)


def test_no_encoded_ids_or_hashes_in_human_facing_output(built):
    root, page, warnings = built
    text = page.read_text()
    md = (page.parent / "report.md").read_text()
    console = Console(width=250, record=True)
    console.print(summary_table(root))
    terminal = console.export_text()
    for name, out in (("html", text), ("md", md), ("terminal", terminal)):
        assert not ENCODED.search(out), (name, ENCODED.search(out).group(0))
    assert warnings and not any(ENCODED.search(w) for w in warnings), warnings
    assert any(ODD_LABEL in w and "fold 0" in w for w in warnings), warnings
    # the template is shown as written, in the page, the Markdown and the terminal
    assert htmllib.escape(f'text "{TEMPLATE}"') in text
    assert f'text "{TEMPLATE}"' in md
    assert ODD_LABEL in terminal and ODD_LABEL in text
    assert "tiny_cnn_vs_vlm" in text.split("</h1>")[0]


def test_markdown_links_resolve(built):
    _, page, _ = built
    md = (page.parent / "report.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", md)
    assert len(links) > 5
    for link in links:
        from urllib.parse import unquote

        assert (page.parent / unquote(link)).is_file(), link


def test_report_folder_follows_umask(built):
    _, page, _ = built
    assert page.parent.stat().st_mode & 0o777 == 0o755
    assert (page.parent / "figures").stat().st_mode & 0o777 == 0o755
    assert page.stat().st_mode & 0o777 == 0o644


def _close(shown: str, value: float) -> bool:
    digits = len(shown.split(".")[1]) if "." in shown else 0
    return abs(float(shown) - value) <= 0.5 * 10**-digits + 1e-12


def test_headline_sentence_and_forest_equal_comparisons_csv(built):
    root, page, _ = built
    comps = pd.read_csv(root / "summary" / "comparisons.csv")
    est_col = "estimate" if "estimate" in comps.columns else "effect"
    forests = sorted((page.parent / "figures").glob("subset*_forest.json"))
    assert forests
    checked = 0
    for path in forests:
        data = json.loads(path.read_text())
        for point in data["comparisons"]:
            row = comps[
                (comps.config_a == point["config_a"])
                & (comps.config_b == point["config_b"])
                & (comps.metric == data["metric"])
                & (comps.test == point["test"])
            ]
            assert len(row) == 1
            row = row.iloc[0]
            for mine, theirs in (
                ("estimate", est_col),
                ("ci_low", "ci_low"),
                ("ci_high", "ci_high"),
                ("p", "p"),
                ("p_adj", "p_adj"),
            ):
                a, b = float(point[mine]), float(row[theirs])
                assert (math.isnan(a) and math.isnan(b)) or a == b, (mine, a, b)
            sig = bool(row["significant"]) if "significant" in row else row["p_adj"] < 0.05
            assert point["significant"] == sig
            checked += 1
    assert checked >= 4
    text = htmllib.unescape(page.read_text())
    found = re.findall(r'<h3 id="([^"]+)">[^<]*</h3>\s*<p class="answer">(.*?)</p>', text)
    assert "breakhis_x 40× → bach_x, augmentation off: one configuration" in found[-1][1]
    found = [(k, s) for k, s in found if "nothing to compare" not in s]
    assert len(found) == len(forests)
    pattern = re.compile(
        r"^(?P<a>.+?) is (?P<est>\d\.\d{3}) AUC (?P<dir>above|below) (?P<b>.+?) "
        r"\(95% CI of the difference \[(?P<lo>-?\d\.\d{3}), (?P<hi>-?\d\.\d{3})\]; "
        r"Holm p = (?P<p>[0-9.e+-]+); (?P<n>\d+) (?P<unit>\w+)\): "
        r"(?P<sig>significant|not significant) after correction\.$"
    )
    for key, sentence in found:
        m = pattern.match(sentence)
        assert m, sentence
        forest = json.loads((page.parent / "figures" / f"{key}_forest.json").read_text())
        cands = [pt for pt in forest["comparisons"] if pt["label"] == f"{m['a']} vs {m['b']}"]
        assert len(cands) == 1, sentence
        row = comps[
            (comps.config_a == cands[0]["config_a"])
            & (comps.config_b == cands[0]["config_b"])
            & (comps.metric == "auc")
            & (comps.test == cands[0]["test"])
        ].iloc[0]
        est = float(row[est_col])
        assert _close(m["est"], abs(est)) and (m["dir"] == "above") == (est > 0)
        assert _close(m["lo"], row["ci_low"]) and _close(m["hi"], row["ci_high"])
        assert float(m["p"]) == float(f"{row['p_adj']:.3g}")
        assert int(m["n"]) == int(row["n"]) and m["unit"] == row["unit"]
        assert (m["sig"] == "significant") == (row["p_adj"] < 0.05)


def test_count_of_significant_comparisons(built):
    root, page, _ = built
    comps = pd.read_csv(root / "summary" / "comparisons.csv")
    primary = comps[comps["role"] == "primary"]  # the count is of the primary test's rows
    assert 0 < len(primary) < len(comps)
    k = int((primary["p_adj"] < 0.05).sum())
    sentence = f"{k} of {len(primary)} comparisons (primary test) significant after Holm"
    assert sentence + " correction." in page.read_text()
    assert '<a href="tables/comparisons.csv" download>' in page.read_text()
    assert "<details><summary><strong>All" in page.read_text()


def test_bounded_figures_stay_in_unit_interval(built):
    _, page, _ = built
    datas = list((page.parent / "figures").glob("*.json"))
    bounded = [json.loads(p.read_text()) for p in datas]
    bounded = [d for d in bounded if d.get("bounded")]
    assert len(bounded) >= 6  # headline figures, accuracy per magnification, parameters
    for d in bounded:
        lo, hi = d["ylim"]
        assert 0.0 <= lo < hi <= 1.0, d["metric"]
        for point in d["points"]:
            assert lo <= point["mean"] <= hi
            for v in point.get("folds", {}).values():
                assert lo <= v <= hi


def test_published_vs_ours(built):
    _, page, _ = built
    table = pd.read_csv(page.parent / "tables" / "published_vs_ours.csv", dtype=str)
    row = table[table["Configuration"] == "cnn/test_resnet fine-tune"].iloc[0]
    assert row["Published"] == "0.8100 ± 0.010"
    assert row["Ours [interval]"].startswith("0.8000 [")
    assert row["Difference"] == "-0.0100"
    assert row["Published inside ours"] == "yes"  # 0.81 lies inside [0.55, 1.05]
    vlm = table[table["Configuration"] == "clip/test-biomedclip LoRA"].iloc[0]
    assert vlm["Published inside ours"] == "no"  # 0.99 is above 0.65's interval
    text = page.read_text()
    assert "1 of 4 published values match no configuration" in text
    p_table = pd.read_csv(page.parent / "tables" / "published_p_vs_ours.csv", dtype=str)
    assert set(p_table["Published p"]) == {"0.021"}


def test_mathtext_dollar_is_escaped():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title(mpl_text("cost $5 and $x"))
    fig.savefig(Path(os.devnull), format="png")
    plt.close(fig)
    assert mpl_text("a $b") == r"a \$b" and mpl_text(r"a \$b") == r"a \$b"


def test_plan_table_names_configurations_in_words(tmp_path, capsys, monkeypatch):
    from breastbench.cli import main

    monkeypatch.chdir(tmp_path)  # no data here: published sizes are used
    config = Path(__file__).resolve().parents[2] / "configs" / "followup_vlm_adaptation.yaml"
    assert main(["plan", str(config), "--skip-preflight"]) == 0
    out = capsys.readouterr().out
    assert not ENCODED.search(out), ENCODED.search(out).group(0)
    assert main(["plan", str(config), "--json", "--skip-preflight"]) == 0
    names = [c["name"] for c in json.loads(capsys.readouterr().out)["configurations"]]
    assert any('text "Magnification: {magnification}x"' in n for n in names)
    assert not any(ENCODED.search(n) for n in names)


def test_constant_model_is_never_marked_best(tmp_path):
    from breastbench.report.collect import collect_runs
    from breastbench.report.summary import summarize
    from breastbench.report.tables import results_tables
    from breastbench.results.analysis import write_summary

    root = make_run_folder(tmp_path / "run", density=False, external=False)
    for run in root.glob("runs/breakhis_x__40x__clip*__aug-off__fold*"):
        preds = pd.read_csv(run / "predictions.csv").assign(pred=0)  # "always benign"
        preds.to_csv(run / "predictions.csv", index=False)
        metrics = json.loads((run / "metrics.json").read_text())
        (run / "metrics.json").write_text(json.dumps({**metrics, "specificity": 1.0}))
    for run in root.glob("runs/breakhis_x__40x__cnn*__aug-off__fold*"):
        metrics = json.loads((run / "metrics.json").read_text())
        (run / "metrics.json").write_text(json.dumps({**metrics, "specificity": 0.7}))
    write_summary(root)
    off = results_tables(summarize(collect_runs(root)))[0]
    col = off.header.index("Specificity")
    rows = {(r[0].text, r[2].text): r[col] for r in off.rows if r[col].text != "–"}
    assert rows[("clip/test-biomedclip", "40×")].text == "1.0000 ± 0.000"
    assert not rows[("clip/test-biomedclip", "40×")].bold
    assert rows[("cnn/test_resnet", "40×")].bold
    assert any("predict one class for every image" in n for n in off.notes)
