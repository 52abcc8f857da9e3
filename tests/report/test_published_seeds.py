"""The shipped configs' ``published:`` values equal the seed studies' tables, value for value.

The seed texts live in ../shared/seeds (absent outside the workspace: the test skips). Tables 4
and 5 of the histopathology study are parsed row by row (model, mode, magnification and five
``mean ± std`` cells), Table 6 (BACH) and Table 7 (Wilcoxon p-values at 200x) likewise; the
density study's accuracy and F1 come from its results bullets.
"""

import re
from pathlib import Path

import pytest
import yaml

from breastbench.experiment.config import load_config
from breastbench.report.spec import PublishedValue

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"
HISTO = SEEDS / "004_036498381091fbbd.txt"
DENSITY = SEEDS / "000_1cb03129af065498.txt"

METRICS = ["accuracy", "precision", "recall", "f1", "auc"]
MODELS = ["AlexNet", "ResNet34", "VGG19", "Qwen2-VL-2B", "SmolVLM"]
CELL = re.compile(r"(\d\.\d{4}) ± (\d\.\d{3})")


def mode_of(model: str, short: str) -> str:
    """FT is full fine-tuning for the CNNs and LoRA for the VLMs (the study's design)."""
    if short == "LP":
        return "linear_probe"
    return "finetune" if model in ("AlexNet", "ResNet34", "VGG19") else "lora"


def parse_histology(text: str) -> list[dict]:
    """Every (source, selector, metric, mean, std) of Tables 4-6 and (p) of Table 7."""
    lines = text.splitlines()
    out = []
    for table, aug in (("Table 4", "off"), ("Table 5", "on")):
        start = next(i for i, ln in enumerate(lines) if ln.startswith(f"{table}. Five-fold"))
        model = mode = None
        for line in lines[start + 2 : start + 2 + 40]:
            if line.startswith("ModelMode"):
                continue
            m = re.match(r"^(?:(" + "|".join(map(re.escape, MODELS)) + r")(FT|LP))?(\d+)×", line)
            if not m:
                break
            if m.group(1):
                model, mode = m.group(1), mode_of(m.group(1), m.group(2))
            cells = CELL.findall(line[m.end() :])
            assert len(cells) == 5, line
            for metric, (mean, std) in zip(METRICS, cells):
                sel = {"model": model, "mode": mode, "magnification": int(m.group(3))}
                sel["augmentation"] = aug
                out.append(
                    {
                        "source": table,
                        "config": sel,
                        "metric": metric,
                        "mean": float(mean),
                        "std": float(std),
                    }
                )
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Table 6. Testing"))
    for line in lines[start + 3 : start + 5]:
        m = re.match(r"^(ResNet34|SmolVLM)(FT)", line)
        cells = re.findall(r"(\d\.\d{4}) ± (\d\.\d{3})", line[m.end() :])
        for metric, (mean, std) in zip(METRICS, cells):
            sel = {"model": m.group(1), "mode": mode_of(m.group(1), "FT"), "external": "bach"}
            out.append(
                {
                    "source": "Table 6",
                    "config": sel,
                    "metric": metric,
                    "mean": float(mean),
                    "std": float(std),
                }
            )
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Table 7. Pairwise"))
    names = {
        "SmolVLM": "SmolVLM:lora",
        "Qwen2": "Qwen2-VL-2B:lora",
        "ResNet34": "ResNet34:finetune",
    }
    for line in lines[start + 4 : start + 7]:
        m = re.match(r"^(\w+) vs\. (\w+)((?:0\.\d{3}){3})$", line)
        assert m, line
        for metric, p in zip(["accuracy", "f1", "auc"], re.findall(r"0\.\d{3}", m.group(3))):
            a = dict(zip(("model", "mode"), names[m.group(1)].split(":")), magnification=200)
            b = dict(zip(("model", "mode"), names[m.group(2)].split(":")), magnification=200)
            out.append(
                {"source": "Table 7", "config": a, "versus": b, "metric": metric, "p": float(p)}
            )
    return out


def parse_density(text: str) -> list[dict]:
    """Accuracy and F1 of zero-shot, linear probe (BiomedCLIP) and fine-tuned ConvNeXt."""
    which = {
        "Zero-shot BioMedCLIP": {"model": "BiomedCLIP", "mode": "zero_shot"},
        "Linear probing improved BioMedCLIP": {"model": "BiomedCLIP", "mode": "linear_probe"},
        "ConvNeXt fine-tuned end-to-end": {"model": "ConvNeXt", "mode": "finetune"},
    }
    out = []
    for line in text.splitlines():
        for start, sel in which.items():
            if line.startswith(f"- {start}"):
                m = re.search(r"accuracy: (0\.\d+), F1-score: (0\.\d+)", line)
                assert m, line
                for metric, value in (("accuracy", m.group(1)), ("f1_macro", m.group(2))):
                    out.append(
                        {"source": "Results", "config": sel, "metric": metric, "mean": float(value)}
                    )
    assert len(out) == 6
    return out


def _norm(entry) -> tuple:
    if isinstance(entry, PublishedValue):
        entry = {
            k: getattr(entry, k)
            for k in ("source", "config", "metric", "mean", "std", "versus", "p")
        }
    keys = ("source", "metric", "mean", "std", "p")
    sel = tuple(sorted((entry.get("config") or {}).items()))
    versus = tuple(sorted((entry.get("versus") or {}).items()))
    return tuple(entry.get(k) for k in keys) + (sel, versus)


pytestmark = pytest.mark.skipif(not HISTO.is_file(), reason="../shared/seeds not available")


@pytest.mark.parametrize(
    ("config", "seed", "parse", "count"),
    [
        ("breakhis_cnn_vs_vlm.yaml", HISTO, parse_histology, 2 * 7 * 4 * 5 + 2 * 5 + 9),
        ("density_convnext_vs_biomedclip.yaml", DENSITY, parse_density, 6),
    ],
)
def test_shipped_published_values_equal_the_seed_tables(config, seed, parse, count):
    expected = parse(seed.read_text())
    assert len(expected) == count
    for path in (ROOT / "src" / "breastbench" / "configs" / config,):
        raw = yaml.safe_load(path.read_text())
        shipped = load_config(path).published  # validated by the schema
        assert len(shipped) == len(raw["published"]) == count
        assert sorted(map(_norm, shipped)) == sorted(map(_norm, expected))
