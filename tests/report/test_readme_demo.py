"""The README's demo section agrees with the demo config: run count and sample rows."""

import re
from pathlib import Path

from breastbench.demo import demo_config_path
from breastbench.experiment.config import load_config
from breastbench.experiment.grid import expand
from breastbench.report.names import mode_name

README = Path(__file__).resolve().parents[2] / "README.md"


def _demo_section() -> str:
    text = README.read_text()
    return text[text.index("`make demo` runs every model family") : text.index("## Using it")]


def test_readme_run_count_is_the_demo_grid():
    section = _demo_section()
    counts = re.findall(r"(\d+) runs", section)
    assert counts, "the README's demo section names no run count"
    specs = expand(load_config(demo_config_path()))
    assert {int(c) for c in counts} == {len(specs)}


def test_readme_sample_rows_exist_in_the_demo_grid():
    section = _demo_section()
    block = section[section.index("```") + 3 : section.rindex("```")]
    replicates: dict[tuple, int] = {}
    for spec in expand(load_config(demo_config_path())):
        key = spec.key
        dataset = key.dataset + (f"→{key.external}" if key.external else "")
        row = (dataset, f"{key.magnification}×", key.model, mode_name(key.mode), key.augmentation)
        replicates[row] = replicates.get(row, 0) + 1
    rows = [ln.split() for ln in block.splitlines() if ln.strip().startswith("breakhis")]
    assert len(rows) >= 4
    for cells in rows:
        # dataset mag model mode(1-2 words) aug folds accuracy score
        mode = " ".join(cells[3:-4])
        key = (cells[0], cells[1], cells[2], mode, cells[-4])
        assert key in replicates, key
        assert int(cells[-3]) == replicates[key], (key, cells[-3])
