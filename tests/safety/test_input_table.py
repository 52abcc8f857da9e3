"""Acceptance table: odd images, DICOMs, CSVs and YAMLs through the CLI, one row each.

Every row runs ``breastbench.cli.main(argv)`` in-process on inputs built in ``tmp_path`` and
asserts: the exit code; for an error exactly one stderr line that names the file or field; no
traceback; no temporary left; and no file outside the command's output folder (``out/``)
created, changed or removed (the tree is snapshotted around the call). A few rows check
what a successful command printed (e.g. ``0012`` and ``12`` are two patients).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import yaml
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.pixels import convert_color_space
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from breastbench.cli import main

RNG = np.random.default_rng(3)
RGB = (RNG.random((20, 24, 3)) * 255).astype(np.uint8)


# --- helpers ---------------------------------------------------------------------------------


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Relative path -> content hash of every file under ``root`` except under ``skip``."""
    out = {}
    for dirpath, dirnames, files in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            dirnames[:] = []
            continue
        for name in files:
            p = Path(dirpath, name)
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        for name in dirnames:
            out[str(Path(dirpath, name).relative_to(root)) + "/"] = "dir"
    return out


def temporaries(root: Path) -> list[str]:
    """Leftover temporaries: hidden atomic-write files, ``*.tmp`` or ``.tmp-*`` names."""
    left = []
    for dirpath, dirnames, files in os.walk(root):
        for name in files + dirnames:
            if name.startswith(".") or name.endswith(".tmp") or "tmp-" in name:
                left.append(str(Path(dirpath, name)))
    return left


