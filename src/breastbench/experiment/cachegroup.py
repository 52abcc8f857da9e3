"""Which cache a run reads, worked out once for the local executor, Ray and ``plan``.

A run reads one of three inputs (:data:`breastbench.modes.registry.INPUTS`): live images,
cached frozen features or cached VLM vision tokens. Its mode says which (the
:class:`~breastbench.modes.Mode` table and the family's capabilities); caching needs no
augmentation and, for vision tokens, a vision side that does not train.

The group key holds exactly what the cache file's key depends on
(:func:`breastbench.experiment.sources.cached_tensor`): the images (dataset, magnification,
external set), the model entry and its preprocessing, the text (features only: vision tokens
are computed without it) and the seed only where the weights are random: the file key then
carries a digest of the parameters the seed drew; pretrained or local weights give the same
features under every seed.
"""

from __future__ import annotations

from breastbench.modes import get_mode


def vision_trains(mc, mode) -> bool:
    """True when training changes a VLM's vision tokens (vision/connector LoRA, fine-tuning)."""
    if mode.state == "finetune":
        return True
    return mode.state == "lora" and mc.options.get("lora_scope", "decoder") != "decoder"


def input_kind(spec) -> str:
    """``features``, ``vision`` or ``images``: the input a run reads when caching is on."""
    from breastbench.models import get_info

    mode = get_mode(spec.key.mode)
    if mode.probe:  # probes need the feature matrix, whatever the augmentation
        return "features"
    if spec.key.augmentation != "off":
        return "images"
    mc = spec.entry
    kind = mode.input_on(get_info(mc.name).capabilities)
    if kind == "vision" and vision_trains(mc, mode):
        return "images"
    return kind


def cache_group(spec) -> tuple:
    """Runs with equal keys read the same cache: ``(kind, dataset, mag, external, model, ...)``.

    ``kind`` is :func:`input_kind`; an ``images`` group shares the decoded-image cache only.
    """
    from breastbench.models.weights import RANDOM, kind_of

    kind = input_kind(spec)
    where = _where(spec)
    if kind == "images":
        return (kind, *where)
    mc = spec.entry
    text = spec.text if kind == "features" else None
    seed = spec.seed if kind_of(mc.weights) == RANDOM else None
    if kind == "vision" and seed is not None:
        # random weights: the cache key digests the parameters the mode's state registers (a
        # generative zero-shot adds the LM head), so zero-shot and LoRA read different files
        return (kind, *where, text, seed, get_mode(spec.key.mode).state)
    return (kind, *where, text, seed)


def image_group(spec) -> tuple:
    """Runs that read the same decoded-image cache (same images, same model preprocessing)."""
    return ("images", *_where(spec))


def _where(spec) -> tuple:
    """The images and the model entry (named by its label, unique in a config) a cache is of."""
    key = spec.key
    return (key.dataset, key.magnification, key.external, key.model)
