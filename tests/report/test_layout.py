"""The demo-sized report in headless Chromium: the answer on the first screen, a short page.

Measured in the browser itself: a copy of report.html gets a script that records, after the
page loads at 1400 px wide, the document height and where the first headline sentence and
figure end; ``--dump-dom`` returns them. A screenshot of the first screen is kept for a look.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from runfolder import make_demo_shaped  # noqa: E402

from breastbench.report.html import build_report  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FIRST_SCREEN = 900  # px: a 1400 x 900 browser window
MEASURE = """<script>window.addEventListener('load', () => {
  const bottom = (q) => {
    const e = document.querySelector(q);
    return e ? e.getBoundingClientRect().bottom + window.scrollY : -1;
  };
  document.body.setAttribute('data-measure', JSON.stringify({
    height: document.documentElement.scrollHeight,
    sentence: bottom('p.answer'),
    figure: bottom('.pair figure img'),
  }));
});</script>"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed"),
]


def _chromium(tmp_path: Path, *args: str) -> str:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size=1400,{FIRST_SCREEN}",
        *args,
    ]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=180).stdout


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    root = make_demo_shaped(tmp_path_factory.mktemp("demo") / "run")
    return build_report(root, explain_maps=False)


def test_first_screen_holds_the_answer_and_page_is_short(demo_report, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(demo_report.read_text().replace("</body>", MEASURE + "</body>"))
    shutil.copytree(demo_report.parent / "tables", tmp_path / "tables")
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    found = re.search(r'data-measure="([^"]+)"', dom)
    assert found, dom[-500:]
    measure = json.loads(found.group(1).replace("&quot;", '"'))
    assert 0 < measure["sentence"] <= FIRST_SCREEN, measure
    assert 0 < measure["figure"] <= FIRST_SCREEN, measure
    assert measure["height"] < 15_000, measure
    shot = tmp_path / "first_screen.png"
    _chromium(tmp_path, f"--screenshot={shot}", demo_report.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