def png(path: Path, img: Image.Image | None = None, **kw) -> Path:
    """Save ``img`` (default: a small RGB picture) at ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    (img or Image.fromarray(RGB)).save(path, **kw)
    return path


def folder_dataset(tmp: Path, n: int = 3) -> Path:
    """``data/<class>/<patient>_<i>.png``: two classes, ``n`` patients each, two images each."""
    root = tmp / "data"
    for c, cls in enumerate(("benign", "malignant")):
        for p in range(n):
            for i in range(2):
                png(root / cls / f"{c}{p}_{i}.png", Image.fromarray(np.roll(RGB, p + i, 0)))
    return root


def dicom(path: Path, pixels: np.ndarray, photometric: str, frames: int = 1, **tags) -> Path:
    """A minimal uncompressed DICOM holding ``pixels`` as stored."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PhotometricInterpretation = photometric
    colour = photometric not in ("MONOCHROME1", "MONOCHROME2")
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    shape = pixels.shape[1:] if frames > 1 else pixels.shape
    ds.Rows, ds.Columns = shape[:2]
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def inspect_with(extra: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    """A row setup: a good folder dataset plus one file made by ``extra``; decode everything."""

    def setup(tmp: Path) -> list[str]:
        root = folder_dataset(tmp)
        extra(root / "benign")
        return ["data", "inspect", "folder", str(root), "--decode", "--json"]

    return setup


def truncated(name: str, save) -> Callable[[Path], Path]:
    """A file ``name`` whose bytes stop two thirds in."""

    def make(folder: Path) -> Path:
        path = save(folder / name)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
        return path

    return make


def density_csv(rows: list[str], *, images: bool = True) -> Callable[[Path], list[str]]:
    """A density-csv dataset whose labels.csv has ``rows`` (after the header)."""

    def setup(tmp: Path) -> list[str]:
        root = tmp / "dens"
        root.mkdir()
        for line in rows:
            rel = line.split(",")[0]
            if images and rel.endswith(".png") and "gone" not in rel:
                png(root / rel)
        (root / "labels.csv").write_text("path,patient_id,density\n" + "\n".join(rows) + "\n")
        return ["data", "inspect", "density-csv", str(root), "--json"]

    return setup


IDS = ["0012", "12", "007", "7", "0001", "1"]
ID_ROWS = [
    f"img/{p}_{i}.png,{p},{'ABCD'[(2 * j + i) % 4]}" for j, p in enumerate(IDS) for i in (0, 1)
]


def base_config(tmp: Path, **changes) -> dict:
    """A valid experiment on the folder dataset (plan-time rows edit a copy of it)."""
    root = folder_dataset(tmp)
    cfg = {
        "name": "t",
        "output_dir": str(tmp / "out"),
        "seed": 0,
        "datasets": [
            {
                "name": "d",
                "source": "folder",
                "root": str(root),
                "options": {"patient_regex": r"^(\d+)_"},
            }
        ],
        "models": [{"name": "cnn/test-resnet", "modes": ["finetune"]}],
        "cv": {"k": 3, "seed": 0},
        "training": {"epochs": 1, "batch_size": 8},
    }
    cfg.update(changes)
    return cfg


def yaml_row(edit: Callable[[dict], object] | str, command: str = "plan"):
    """A row setup: the base config edited by ``edit`` (or raw YAML text after it), then run."""

    def setup(tmp: Path) -> list[str]:
        cfg = base_config(tmp)
        path = tmp / "exp.yaml"
        if isinstance(edit, str):
            text = yaml.safe_dump(cfg, sort_keys=False) + edit
            path.write_text(text)
        else:
            edit(cfg)
            path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return [command, str(path)] if command == "plan" else ["run", str(path), "--no-report"]

    return setup


def raw_yaml(text: str, encoding: str = "utf-8"):
    """A row setup: an experiment file with exactly ``text`` ({data} and {out} filled in)."""

    def setup(tmp: Path) -> list[str]:
        root = folder_dataset(tmp)
        path = tmp / "exp.yaml"
        path.write_bytes(text.format(data=root, out=tmp / "out").encode(encoding))
        return ["plan", str(path)]

    return setup


def set_(path: str, value) -> Callable[[dict], None]:
    """An edit that sets a dotted path (``datasets.0.label_map``) to ``value``."""

    def edit(cfg: dict) -> None:
        keys = path.split(".")
        target = cfg
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[keys[-1]] = value

    return edit


BASE_YAML = """name: {name}
output_dir: {out}
seed: 0
datasets:
  - name: d
    source: folder
    root: {data}
    {extra}
models:
  - name: cnn/test-resnet
    modes: [finetune]
"""


def yaml_text(name: str = "t", extra: str = "") -> str:
    """BASE_YAML with the experiment name and one more dataset line (braces escaped)."""
    extra = extra.replace("{", "{{").replace("}", "}}")
    return BASE_YAML.replace("{name}", name).replace("{extra}", extra)


# --- the table -------------------------------------------------------------------------------


@dataclass
class Row:
    """One input, the exit code it must give and the text its one error line must contain."""

    setup: Callable[[Path], list[str]]
    code: int
    names: str | None = None  # substring of the single stderr line (file or field)
    check: Callable[[str], None] | None = None  # extra check of stdout for successes


def patients(n: int) -> Callable[[str], None]:
    """Check that ``inspect --json`` counted ``n`` patients."""

    def check(out: str) -> None:
        assert json.loads(out)["n_patients"] == n

    return check


def gray16_rgba(folder: Path) -> Path:
    """A 16-bit RGBA PNG (opaque)."""
    import cv2

    img = (RNG.random((20, 24, 4)) * 4000).astype(np.uint16)
    img[..., 3] = 65535
    cv2.imwrite(str(folder / "rgba16.png"), img)
    return folder / "rgba16.png"


def multipage(folder: Path) -> Path:
    """A two-page TIFF."""
    path = folder / "pages.tif"
    Image.fromarray(RGB).save(path, save_all=True, append_images=[Image.fromarray(RGB[::-1])])
    return path


def not_an_image(folder: Path) -> Path:
    """A text file named like a PNG."""
    path = folder / "notes.png"
    path.write_text("this is not an image\n")
    return path


def empty(folder: Path) -> Path:
    """A zero-byte PNG."""
    path = folder / "empty.png"
    path.write_bytes(b"")
    return path


def dcm_rgb(folder: Path) -> Path:
    """RGB DICOM."""
    return dicom(folder / "rgb.dcm", RGB, "RGB")


def dcm_ybr(folder: Path) -> Path:
    """YBR_FULL DICOM."""
    return dicom(folder / "ybr.dcm", convert_color_space(RGB, "RGB", "YBR_FULL"), "YBR_FULL")


def dcm_mono1(folder: Path) -> Path:
    """MONOCHROME1 DICOM with a window."""
    raw = (RNG.random((20, 24)) * 4000).astype(np.uint16)
    return dicom(folder / "m1.dcm", raw, "MONOCHROME1", WindowCenter=2000, WindowWidth=3000)


def dcm_signed(folder: Path) -> Path:
    """Signed 16-bit DICOM."""
    raw = (RNG.random((20, 24)) * 3000 - 1500).astype(np.int16)
    return dicom(folder / "signed.dcm", raw, "MONOCHROME2")


def dcm_frames(folder: Path) -> Path:
    """Three-frame DICOM."""
    raw = (RNG.random((3, 20, 24)) * 4000).astype(np.uint16)
    return dicom(folder / "frames.dcm", raw, "MONOCHROME2", frames=3)


def dcm_truncated(folder: Path) -> Path:
    """A DICOM whose pixel data is cut short."""
    path = dcm_signed(folder)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 300])
    return path


