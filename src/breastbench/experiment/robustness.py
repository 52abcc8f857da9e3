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

Frozen-feature modes reuse a feature cache per perturbation: a :class:`PerturbedStore` carries a
``cache_tag`` (perturbation, severity, seed, :data:`perturb.VERSION`) that the feature and
vision-token caches add to their key, so the linear probe, kNN, SimpleShot, the tuned probe and
zero-shot of one model and fold encode each perturbed test set once. The store perturbs lazily
(nothing is decoded on a cache hit) and keeps the images' hashes beside the caches
(``<cache>/perturbed/``), since they do not depend on the model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breastbench import jsonio
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
    """The test images of one run, perturbed and preprocessed, in memory (ImageStore's API).

    Lazy: the images are decoded and perturbed on first use, so a run whose perturbed features
    are cached decodes nothing. ``hashes`` come from ``cache_dir`` when a run before computed
    them (they depend on the images and the perturbation only, not on the model).
    """

    def __init__(
        self, rows: pd.DataFrame, prep, name: str, severity: int, seed: int, cache_dir=None
    ):
        self.paths = rows["path"].tolist()
        self.keys = image_keys(rows)
        self.size = tuple(prep.size)
        self.interpolation, self.stain_norm, self.resize = (
            prep.interpolation,
            prep.stain_norm,
            prep.resize,
        )
        self.prep, self.name, self.severity, self.seed = prep, name, severity, seed
        self.cache_tag = f"perturb={name};s={severity};seed={seed};v={perturb.VERSION}"
        self.cache_dir = cache_dir
        self._array: np.ndarray | None = None
        self._hashes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self) -> None:
        arr = np.empty((len(self.paths), *self.size, 3), dtype=np.uint8)
        hashes = []
        for i, (path, key) in enumerate(zip(self.paths, self.keys)):
            arr[i], digest = load_perturbed(
                path, self.prep, self.name, self.severity, self.seed, key
            )
            hashes.append(digest)
        self._array, self._hashes = arr, hashes

    def array(self) -> np.ndarray:
        """All images (N, H, W, 3) uint8."""
        if self._array is None:
            self._load()
        return self._array

    def get(self, i: int) -> np.ndarray:
        """Image ``i`` (H, W, 3) uint8."""
        return self.array()[i]

    def _hash_file(self):
        from pathlib import Path

        blob = "\n".join([self.cache_tag, *self.keys, *self.paths]).encode("utf-8")
        return Path(self.cache_dir) / "perturbed" / f"{hashlib.sha256(blob).hexdigest()[:24]}.json"

    @property
    def hashes(self) -> list[str]:
        """The hash of every perturbed image before the model's resize (same for every model)."""
        if self._hashes is not None:
            return self._hashes
        target = self._hash_file() if self.cache_dir else None
        if target is not None and target.is_file():
            try:
                stored = jsonio.read_json(target)
            except (OSError, ValueError):
                stored = None
            if isinstance(stored, list) and len(stored) == len(self.paths):
                self._hashes = [str(h) for h in stored]
                return self._hashes
        self._load()
        if target is not None:
            jsonio.write_json(target, self._hashes, indent=None)
        return self._hashes


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
    ctx, spec, model, df, targets, prep, source, train_idx, test_idx, classes, fit_probe
) -> dict[str, pd.DataFrame]:
    """One predictions table per (perturbation, severity) of the section; keys ``<name>__s<k>``."""
    from breastbench.experiment.build import make_source
    from breastbench.experiment.outputs import predictions_table
    from breastbench.experiment.train import predict_logits, probabilities
    from breastbench.modes import get_mode

    section = ctx.cfg.robustness
    rows = df.iloc[test_idx]
    sub_targets = np.asarray(targets)[test_idx]
    micro = spec.entry.micro_batch_size or ctx.cfg.training.batch_size
    tables = {}
    for name in section.perturbations:
        for severity in section.severities:
            cache = ctx.cache_dir if ctx.use_cache else None
            store = PerturbedStore(rows, prep, name, severity, section.seed, cache)
            psource = make_source(ctx, spec, model, rows, sub_targets, prep, store=store)
            if get_mode(spec.key.mode).probe:
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
            table = predictions_table(rows, probs, classes, spec.key.fold)
            table["image_hash"] = store.hashes
            tables[table_name(name, severity)] = table
    return tables
