"""A fitted probe-like mode, kept beside a checkpoint so ``predict`` applies the same rule.

A probe-like mode has no weights of its own: it is its ``fit_predict`` on the training
features. The checkpoint therefore keeps those features (``probe.safetensors``: features,
targets) and what the fit depends on (mode, seed, patient groups, number of classes, the plugin
that registered the mode); :meth:`FittedProbe.predict` fits again on them, deterministically,
and predicts new features: the run's probabilities on the run's images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from breastbench.errors import UserError
from breastbench.modes.registry import get_mode, is_known, load_plugin

PROBE_FILE = "probe.safetensors"


@dataclass
class FittedProbe:
    """The training features and settings of one probe-like run."""

    mode: str
    x_train: np.ndarray  # (n, D) float32 frozen features of the training rows
    y_train: np.ndarray  # (n,) int targets
    groups: list[str]  # patient id per training row (inner CV of the tuned probe)
    seed: int
    num_classes: int
    source: str | None = None  # the plugin that registered the mode (None: built in)

    def predict(self, x_test: np.ndarray, info: dict | None = None) -> np.ndarray:
        """Class probabilities (n_test, C) of ``x_test`` by the mode's own rule."""
        if self.source and not is_known(self.mode):
            load_plugin(self.source, where=f"probe mode '{self.mode}'")
        mode = get_mode(self.mode)
        return mode.fit_predict(
            self.x_train,
            self.y_train,
            np.asarray(self.groups, dtype=object),
            np.asarray(x_test, dtype=np.float32),
            seed=self.seed,
            num_classes=self.num_classes,
            info={} if info is None else info,
        )

    def save(self, ckpt_dir) -> dict:
        """Write the features beside the checkpoint; return the JSON part (checkpoint extra)."""
        import torch
        from safetensors.torch import save_file

        tensors = {
            "x_train": torch.from_numpy(np.ascontiguousarray(self.x_train, dtype=np.float32)),
            "y_train": torch.from_numpy(np.ascontiguousarray(self.y_train, dtype=np.int64)),
        }
        from breastbench import jsonio

        jsonio.atomic_write(Path(ckpt_dir) / PROBE_FILE, lambda tmp: save_file(tensors, str(tmp)))
        return {
            "mode": self.mode,
            "groups": [str(g) for g in self.groups],
            "seed": int(self.seed),
            "num_classes": int(self.num_classes),
            "source": self.source,
        }

    @classmethod
    def load(cls, ckpt_dir, meta: dict) -> FittedProbe:
        """Inverse of :meth:`save` (``meta``: the checkpoint's ``extra["probe"]``)."""
        from safetensors.torch import load_file

        path = Path(ckpt_dir) / PROBE_FILE
        if not path.is_file():
            raise UserError(
                f"{ckpt_dir}: the '{meta.get('mode')}' probe's features ({PROBE_FILE}) are "
                "missing; copy the whole checkpoint folder again or retrain that run"
            )
        tensors = load_file(str(path))
        return cls(
            mode=str(meta["mode"]),
            x_train=tensors["x_train"].numpy(),
            y_train=tensors["y_train"].numpy(),
            groups=list(meta["groups"]),
            seed=int(meta["seed"]),
            num_classes=int(meta["num_classes"]),
            source=meta.get("source"),
        )
