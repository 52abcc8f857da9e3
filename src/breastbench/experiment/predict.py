"""Apply a saved model (``runs/<id>/checkpoint``) to new images.

The checkpoint's preprocessing record (:class:`breastbench.models.preprocess.Preprocessing`)
drives decoding, resizing, stain normalisation and the VLM text, so a model is always fed
exactly what it was trained on; output is one row per image with every class probability (a
temperature-scaled run's checkpoint divides the logits by its T, as the run did).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from breastbench import jsonio
from breastbench.data.manifest import ID_DTYPES
from breastbench.errors import UserError
from breastbench.models.checkpoint import META_FILE

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pgm", ".dcm", ".dicom", ".bmp"}


def collect_images(inputs: list[str]) -> list[str]:
    """Expand files and folders (recursively) into a sorted list of image paths."""
    paths: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(
                os.path.realpath(f)
                for f in p.rglob("*")
                if f.suffix.lower() in IMAGE_SUFFIXES and not f.is_dir()
            )
        elif p.is_file():
            paths.append(os.path.realpath(p))
        else:
            from breastbench.data.manifest import why_absent

            raise UserError(f"{item}: not an image file or folder ({why_absent(item)})")
    if not paths:
        raise UserError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {inputs}")
    return paths


def context_rows(
    paths: list[str], manifest: str | None, context: dict[str, str], ckpt: Path
) -> list[dict]:
    """Per-image values for a text-context template: ``--context``, a manifest, or the run's.

    Without ``--manifest``, a checkpoint inside a run folder looks its images up in that
    folder's ``manifests/*.csv`` (the manifests the run was trained on).
    """
    rows = [{"path": p, **context} for p in paths]
    tables = []
    if manifest:
        if not Path(manifest).is_file():
            raise UserError(f"--manifest {manifest}: no such file")
        tables.append(pd.read_csv(manifest, dtype=ID_DTYPES))
    else:
        from breastbench.results import RunFolder

        folder = RunFolder.holding(ckpt)
        for csv in folder.manifest_paths() if folder is not None else []:
            tables.append(pd.read_csv(csv, dtype=ID_DTYPES))
    if tables:
        table = pd.concat(tables, ignore_index=True)
        if "path" not in table.columns:
            raise UserError(f"--manifest {manifest}: needs a 'path' column")
        table["path"] = table["path"].map(lambda p: str(Path(p).resolve()))
        lookup = table.drop_duplicates("path").set_index("path").to_dict("index")
        rows = [{**lookup.get(p, {}), **r} for p, r in zip(paths, rows)]
    return rows


@torch.no_grad()
def predict_images(
    checkpoint: str,
    inputs: list[str],
    device: torch.device,
    batch_size: int = 32,
    *,
    manifest: str | None = None,
    context: dict[str, str] | None = None,
    perturbation: tuple[str, int] | None = None,
    perturb_seed: int = 0,
) -> pd.DataFrame:
    """Predictions of the checkpointed model for every image under ``inputs``.

    Preprocessing (resize rule, stain normalisation, text context) is the checkpoint's own
    record, so the numbers equal the run's on the same images. ``perturbation`` (name,
    severity) perturbs each image first, drawn from ``perturb_seed`` and the file's stem (the
    run's draws where the manifest's image id is the file stem: BreakHis, BACH, BRACS).
    """
    from breastbench.experiment.temperature import divide, scale_probe
    from breastbench.experiment.train import probabilities
    from breastbench.models import load_checkpoint
    from breastbench.results import RunFolder

    ckpt = RunFolder.checkpoint_in(checkpoint)  # a run folder or its checkpoint/
    if not (ckpt / META_FILE).exists():
        raise UserError(
            f"{checkpoint}: not a breastbench checkpoint (no meta.json); pass "
            "runs/<run_id>/checkpoint from a run with save_checkpoints"
        )
    paths = collect_images(inputs)
    model = load_checkpoint(ckpt).to(device).eval()
    probe = _fitted_probe(ckpt)  # a probe-like mode: refit on the run's training features
    t = _temperature(ckpt)  # a temperature-scaled run's T (None for a raw run)
    prep = model.preprocessing
    classes = list(getattr(model, "classes", None) or [str(i) for i in range(model.num_classes)])
    tf = prep.transform(train=False)
    texts = None
    if prep.text_context is not None:
        rows = context_rows(paths, manifest, context or {}, ckpt.resolve())
        texts = prep.texts(rows, where="the images' manifest and --context")
    probs = []
    for s in range(0, len(paths), batch_size):
        chunk = paths[s : s + batch_size]
        x = torch.stack([tf(_load(prep, p, perturbation, perturb_seed)) for p in chunk])
        x = x.to(device)
        text = None if texts is None else texts[s : s + batch_size]
        if probe is not None:  # the frozen features the probe is applied to
            feats = model.features(x) if text is None else model.features(x, text=text)
            probs.append(feats.float().cpu().numpy())
        elif text is None:
            probs.append(probabilities(divide(model(x), t)))
        else:
            probs.append(probabilities(divide(model.head(model.features(x, text=text)), t)))
    prob = np.concatenate(probs)
    if probe is not None:
        prob = scale_probe(probe.predict(prob), t)
    from breastbench.metrics.classification import predict_labels

    pred = predict_labels(prob, len(classes))
    out = pd.DataFrame({"path": paths, "pred": pred, "pred_label": [classes[i] for i in pred]})
    for i, c in enumerate(classes):
        out[f"prob_{c}"] = prob[:, i]
    return out


def _fitted_probe(ckpt: Path):
    """The checkpoint's fitted probe-like mode (kNN, SimpleShot, a plugin's...), or None."""
    from breastbench.models.checkpoint import read_meta
    from breastbench.modes.fitted import FittedProbe

    meta = (read_meta(ckpt).get("extra") or {}).get("probe")
    return FittedProbe.load(ckpt, meta) if meta else None


def _temperature(ckpt: Path) -> float | None:
    """The T a ``calibration: temperature`` run fitted on its validation split, or None."""
    from breastbench.models.checkpoint import read_meta

    t = (read_meta(ckpt).get("extra") or {}).get("temperature")
    return None if t is None else float(t)


def check_output(path: str) -> Path:
    """The CSV path ``-o`` names (``~`` expanded); UserError for a folder, before any work."""
    from breastbench.results.outdir import check_parents

    target = Path(os.path.expanduser(path))
    check_parents(target.absolute(), "-o", path)
    if target.is_dir():
        raise UserError(
            f"-o {path}: is a folder; give a CSV file path inside it, e.g. {target}{os.sep}out.csv"
        )
    return target


def _load(prep, path: str, perturbation, seed: int) -> np.ndarray:
    if perturbation is None:
        return prep.load_image(path)
    from breastbench.experiment.robustness import load_perturbed

    return load_perturbed(path, prep, *perturbation, seed, Path(path).stem)[0]


def write_predictions(df: pd.DataFrame, path: str) -> None:
    """Write the table atomically; the temporary goes on any exit, SIGTERM included."""
    jsonio.atomic_write_csv(df, check_output(path))