def dcm_no_pixels(folder: Path) -> Path:
    """A DICOM without pixel data (like a structured report)."""
    path = dcm_signed(folder)
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    return path


def dcm_garbage(folder: Path) -> Path:
    """A .dcm that is not DICOM."""
    path = folder / "junk.dcm"
    path.write_bytes(b"not a dicom file at all" * 10)
    return path


def breakhis_upper(tmp: Path) -> list[str]:
    """BreakHis files with an upper-case .PNG extension."""
    root = tmp / "BreaKHis_v1"
    for k, (c, sub) in enumerate((("B", "A"), ("M", "DC"))):
        for p in range(2):
            png(root / f"SOB_{c}_{sub}-14-{1000 + 10 * k + p}-40-001.PNG")
    return ["data", "inspect", "breakhis", str(root), "--json"]


def folds_and_audit(tmp: Path) -> list[str]:
    """`data folds` into out/, then the audit of that manifest is the row's command."""
    argv = density_csv(ID_ROWS)(tmp)
    assert main(["data", "folds", *argv[2:4], "--k", "2", "-o", str(tmp / "out/m.csv")]) == 0
    return ["data", "audit", str(tmp / "out/m.csv"), "--json"]


def edited_folds(tmp: Path) -> list[str]:
    """A manifest whose fold column was edited by hand."""
    argv = folds_and_audit(tmp)
    path = tmp / "out/m.csv"
    df = pd.read_csv(path, dtype=str)
    df.loc[0, "fold"] = str(1 - int(df.loc[0, "fold"]))
    df.to_csv(path, index=False)
    return argv


def second_model_bad_option(cfg: dict) -> None:
    """A second model entry with an option its builder does not take."""
    cfg["models"].append({"name": "cnn/test-resnet", "label": "B", "options": {"colour": "red"}})


def duplicate_model(cfg: dict) -> None:
    """The same model entry twice under two labels."""
    cfg["models"] = [
        {"name": "cnn/test-resnet", "modes": ["finetune"], "label": "A"},
        {"name": "cnn/test-resnet", "modes": ["finetune"], "label": "B"},
    ]


