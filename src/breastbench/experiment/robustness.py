"""The ``robustness:`` section and a run's predictions of its own test fold under perturbations.

No retraining: the trained model (or fitted probe) predicts the test fold again with each
perturbation of :mod:`breastbench.imaging.perturb` at each severity. The perturbed images
are decoded, perturbed at their stored resolution (the same images for every model: each
image's draws come from the section's ``seed``, the perturbation, the severity and the image's
id), then stain-normalised and resized by the run's own preprocessing, and fed through the same
input path the run used (images, or frozen features without a disk cache; probe modes refit
their deterministic probe on the unchanged training features and predict the perturbed test
features). Each table is the run's predictions table plus ``image_hash``, the hash of the
perturbed image before the model's resize, so "the same images reached every model" is
checkable from the run folders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breastbench.errors import UserError
from breastbench.imaging import perturb

HISTOLOGY_DEFAULT = ["hed", "brightness_contrast", "hue", "rotation", "zoom", "crop", "blur",
                     "jpeg", "noise"]  # fmt: skip


@dataclass
class RobustnessConfig:
    """Test-time perturbations: every run also predicts its test fold perturbed (no retraining)."""

    perturbations: list[str] = field(
        default_factory=lambda: list(HISTOLOGY_DEFAULT),
        metadata={"help": "names from the perturbation list (README); gamma/contrast for mammo"},
    )
    severities: list[int] = field(
        default_factory=lambda: [1, 2, 3, 4, 5],
        metadata={"help": "severities 1-5; 0 re-predicts the clean images (a self-check)"},
    )
    seed: int = field(default=0, metadata={"help": "seed of every image's perturbation draws"})

    def validate(self, where: str) -> None:
        """Known names, severities 1-5, no repeats."""
        if not self.perturbations:
            raise UserError(f"{where}.perturbations: list at least one perturbation")
        for i, name in enumerate(self.perturbations):
            perturb.check(name, 0, f"{where}.perturbations[{i}]")
        if not self.severities:
            raise UserError(f"{where}.severities: list at least one severity (1-5)")
        for i, sev in enumerate(self.severities):
            perturb.check(self.perturbations[0], sev, f"{where}.severities[{i}]")
        for what in ("perturbations", "severities"):
            values = getattr(self, what)
            if len(set(values)) != len(values):
                raise UserError(f"{where}.{what}: a value is listed twice; list each once")


class PerturbedStore:
    """The test images of one run, perturbed and preprocessed, in memory (ImageStore's API)."""

    def __init__(self, rows: pd.DataFrame, prep, name: str, severity: int, seed: int):
        self.paths = rows["path"].tolist()
        self.size = tuple(prep.size)
        self.interpolation, self.stain_norm, self.resize = (
            prep.interpolation,
            prep.stain_norm,
            prep.resize,
        )
        self.hashes: list[str] = []
        self._array = np.empty((len(rows), *self.size, 3), dtype=np.uint8)
        for i, (path, key) in enumerate(zip(self.paths, image_keys(rows))):
            self._array[i], digest = load_perturbed(path, prep, name, severity, seed, key)
            self.hashes.append(digest)

    def __len__(self) -> int:
        return len(self.paths)

    def array(self) -> np.ndarray:
        """All images (N, H, W, 3) uint8."""
        return self._array

    def get(self, i: int) -> np.ndarray:
        """Image ``i`` (H, W, 3) uint8."""
        return self._array[i]


def load_perturbed(path: str, prep, name: str, severity: int, seed: int, key: str):
    """Decode, perturb, stain-normalise and resize one image: ``(image, hash of perturbed)``.

    The hash is taken before the model's own steps, so it is the same for every model.
    """
    from breastbench.data import read_image

    img = perturb.apply(read_image(path)[..., :3], name, severity, seed, key)
    digest = perturb.image_hash(img)
    return prep.prepare(img), digest


def image_keys(rows: pd.DataFrame) -> list[str]:
    """The per-image key of the perturbation draws: the image id, else the path."""
    col = "image_id" if "image_id" in rows.columns else "path"
    return rows[col].astype(str).tolist()


def table_name(name: str, severity: int) -> str:
    """File stem of one perturbation table, ``<name>__s<k>``."""
    return f"{name}__s{severity}"


def predict_perturbed(
    ctx, spec, mc, model, df, targets, prep, source, train_idx, test_idx, classes, fit_probe
) -> dict[str, pd.DataFrame]:
    """One predictions table per (perturbation, severity) of the section; keys ``<name>__s<k>``."""
    from breastbench.experiment.build import make_source
    from breastbench.experiment.outputs import predictions_table
    from breastbench.experiment.train import predict_logits, probabilities
    from breastbench.modes import get_mode

    section = ctx.cfg.robustness
    rows = df.iloc[test_idx]
    sub_targets = np.asarray(targets)[test_idx]
    micro = mc.micro_batch_size or ctx.cfg.training.batch_size
    tables = {}
    for name in section.perturbations:
        for severity in section.severities:
            store = PerturbedStore(rows, prep, name, severity, section.seed)
            psource = make_source(ctx, spec, mc, model, rows, sub_targets, prep, store=store)
            if get_mode(spec.mode).probe:
                probs = fit_probe(
                    spec, source, df, targets, train_idx, test_idx, len(classes), {},
                    x_test=psource.data.float().numpy(),
                )  # fmt: skip
            else:
                idx = np.arange(len(rows))
                logits = predict_logits(
                    model, psource, idx, max(micro, 64), ctx.device, ctx.cfg.training.amp
                )
                probs = probabilities(logits)
            table = predictions_table(rows, probs, classes, spec.fold)
            table["image_hash"] = store.hashes
            tables[table_name(name, severity)] = table
    return tables
