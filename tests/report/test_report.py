"""End-to-end report tests: broken runs, self-contained HTML, screenshot, CLI, terminal table."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))

from runfolder import make_run_folder  # noqa: E402

from breastbench.cli import main  # noqa: E402
from breastbench.errors import UserError  # noqa: E402
from breastbench.report.collect import collect_runs  # noqa: E402
from breastbench.report.content import banners  # noqa: E402
from breastbench.report.html import build_report  # noqa: E402
from breastbench.report.summary import summarize  # noqa: E402
from breastbench.report.tables import results_tables  # noqa: E402
from breastbench.report.terminal import summary_table  # noqa: E402
from breastbench.results.analysis import write_summary  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


def analysed(root):
    write_summary(root)
    return summarize(collect_runs(root))


BROKEN_FOLD = "breakhis_x__40x__cnn%2Ftest_resnet__finetune__aug-off__fold1"
CORRUPT = "breakhis_x__100x__clip%2Ftest-biomedclip__lora__aug-on__fold2"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A run folder with one deleted and one corrupt run, and its built report."""
    root = make_run_folder(tmp_path_factory.mktemp("runs"), density=True)
    shutil.rmtree(root / "runs" / BROKEN_FOLD)
    (root / "runs" / CORRUPT / "run.json").write_text("{not json")
    html = build_report(root, explain_maps=False)
    return root, html


def test_missing_and_corrupt_runs_are_named_and_marked(report):
    root, html = report
    problems = {p.name: p.reason for p in collect_runs(root).problems}
    assert set(problems) == {BROKEN_FOLD, CORRUPT}
    assert "missing" in problems[BROKEN_FOLD]
    assert "run.json unreadable" in problems[CORRUPT]
    off, on = results_tables(analysed(root))[:2]
    gap = next(r for r in off.rows if r[0].text == "cnn/test_resnet" and r[2].text == "40×")
    assert gap[-1].text == "2 of 3, missing: fold 1"
    assert gap[3].text == "0.8000 ± 0.141"  # folds 0 and 2 still aggregate
    gap = next(r for r in on.rows if r[0].text == "clip/test-biomedclip" and r[2].text == "100×")
    assert gap[-1].text == "2 of 3, missing: fold 2"
    page = html.read_text()
    # named in words (label, mode, subset, fold), never by the percent-encoded folder name
    assert "breakhis_x 40×, augmentation off: cnn/test_resnet fine-tune, fold 1" in page
    assert "breakhis_x 100×, augmentation on: clip/test-biomedclip LoRA, fold 2" in page
    assert BROKEN_FOLD not in page and CORRUPT not in page
    assert (
        "missing: fold 1" in (html.parent / "tables" / "results_breakhis-x_aug-off.csv").read_text()
    )


def test_all_runs_of_a_config_broken_shows_missing_cells(tmp_path):
    root = make_run_folder(tmp_path, density=False, external=False)
    for fold in range(3):
        run = root / "runs" / f"breakhis_x__40x__clip%2Ftest-biomedclip__lora__aug-off__fold{fold}"
        (run / "metrics.json").unlink()
    off = results_tables(analysed(root))[0]
    row = next(r for r in off.rows if r[0].text == "clip/test-biomedclip" and r[2].text == "40×")
    assert [c.text for c in row[3:6]] == ["missing", "missing", "missing"]
    assert row[-1].text.startswith("0 of 3")


def test_report_files_and_sections(report):
    root, html = report
    out = html.parent
    assert html == root / "report" / "report.html"
    for name in (
        "report.md",
        "tables/comparisons.csv",
        "tables/comparisons.tex",
        "tables/density.tex",
        "tables/external_validation.csv",
        "tables/timings.csv",
    ):
        assert (out / name).is_file(), name
    assert len(list((out / "figures").glob("*.png"))) >= 10
    page = html.read_text()
    assert page.index("SYNTHETIC DATA") < page.index('id="results"')
    assert "RANDOM WEIGHTS" in page
    assert "smallest possible p-value is 2/2^3 = 0.25" in page
    assert "no patient appears in more than one fold" in page
    assert "2 unreadable image" in page
    assert "abc1234" in page and "2.14.1" in page
    assert not list(root.glob("report*/.tmp*")) and not list(root.glob(".tmp-*"))
    md = (out / "report.md").read_text()
    assert "](figures/" in md and "SYNTHETIC DATA" in md


def test_html_is_self_contained(report):
    _, html = report
    page = html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) >= 10
    for img in images:
        assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', img), img[:80]


def test_report_is_rebuilt_in_place(report):
    """A figure an earlier report wrote (listed in its marker) goes; a user's file stops it."""
    root, html = report
    marker = html.parent / "breastbench-report.json"
    record = json.loads(marker.read_text())
    (html.parent / "figures" / "stale.png").write_bytes(b"old")
    marker.write_text(json.dumps({**record, "files": record["files"] + ["figures/stale.png"]}))
    again = build_report(root, explain_maps=False)
    assert again == html and not (html.parent / "figures" / "stale.png").exists()
    (html.parent / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="notes.txt, which breastbench did not write"):
        build_report(root, explain_maps=False)
    assert (html.parent / "notes.txt").read_text() == "mine" and html.is_file()
    (html.parent / "notes.txt").unlink()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed")
def test_chromium_screenshot(report, tmp_path):
    _, html = report
    shot = tmp_path / "report.png"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1400,2000",
        html.as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


def test_cli_missing_dir_is_one_line_exit_2(tmp_path, capsys):
    code = main(["report", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "nope" in err and err.startswith("error:")


def test_cli_builds_report(tmp_path, capsys):
    root = make_run_folder(tmp_path / "r", density=False, external=False)
    code = main(["report", str(root), "-o", str(tmp_path / "out"), "--no-explain"])
    assert code == 0
    assert capsys.readouterr().out.strip().endswith("report.html")
    assert (tmp_path / "out" / "report.html").is_file()


def test_terminal_summary(report):
    root, _ = report
    console = Console(width=200, record=True)
    console.print(summary_table(root))
    text = console.export_text()
    assert "0.800±0.141" in text and "missing: fold 1" in text and "QWK" in text


def test_run_json_flags_drive_banner(tmp_path):
    root = make_run_folder(tmp_path, density=False, external=False)
    assert len(banners(collect_runs(root))) == 2
    for run_json in root.glob("runs/*/run.json"):
        info = json.loads(run_json.read_text())
        info.update(synthetic=False, random_weights=False)
        run_json.write_text(json.dumps(info))
    assert banners(collect_runs(root)) == []
