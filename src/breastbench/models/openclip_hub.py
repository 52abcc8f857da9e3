"""open_clip models named by architecture or hub repository (QuiltNet, ``open_clip/<id>``).

The architecture is open_clip's own metadata: the repository's ``open_clip_config.json`` when
weights come from the hub or a local folder, else open_clip's bundled config of that name. Text
towers that open_clip builds itself use its bundled BPE tokenizer; HF text towers (BiomedCLIP
style) read the tokenizer from the same folder.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from breastbench.errors import UserError
from breastbench.models import weights as W
from breastbench.models.registry import ModelInfo

CONFIG = "open_clip_config.json"


def _folder(info: ModelInfo, weights) -> tuple[Path | None, str, str]:
    """(folder holding config/weights or None, kind, source label)."""
    from breastbench.models.clip import TOKENIZER_FILES

    hub = info.test_variant or info.weights.startswith("hf-hub:")
    if W.kind_of(weights) == W.PRETRAINED and not hub:
        raise UserError(
            f"model '{info.name}' names an architecture, not a hub repository, so it has no "
            "'pretrained' weights; use open_clip/hf-hub:<org>/<repo> or a local weights path"
        )
    found = W.resolve(info, weights, snapshot=[CONFIG, "*.safetensors", "*.bin", *TOKENIZER_FILES])
    return found.folder, found.kind, found.source


def model_config(info: ModelInfo, folder: Path | None) -> dict:
    """The open_clip ``model_cfg`` of this entry (repo config, shipped tiny config, or arch)."""
    import open_clip

    if folder is not None and (folder / CONFIG).is_file():
        return json.loads((folder / CONFIG).read_text())["model_cfg"]
    if "open_clip_cfg" in info.extra:
        return info.extra["open_clip_cfg"]
    cfg = open_clip.get_model_config(info.extra["open_clip_arch"])
    if cfg is None:
        raise UserError(
            f"open_clip has no architecture '{info.extra['open_clip_arch']}'; "
            "see open_clip.list_models()"
        )
    return cfg


def build_open_clip_entry(info: ModelInfo, num_classes: int, weights=None, input_size=None):
    """Build an open_clip model with random, hub or local weights as a breastbench CLIP."""
    import open_clip

    from breastbench.models.clip import CHECKPOINT_FILES, _hf_tokenizer, _load_checkpoint, _model
    from breastbench.models.clip_towers import build_open_clip

    folder, kind, source = _folder(info, weights)
    cfg = model_config(info, folder)
    text_cfg = cfg.get("text_cfg", {})
    hf_text = None
    if "hf_model_name" in text_cfg:
        from transformers import AutoConfig

        try:  # the text tower's config from the HF cache (or hub); never remote code
            hf_text = AutoConfig.from_pretrained(text_cfg["hf_model_name"]).to_dict()
        except OSError as err:
            raise W.missing(info.name, text_cfg["hf_model_name"], W._short(err)) from None
    clip = build_open_clip(cfg, hf_text)
    if kind != W.RANDOM:
        path = W.local_file(folder or weights, info.name, CHECKPOINT_FILES)
        _load_checkpoint(clip, path, info.name)
    context = text_cfg.get("context_length", 77)
    if hf_text is not None:
        repo = info.weights.removeprefix("hf-hub:")
        tokenizer = _hf_tokenizer(folder, repo, info.name, context)
    else:

        def tokenizer():
            return open_clip.SimpleTokenizer(context_length=context)

    info = dataclasses.replace(
        info,
        input_size=(3, *_pair(clip.visual.image_size)),
        extra={**info.extra, "embed_dim": cfg["embed_dim"]},
    )
    return _model(info, num_classes, clip, tokenizer, source, input_size)


def _pair(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(int(v) for v in size)