ROWS = {
    # images: decoded by `data inspect --decode`
    "png-truncated": Row(inspect_with(truncated("cut.png", png)), 2, "cut.png"),
    "jpeg-truncated": Row(
        inspect_with(truncated("cut.jpg", lambda p: png(p, quality=90))), 2, "cut.jpg"
    ),
    "jpeg-progressive-truncated": Row(
        inspect_with(truncated("prog.jpg", lambda p: png(p, quality=90, progressive=True))),
        2,
        "prog.jpg",
    ),
    "png-empty": Row(inspect_with(empty), 2, "empty.png"),
    "png-not-an-image": Row(inspect_with(not_an_image), 2, "notes.png"),
    "jpeg-cmyk": Row(
        inspect_with(lambda f: png(f / "c.jpg", Image.fromarray(RGB).convert("CMYK"))), 0
    ),
    "jpeg-progressive": Row(inspect_with(lambda f: png(f / "p.jpg", progressive=True)), 0),
    "png-16bit-rgba": Row(inspect_with(gray16_rgba), 0),
    "png-palette": Row(
        inspect_with(lambda f: png(f / "p.png", Image.fromarray(RGB).convert("P"))), 0
    ),
    "png-la": Row(inspect_with(lambda f: png(f / "la.png", Image.fromarray(RGB).convert("LA"))), 0),
    "tiff-multipage": Row(inspect_with(multipage), 0),
    "breakhis-upper-case-png": Row(breakhis_upper, 0, check=patients(4)),
    # DICOMs
    "dicom-rgb": Row(inspect_with(dcm_rgb), 0),
    "dicom-ybr-full": Row(inspect_with(dcm_ybr), 0),
    "dicom-monochrome1": Row(inspect_with(dcm_mono1), 0),
    "dicom-signed": Row(inspect_with(dcm_signed), 0),
    "dicom-multiframe": Row(inspect_with(dcm_frames), 0),
    "dicom-truncated": Row(inspect_with(dcm_truncated), 2, "signed.dcm"),
    "dicom-no-pixel-data": Row(inspect_with(dcm_no_pixels), 2, "signed.dcm"),
    "dicom-not-dicom": Row(inspect_with(dcm_garbage), 2, "junk.dcm"),
    # CSVs
    "csv-leading-zero-ids": Row(density_csv(ID_ROWS), 0, check=patients(6)),
    "csv-blank-patient-id": Row(
        density_csv(["img/a.png,p1,A", "img/b.png,,B", "img/c.png,p2,C"]), 2, "blank patient_id"
    ),
    "csv-missing-column": Row(density_csv(["img/a.png,p1"]), 2, "labels.csv"),
    "csv-unknown-density": Row(density_csv(["img/a.png,p1,E"]), 2, "labels.csv"),
    "csv-duplicate-path": Row(density_csv(["img/a.png,p1,A", "img/a.png,p2,B"]), 2, "img/a.png"),
    "csv-missing-image": Row(density_csv(["img/a.png,p1,A", "img/gone.png,p2,B"]), 2, "gone.png"),
    "csv-header-only": Row(density_csv([]), 2, "labels.csv"),
    "csv-latin1": Row(
        lambda tmp: (
            density_csv(["img/a.png,p1,A"])(tmp),
            (tmp / "dens/labels.csv").write_bytes(
                "path,patient_id,density\nimg/a.png,Jos\xe9,A\n".encode("latin-1")
            ),
        )[0],
        2,
        "labels.csv",
    ),
    "csv-folds-audit-ids": Row(folds_and_audit, 0, check=lambda out: _groups(out, 6)),
    "csv-audit-edited-folds": Row(edited_folds, 2, "m.csv"),
    "csv-audit-missing-manifest": Row(
        lambda tmp: ["data", "audit", str(tmp / "nope.csv")], 2, "nope.csv"
    ),
    # YAMLs (plan-time: nothing trains, nothing is written)
    "yaml-valid": Row(yaml_row(lambda cfg: None), 0),
    "yaml-label-map-int-keys": Row(
        yaml_row(set_("datasets.0.label_map", {0: "benign", 1: "malignant"})), 2, "quote"
    ),
    "yaml-label-map-bool-keys": Row(
        raw_yaml(yaml_text(extra="label_map: {no: benign, yes: malignant}")), 2, "'no': benign"
    ),
    "yaml-name-leading-zeros": Row(raw_yaml(yaml_text(name="0012")), 0),
    "yaml-duplicate-modes": Row(
        yaml_row(set_("models.0.modes", ["finetune", "finetune"])), 2, "models[0].modes"
    ),
    "yaml-duplicate-model": Row(yaml_row(duplicate_model), 2, "models[1]"),
    "yaml-lr-inf": Row(raw_yaml(yaml_text() + "training: {{lr: .inf}}\n"), 2, "training.lr"),
    "yaml-seed-negative": Row(yaml_row(set_("seed", -1)), 2, "seed"),
    "yaml-seed-huge": Row(yaml_row(set_("seed", 2**65)), 2, "seed"),
    "yaml-cv-seed-huge": Row(yaml_row(set_("cv.seed", 2**40)), 2, "cv.seed"),
    "yaml-magnification-float": Row(
        yaml_row(set_("datasets.0.magnifications", [40.0])), 2, "magnifications"
    ),
    "yaml-latin1": Row(raw_yaml(yaml_text(name="caf\xe9"), "latin-1"), 2, "UTF-8"),
    "yaml-unknown-key": Row(yaml_row(set_("models.0.colour", "red")), 2, "colour"),
    "yaml-duplicate-key": Row(raw_yaml(yaml_text() + "seed: 1\n"), 2, "duplicate key"),
    "yaml-not-a-mapping": Row(raw_yaml("- just\n- a list\n"), 2, "exp.yaml"),
    "yaml-bad-syntax": Row(raw_yaml("name: [unclosed\n"), 2, "exp.yaml"),
    "yaml-num-classes-option": Row(
        yaml_row(set_("models.0.options", {"num_classes": 3}), "run"), 2, "num_classes"
    ),
    "yaml-second-model-bad-option": Row(yaml_row(second_model_bad_option, "run"), 2, "models[1]"),
    "yaml-missing-root": Row(
        yaml_row(set_("datasets.0.root", "/nonexistent/bb-data"), "run"), 2, "datasets[0].root"
    ),
}


