"""Synthetic datasets: real layouts, determinism, and a class signal a tiny CNN learns."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from breastbench.data import assign_folds, load_manifest, read_image, synthesize
from breastbench.data.synthetic import resolve_size
from breastbench.errors import UserError


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def breakhis_synth(tmp_path_factory):
    return synthesize("synthetic-breakhis", tmp_path_factory.mktemp("s") / "bh", seed=0)


def test_breakhis_layout_and_counts(breakhis_synth):
    assert (breakhis_synth / "BreaKHis_v1/histology_slides/breast/malignant/SOB").is_dir()
    df = load_manifest("synthetic-breakhis", breakhis_synth)
    assert df.attrs["synthetic"] is True and (df["dataset"] == "synthetic-breakhis").all()
    assert len(df) == 8 * 2 * 4 * 6 and df["patient_id"].nunique() == 16
    assert df.groupby("subtype")["patient_id"].nunique().to_dict() == {
        s: 2 for s in ["A", "DC", "F", "LC", "MC", "PC", "PT", "TA"]
    }
    assert sorted(df["magnification"].unique()) == [40, 100, 200, 400]
    assert len(df.attrs["group_report"]["merged"]) == 8  # one two-slide patient per subtype
    assert read_image(df["path"].iloc[0]).shape == (64, 96, 3)


def test_deterministic_and_idempotent(tmp_path, breakhis_synth):
    again = synthesize("synthetic-breakhis", tmp_path / "bh", seed=0)
    assert _digest(again) == _digest(breakhis_synth)
    assert synthesize("synthetic-breakhis", again, seed=0) == again  # same recipe: reused
    other = synthesize("synthetic-breakhis", tmp_path / "bh1", seed=1)
    assert _digest(other) != _digest(again)


@pytest.fixture
def one_thread():
    # tiny convolutions run faster on one thread than contending for 2 busy cores
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_tiny_cnn_learns_the_signal_across_patients(breakhis_synth, one_thread):
    torch.manual_seed(0)
    df = assign_folds(load_manifest("synthetic-breakhis", breakhis_synth), k=4, seed=0)
    x = torch.tensor(np.stack([read_image(p) for p in df["path"]])).permute(0, 3, 1, 2) / 255.0
    y = torch.tensor(df["target"].to_numpy(), dtype=torch.float32)
    train = torch.tensor((df["fold"] != 0).to_numpy())
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 1),
    )
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    xt, yt = x[train], y[train]
    for _ in range(15):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 32):
            idx = perm[i : i + 32]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(xt[idx]).squeeze(1), yt[idx]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = ((net(x[~train]).squeeze(1) > 0).float() == y[~train]).float().mean().item()
    assert acc >= 0.9  # held-out patients only


def test_bach_and_density(tmp_path):
    bach = load_manifest(
        "synthetic-bach", synthesize("synthetic-bach", tmp_path / "b"), task="binary"
    )
    assert bach["label"].value_counts().to_dict() == {"benign": 20, "malignant": 20}
    gt = next(tmp_path.rglob("microscopy_ground_truth.csv")).read_bytes()
    assert gt.startswith(b"n001.tif,Normal\r\n")  # CRLF like the official file
    root = synthesize("synthetic-density", tmp_path / "d", seed=2)
    dicom = load_manifest("synthetic-density", root)
    png = load_manifest("synthetic-density", root, image_format="png")
    assert len(dicom) == 96 and dicom["label"].value_counts().to_dict() == dict.fromkeys("ABCD", 24)
    # DICOM (with MONOCHROME1 and windowing) and PNG copies decode to the same picture
    for i in (0, 3):
        a, b = read_image(dicom["path"].iloc[i]), read_image(png["path"].iloc[i])
        assert np.corrcoef(a[..., 0].ravel(), b[..., 0].ravel())[0, 1] > 0.99
    # brightness (dense tissue) rises with the class
    mean = dicom.assign(v=[read_image(p).mean() for p in dicom["path"]]).groupby("label")["v"]
    assert mean.mean().is_monotonic_increasing


def test_sizes_and_errors(cli, tmp_path, error_line):
    assert resolve_size("3").images_per_mag == 3 and resolve_size("full").tile_hw == (460, 700)
    with pytest.raises(UserError, match="size"):
        resolve_size("huge")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").touch()
    code, _, err = cli("data", "synth", "synthetic-bach", tmp_path / "busy")
    assert code == 2 and "not empty" in error_line(err)
    code, out, _ = cli("data", "synth", "synthetic-bach", tmp_path / "new", "--size", "2")
    assert code == 0 and len(list((tmp_path / "new").rglob("*.tif"))) == 8


@pytest.mark.parametrize("cmd", [[], ["inspect"], ["folds"], ["audit"], ["synth"]])
def test_help_everywhere(cli, cmd):
    with pytest.raises(SystemExit) as exc:
        cli("data", *cmd, "--help")
    assert exc.value.code == 0
