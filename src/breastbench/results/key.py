"""The run key: what identifies one run, and the only codec between a key and its folder name.

A run is one cell of the experiment grid. Its :class:`RunKey` holds every grid axis as a typed
field; :meth:`RunKey.run_id` turns it into a folder name and :meth:`RunKey.parse` turns the
name back into the same key (a lossless round trip, tested over every shipped config). A
*configuration* is the key without its replicate axis (the fold of a cross-validation, or the
training seed of an external validation): the runs of one configuration are the replicates
that "mean ± std" is taken over.

Folder name: fields joined by ``__`` in a fixed order, each optional field with its own tag::

    <dataset>__<40x|all>__<model>__<mode>__aug-<preset>[__txt-<tag>][__shots-<k>][__ext-<test>]
        [__cal-<method>][__fold<k>][__seed<s>][__draw<d>]

Free-text fields (dataset, model label, text tag) are percent-encoded where they hold a
character outside ``[A-Za-z0-9.+-]`` or an underscore that could merge with the separator, so
``cnn/resnet34`` becomes ``cnn%2Fresnet34`` and decodes back exactly. No other module builds
or splits a run id (a test enforces it).

To add a grid axis: add a field here (``None`` = absent from the id), give it a tag in
``_TAGGED`` and say whether it is a replicate axis in ``REPLICATE_AXES``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, fields, replace
from urllib.parse import unquote

from breastbench.modes import is_known

SEP = "__"
# Axes whose values are replicates of one configuration (mean ± std is taken over them).
REPLICATE_AXES = ("fold", "seed", "draw")
# Optional fields in id order: (field, tag); integers are written right after the tag.
_TAGGED = (
    ("text", "txt-"),
    ("shots", "shots-"),
    ("external", "ext-"),
    ("calibration", "cal-"),
    ("fold", "fold"),
    ("seed", "seed"),
    ("draw", "draw"),
)
_INT_FIELDS = ("fold", "seed", "draw")
_SAFE = re.compile(r"[A-Za-z0-9.+-]")


class RunIdError(ValueError):
    """A folder name that is not a run id of this layout."""


def encode(text: str) -> str:
    """Percent-encode ``text`` so it can sit between ``__`` separators and decode back."""
    out = []
    for i, ch in enumerate(text):
        inner_underscore = (
            ch == "_" and 0 < i < len(text) - 1 and text[i - 1] != "_" and text[i + 1] != "_"
        )
        if _SAFE.fullmatch(ch) or inner_underscore:
            out.append(ch)
        else:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
    return "".join(out)


def decode(text: str) -> str:
    """Inverse of :func:`encode`."""
    return unquote(text)


def text_tag(template: str | None) -> str | None:
    """Short, stable tag of a text-context template (``None`` for image-only)."""
    if template is None:
        return None
    return hashlib.sha1(template.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class RunKey:
    """Every grid axis of one run; ``None`` marks an axis that does not apply."""

    dataset: str
    magnification: int | None
    model: str  # the model entry's label (registry name when it has none)
    mode: str
    augmentation: str = "off"  # preset: off | on | color | geometric
    text: str | None = None  # text-context tag (see text_tag); None = image-only
    shots: str | None = None  # labelled patients per class ("4", "all"); None = whole fold
    external: str | None = None  # test dataset of an external validation
    calibration: str | None = None  # post-hoc calibration ("temperature"); None = raw scores
    fold: int | None = None  # replicate axis of cross-validation
    seed: int | None = None  # replicate axis of repeated trainings (external validation)
    draw: int | None = None  # replicate axis of resampled support sets (label efficiency)

    def __post_init__(self) -> None:
        for name in ("dataset", "model", "mode", "augmentation"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise RunIdError(f"run key field {name!r} must be a non-empty string")
        if not is_known(self.mode):  # the mode registry (a plugin's modes once loaded)
            raise RunIdError(f"unknown mode {self.mode!r}")
        if self.shots is not None and not isinstance(self.shots, str):
            object.__setattr__(self, "shots", str(self.shots))

    def _order(self) -> tuple:
        # None sorts first; ints and strings never meet in one position
        return tuple(
            (0, 0) if getattr(self, f.name) is None else (1, getattr(self, f.name))
            for f in fields(self)
        )

    def __lt__(self, other: RunKey) -> bool:
        return self._order() < other._order()

    @property
    def run_id(self) -> str:
        """The folder name of this run."""
        mag = f"{self.magnification}x" if self.magnification is not None else "all"
        parts = [encode(self.dataset), mag, encode(self.model), self.mode]
        parts.append(f"aug-{encode(self.augmentation)}")
        for name, tag in _TAGGED:
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{tag}{value if name in _INT_FIELDS else encode(str(value))}")
        return SEP.join(parts)

    @property
    def config(self) -> RunKey:
        """The configuration this run belongs to: the key without its replicate axes."""
        return replace(self, **dict.fromkeys(REPLICATE_AXES))

    @property
    def config_id(self) -> str:
        """Folder-style id of the configuration (used in tables and summary files)."""
        return self.config.run_id

    @property
    def replicate(self) -> tuple[tuple[str, int], ...] | None:
        """Which replicate of its configuration this is (None for a configuration key).

        ``(("fold", 2),)`` in a cross-validation, ``(("fold", 0), ("draw", 3))`` for a
        resampled support set.
        """
        reps = tuple((n, getattr(self, n)) for n in REPLICATE_AXES if getattr(self, n) is not None)
        return reps or None

    @property
    def replicate_label(self) -> str:
        """``fold 2`` or ``fold 0, draw 3``."""
        return ", ".join(f"{n} {v}" for n, v in self.replicate or ())

    def to_dict(self) -> dict:
        """Plain data (for run.json and summary tables).

        ``calibration`` appears only when set, so raw runs' records and tables keep the
        columns they had before the axis existed.
        """
        data = asdict(self)
        if data["calibration"] is None:
            del data["calibration"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RunKey:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def parse(cls, run_id: str) -> RunKey:
        """Inverse of :attr:`run_id`; :class:`RunIdError` when the name is not a run id."""
        parts = run_id.split(SEP)
        if len(parts) < 5 or not parts[4].startswith("aug-"):
            raise RunIdError(f"{run_id!r} is not a run id")
        dataset, mag, model, mode, aug = parts[:5]
        if mag == "all":
            magnification = None
        elif mag.endswith("x") and mag[:-1].isdigit():
            magnification = int(mag[:-1])
        else:
            raise RunIdError(f"{run_id!r}: bad magnification part {mag!r}")
        values: dict = {}
        rest = parts[5:]
        order = [name for name, _ in _TAGGED]
        last = -1
        for part in rest:
            for i, (name, tag) in enumerate(_TAGGED):
                raw = part[len(tag) :]
                if part.startswith(tag) and (name not in _INT_FIELDS or raw.isdigit()):
                    if i <= last:
                        raise RunIdError(f"{run_id!r}: part {part!r} out of order")
                    last = i
                    values[name] = int(raw) if name in _INT_FIELDS else decode(raw)
                    break
            else:
                raise RunIdError(f"{run_id!r}: unknown part {part!r} (known: {order})")
        try:
            return cls(
                dataset=decode(dataset),
                magnification=magnification,
                model=decode(model),
                mode=mode,
                augmentation=decode(aug[4:]),
                **values,
            )
        except RunIdError as err:
            raise RunIdError(f"{run_id!r}: {err}") from None

    def matches(self, pattern: str) -> bool:
        """Case-insensitive glob (``*resnet34*fold0``) or substring match on the run id.

        The decoded model label is matched too, so ``*cnn/resnet34*`` finds ``cnn%2Fresnet34``.
        """
        import fnmatch

        pat = pattern.lower()
        names = [self.run_id.lower(), _readable(self).lower()]
        if any(c in pat for c in "*?["):
            return any(fnmatch.fnmatchcase(n, pat) for n in names)
        return any(pat in n for n in names)


def _readable(key: RunKey) -> str:
    """The id with free-text fields unencoded (for matching, never for folders)."""
    return key.run_id.replace(encode(key.model), key.model).replace(
        encode(key.dataset), key.dataset
    )