def _groups(out: str, n: int) -> None:
    audit = json.loads(out)
    assert audit["n_groups"] == n and not audit["leaks"]


@pytest.mark.parametrize("name", sorted(ROWS))
def test_row(name, tmp_path, capsys, monkeypatch):
    row = ROWS[name]
    monkeypatch.chdir(tmp_path)
    argv = row.setup(tmp_path)
    capsys.readouterr()
    out_dir = tmp_path / "out"
    before = snapshot(tmp_path, out_dir)
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    assert code == row.code, err
    if row.code:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("error:")
        assert row.names in lines[0], lines[0]
        assert not out_dir.exists() or name.startswith("csv-audit"), "output left by an error"
    elif row.check:
        row.check(out)
    assert snapshot(tmp_path, out_dir) == before
    assert temporaries(tmp_path) == []


def test_the_table_is_big_enough():
    assert len(ROWS) >= 40


def test_empty_var_uses_the_default_as_the_shell_does(tmp_path, monkeypatch, capsys):
    cfg = base_config(tmp_path)
    root = cfg["datasets"][0]["root"]
    cfg["datasets"][0]["root"] = "${BB_EMPTY:-" + root + "}"
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("BB_EMPTY", "")
    assert main(["plan", str(path), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["datasets"]["d"]["images"] == {"None": 12}
    from breastbench.experiment.config import expand_vars

    assert expand_vars("${BB_EMPTY-kept}") == ""
    monkeypatch.delenv("BB_EMPTY")
    assert expand_vars("${BB_EMPTY-x}") == "x"


@pytest.mark.slow  # two tiny training runs: ~10 s alone, longer on a busy 2-core machine
def test_leading_zero_patients_stay_apart_through_run(tmp_path, capsys):
    """``0012`` and ``12`` are two patients in the run's manifest, folds and predictions."""
    root = tmp_path / "ids"
    for c, cls in enumerate(("benign", "malignant")):
        for p in IDS:
            for i in range(2):
                png(root / cls / f"{p}_{i}.png", Image.fromarray(np.roll(RGB, c * 7 + i, 0)))
    cfg = base_config(tmp_path)
    cfg["datasets"][0]["root"] = str(root)
    cfg["cv"]["k"] = 2
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--no-report"]) == 0
    out = tmp_path / "out"
    manifest = pd.read_csv(out / "manifests/d.csv", dtype=str)
    assert sorted(manifest["patient_id"].unique()) == sorted(IDS)
    assert manifest.groupby("patient_id")["fold"].nunique().max() == 1
    preds = pd.concat(
        pd.read_csv(p, dtype={"patient_id": str}) for p in out.glob("runs/*/predictions.csv")
    )
    assert sorted(preds["patient_id"].unique()) == sorted(IDS)
    assert main(["data", "audit", str(out / "manifests/d.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_groups"] == len(IDS)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_manifest_round_trip_keeps_ids_as_written(tmp_path, suffix):
    """write_manifest/read_manifest: ``0012``/``12`` (and ``NA``) come back as the same text."""
    from breastbench.data.folds import assign_folds
    from breastbench.data.manifest import build_manifest, read_manifest, write_manifest

    ids = [*IDS, "NA", "1e3"]
    rows = [
        {"path": f"/x/{p}_{i}.png", "patient_id": p, "image_id": f"{p}_{i}", "label": "ab"[i]}
        for p in ids
        for i in (0, 1)
    ]
    df = assign_folds(build_manifest(rows, ["a", "b"], dataset="d", task="t", source="s"), k=2)
    back = read_manifest(write_manifest(df, tmp_path / f"m{suffix}"), check_files=False)
    assert back["patient_id"].tolist() == df["patient_id"].tolist()
    assert back["image_id"].tolist() == df["image_id"].tolist()
    assert back["patient_id"].nunique() == len(ids)


def test_blank_patient_id_is_refused_in_a_hand_written_manifest(tmp_path, capsys):
    """A manifest CSV with an empty patient_id cell: one line naming the file and the image."""
    path = tmp_path / "m.csv"
    path.write_text("path,label,target,patient_id,dataset\n/x/a.png,a,0,p1,d\n/x/b.png,b,1,,d\n")
    assert main(["data", "audit", str(path), "--no-check-files"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "m.csv" in err and "/x/b.png" in err and "blank" in err
