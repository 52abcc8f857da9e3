"""The preprocessing record: how an image (and its text) becomes a model input.

One frozen :class:`Preprocessing` per run, owned by the model (its ``data_config``) plus the
experiment's choices (resize rule, stain normalisation, text-context template). It is saved in
every checkpoint's ``meta.json`` and used by training, evaluation, ``predict`` and the
explainability maps alike, so a model is always fed at prediction time exactly what it was
trained on.

The pixel operations (resize rules, stain normalisation, augmentation and normalisation)
live in :mod:`breastbench.imaging`; this record picks them for one model.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from breastbench.errors import UserError
from breastbench.imaging.resize import RESIZE_RULES, prepare

# Manifest columns a text-context template may use.
TEXT_FIELDS = ("magnification", "view", "laterality", "dataset", "stain")


@dataclass(frozen=True)
class Preprocessing:
    """Everything between an image file and a normalised tensor, and the VLM text."""

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bicubic"
    resize: str = "squash"
    stain_norm: bool = False
    text_context: str | None = None
    image_tokens: int | None = None  # VLM image tokens per image (fixed input, no tiling)

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_RULES:
            raise UserError(f"resize: got {self.resize!r}; allowed: {', '.join(RESIZE_RULES)}")
        if self.text_context is not None:
            for name in template_fields(self.text_context):
                if name not in TEXT_FIELDS:
                    raise UserError(
                        f"text_context: unknown field {{{name}}} in {self.text_context!r}; "
                        f"allowed: {', '.join('{' + f + '}' for f in TEXT_FIELDS)}"
                    )

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the model input."""
        return int(self.input_size[1]), int(self.input_size[2])

    @property
    def data_config(self) -> dict:
        """The timm-style dict the transforms take."""
        return {
            "input_size": tuple(self.input_size),
            "mean": tuple(self.mean),
            "std": tuple(self.std),
            "interpolation": self.interpolation,
        }

    def to_dict(self) -> dict:
        """Plain data for run.json and the checkpoint."""
        d = asdict(self)
        d["input_size"], d["mean"], d["std"] = (list(d[k]) for k in ("input_size", "mean", "std"))
        return d

    @classmethod
    def from_dict(cls, data: Mapping) -> Preprocessing:
        """Inverse of :meth:`to_dict`."""
        d = dict(data)
        d["input_size"] = tuple(int(v) for v in d["input_size"])
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        return cls(**d)

    @classmethod
    def of_model(
        cls,
        model,
        *,
        resize: str | None = None,
        stain_norm: bool = False,
        text_context: str | None = None,
    ) -> Preprocessing:
        """The record for ``model`` with the experiment's choices."""
        dc = model.data_config
        tokens = getattr(model, "num_image_tokens", None)  # VLMs: fixed, no tiling
        tokens = int(tokens) if isinstance(tokens, (int, np.integer)) else None
        return cls(
            input_size=tuple(int(v) for v in dc["input_size"]),
            mean=tuple(float(v) for v in dc["mean"]),
            std=tuple(float(v) for v in dc["std"]),
            interpolation=str(dc.get("interpolation", "bicubic")),
            resize=resize or "squash",
            stain_norm=bool(stain_norm),
            text_context=text_context,
            image_tokens=tokens,
        )

    # -- images -------------------------------------------------------------------------------
    def load_image(self, path: str) -> np.ndarray:
        """Decode, stain-normalise (if set) and resize one image file."""
        return decode(path, self.size, self.interpolation, self.stain_norm, self.resize)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Stain-normalise (if set) and resize an already decoded uint8 RGB image."""
        return prepare(image, self.size, self.interpolation, self.stain_norm, self.resize)

    def transform(self, train: bool = False, augmentation: str = "off", seed: int | None = 0):
        """The transform uint8 image -> normalised tensor (3, H, W) for this model.

        ``train=False`` is the evaluation transform (resize and normalise, nothing random),
        used by evaluation, feature caches, ``predict`` and the explainability maps.
        """
        from breastbench.imaging.transforms import build_transforms

        return build_transforms(self.data_config, train, augmentation, seed=seed)

    # -- text ---------------------------------------------------------------------------------
    def texts(self, rows, where: str = "manifest") -> list[str] | None:
        """The text context of each row (a DataFrame or list of mappings), or None."""
        if self.text_context is None:
            return None
        records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
        return [fill_text(self.text_context, r, where) for r in records]


def template_fields(template: str) -> list[str]:
    """The ``{field}`` names a template uses."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def fill_text(template: str, row: Mapping, where: str = "manifest") -> str:
    """Fill ``template`` from one manifest row; one line naming the missing value otherwise."""
    values = {}
    for name in template_fields(template):
        value = row.get(name)
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            raise UserError(
                f"text_context {template!r} needs '{name}' but {where} has no value for "
                f"{row.get('path', 'an image')}; add a '{name}' column or pass "
                f"--context {name}=VALUE"
            )
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        values[name] = value
    return template.format(**values)


def decode(
    path: str,
    size: tuple[int, int],
    interpolation: str = "bicubic",
    stain_norm: bool = False,
    resize: str = "squash",
) -> np.ndarray:
    """The one image pipeline: decode to uint8 RGB, stain-normalise, resize to (H, W).

    The image cache, ``predict`` and the explainability maps all call this function.
    """
    from breastbench.data import read_image

    return prepare(read_image(path)[..., :3], size, interpolation, stain_norm, resize)
