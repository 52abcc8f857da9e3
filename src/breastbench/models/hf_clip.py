"""transformers CLIP models (PLIP) behind the same interface as the open_clip family.

:class:`HFCLIPTowers` gives a transformers ``CLIPModel`` open_clip's surface (``encode_image``,
``encode_text``, ``logit_scale``, the image tower under ``visual``), so
:class:`~breastbench.models.clip.CLIPModel` runs zero-shot, linear probing and fine-tuning on it
unchanged: the zero-shot head is the same text matrix, only the tower code differs.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from breastbench.models import weights as W
from breastbench.models.clip_towers import TinyTokenizer
from breastbench.models.encoders import hf_from_folder, hf_vision_config
from breastbench.models.registry import ModelInfo

CLIP_TOKENIZER_FILES = [
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]


class HFCLIPTowers(nn.Module):
    """A transformers CLIPModel seen through open_clip's methods; parameters are shared."""

    def __init__(self, hf_clip: nn.Module):
        super().__init__()
        self.visual = nn.ModuleDict(
            {"model": hf_clip.vision_model, "proj": hf_clip.visual_projection}
        )
        self.text = nn.ModuleDict({"model": hf_clip.text_model, "proj": hf_clip.text_projection})
        self.logit_scale = hf_clip.logit_scale

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Projected pooled image embedding (B, D), not normalised (as open_clip)."""
        pooled = self.visual["model"](pixel_values=images).pooler_output
        return self.visual["proj"](pooled)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Projected text embedding at the end-of-text token (N, D)."""
        pooled = self.text["model"](input_ids=tokens).pooler_output
        return self.text["proj"](pooled)


class HFTokenizer:
    """transformers CLIP tokenizer padded to the text tower's context length."""

    def __init__(self, folder: Path, context_length: int):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.context_length = context_length

    def __call__(self, texts) -> torch.Tensor:
        """Token ids (N, context_length)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        enc = self.tokenizer(
            texts,
            padding="max_length",
            truncation=True,
            max_length=self.context_length,
            return_tensors="pt",
        )
        return enc["input_ids"]


def build_hf_clip(info: ModelInfo, num_classes: int, weights=None, input_size=None):
    """Build a transformers CLIP (PLIP) as a breastbench CLIP model; tokenizer loads lazily."""
    from transformers import CLIPModel as HFCLIP

    from breastbench.models.clip import CLIPModel, _model

    repo = info.weights
    patterns = ["config.json", "model.safetensors", "pytorch_model.bin", *CLIP_TOKENIZER_FILES]
    found = W.resolve(info, weights, snapshot=patterns)
    kind, folder, source = found.kind, found.folder, found.source
    cfg = dict(info.extra["hf_config"])
    if folder is not None and (folder / "config.json").is_file():
        cfg = json.loads((folder / "config.json").read_text())
    config = hf_vision_config(cfg)
    if folder is not None and kind != W.RANDOM:
        hf = hf_from_folder(HFCLIP, folder, config, info.name)
    else:
        hf = HFCLIP(config)
    if kind != W.RANDOM and folder is None:
        path = W.local_file(folder or weights, info.name)
        state = W.read_state_dict(path)
        keep = set(hf.state_dict())  # position_ids buffers differ across versions
        W.load_into(hf, {k: v for k, v in state.items() if k in keep}, info.name, str(path))
    context = hf.config.text_config.max_position_embeddings
    if info.test_variant:

        def tokenizer():
            return TinyTokenizer(context)

    else:

        def tokenizer():
            src = folder
            if src is None or not (src / "tokenizer_config.json").is_file():
                src = W.hf_snapshot(repo, CLIP_TOKENIZER_FILES, f"{info.name} tokenizer")
            return HFTokenizer(src, context)

    model = _model(info, num_classes, HFCLIPTowers(hf), tokenizer, source, input_size)
    assert isinstance(model, CLIPModel)
    return model
