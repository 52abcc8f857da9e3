"""CLIP-style family through open_clip: BiomedCLIP, OpenAI CLIP ViT-B/16 and a tiny test twin.

``features`` is the L2-normalised image embedding, so a zero-shot classifier is just a linear
head: weight = ``logit_scale * text_matrix`` (C, D) and bias 0 reproduces CLIP's logits
``logit_scale * norm(img) @ norm(text).T``. For a binary task (one logit) the weight is
``logit_scale * (t_pos - t_neg)``, so the sigmoid equals CLIP's two-class softmax. Linear probing
may start from that head ("linear probing with textual descriptions"): call
:meth:`CLIPModel.build_zero_shot_head` before ``set_mode("linear_probe")``.

Mode ``lora`` puts peft LoRA adapters (options ``lora_r``, ``lora_alpha``, ``lora_dropout``) on
every Linear layer of the image tower (attention and MLP projections); the text tower stays
frozen, the head trains.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from breastbench.errors import UserError
from breastbench.models import weights as W
from breastbench.models.adapters import DEFAULT_LORA, LoraOptions, PeftLoraMixin
from breastbench.models.base import BreastModel
from breastbench.models.clip_towers import TINY_CONFIG, TinyTokenizer, build_open_clip
from breastbench.models.clip_towers import shipped_config as _shipped
from breastbench.models.prompts import load_prompts
from breastbench.models.registry import ModelInfo, register

CLIP_CAPABILITIES = ("text_head", "features", "finetune")
# the open_clip models built here: LoRA on the image tower
CLIP_LORA_CAPABILITIES = (*CLIP_CAPABILITIES, "lora")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)  # = open_clip.constants.OPENAI_DATASET_MEAN
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
TOKENIZER_FILES = [
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]
CHECKPOINT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", *W.WEIGHT_FILES)


class CLIPModel(PeftLoraMixin, BreastModel):
    """An open_clip model: normalised image embedding -> linear head (zero-shot or trained)."""

    lora_attr = "clip.visual"  # LoRA adapts the image tower only

    def __init__(
        self,
        info,
        num_classes: int,
        clip: nn.Module,
        tokenizer: Callable,
        source: str,
        lora: LoraOptions | None = None,
    ):
        super().__init__(
            info, num_classes, feature_dim=info.extra["embed_dim"], weights_source=source
        )
        self.clip = clip
        self.lora_options = lora or DEFAULT_LORA
        self._tokenizer_factory = tokenizer  # built lazily: meta-device builds never need it
        self._tokenizer = None

    @property
    def tokenizer(self) -> Callable:
        """Text -> token ids (N, context_length), matching the text tower."""
        if self._tokenizer is None:
            self._tokenizer = self._tokenizer_factory()
        return self._tokenizer

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings (B, D)."""
        return F.normalize(self.clip.encode_image(images), dim=-1)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised text embeddings (N, D), computed in eval mode (no dropout)."""
        was_training = self.clip.training
        self.clip.eval()
        try:
            tokens = self.tokenizer(list(texts)).to(self.clip.logit_scale.device)
            return F.normalize(self.clip.encode_text(tokens), dim=-1)
        finally:
            self.clip.train(was_training)

    def class_text_embeddings(self, classes, prompt_set, magnification=None) -> torch.Tensor:
        """(C, D) prompt ensembles: per class, the mean of normalised prompts, renormalised."""
        prompts = load_prompts(prompt_set)
        rows = [self.encode_text(prompts.prompts(c, magnification)).mean(0) for c in classes]
        return F.normalize(torch.stack(rows), dim=-1)

    @torch.no_grad()
    def build_zero_shot_head(self, classes, prompt_set, magnification=None) -> nn.Linear:
        """Set the head to CLIP's zero-shot classifier for ``classes`` (ordered as the targets).

        ``prompt_set`` is a shipped set name (``density``), a YAML path or a PromptSet; with
        ``magnification`` the set's magnification-aware templates are used.
        """
        classes = list(classes)
        if len(classes) != self.num_classes:
            raise UserError(
                f"zero-shot head for '{self.name}' got {len(classes)} classes but the model was "
                f"created with num_classes={self.num_classes}"
            )
        text = self.class_text_embeddings(classes, prompt_set, magnification)
        scale = self.clip.logit_scale.exp()
        weight = scale * (text[1:2] - text[0:1] if self.num_outputs == 1 else text)
        self.head.weight.copy_(weight.to(self.head.weight.dtype))
        self.head.bias.zero_()
        self.classes = classes
        return self.head

    def set_mode(self, mode: str) -> CLIPModel:
        """Base rules, plus: only the image tower can train.

        The text tower and logit scale are unused by ``forward`` and stay frozen.
        """
        super().set_mode(mode)
        for name, p in self.clip.named_parameters():
            if not name.startswith("visual."):
                p.requires_grad = False
        return self

    def lora_pattern(self, module: nn.Module) -> str:
        """Every Linear layer of the image tower (the patch-embedding conv is left out)."""
        import re

        names = [re.escape(n) for n, m in module.named_modules() if isinstance(m, nn.Linear)]
        if not names:
            raise UserError(f"the image tower of '{self.name}' has no Linear layer to adapt")
        return "|".join(names)

    def parameter_part(self, name: str) -> str:
        """``head``, ``image_tower``, ``text_tower`` (the rest of the CLIP model)."""
        if name.startswith("head."):
            return "head"
        return "image_tower" if name.startswith("clip.visual.") else "text_tower"


# -- builders -------------------------------------------------------------------------------
def _load_checkpoint(clip: nn.Module, path: Path, name: str) -> None:
    """Load an open_clip checkpoint (safetensors, or a weights-only torch file)."""
    from open_clip.factory import load_checkpoint

    try:
        load_checkpoint(clip, str(path), strict=True, weights_only=True)
    except (RuntimeError, KeyError, ValueError, OSError) as err:
        msg = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise UserError(f"weights {path} do not fit model '{name}' ({msg})") from None


def _model(info, num_classes, clip, tokenizer, source, input_size, lora=None) -> CLIPModel:
    if input_size is not None and _side(input_size) != info.input_size[-1]:
        raise UserError(
            f"model '{info.name}' has a fixed input size of {info.input_size[-1]}; "
            f"remove input_size={input_size}"
        )
    return CLIPModel(info, num_classes, clip, tokenizer, source, lora)


def _side(input_size) -> int:
    return input_size if isinstance(input_size, int) else int(tuple(input_size)[-1])


def _hf_tokenizer(folder: Path | None, repo: str, name: str, context_length: int) -> Callable:
    """Factory of an open_clip HFTokenizer read from a local folder (or the repo's HF cache)."""

    def make():
        from open_clip.tokenizer import HFTokenizer

        src = folder
        if src is None or not any((src / f).is_file() for f in TOKENIZER_FILES[:2]):
            src = W.hf_snapshot(repo, TOKENIZER_FILES, f"{name} tokenizer")
        if not any((src / f).is_file() for f in TOKENIZER_FILES[:2]):
            raise UserError(f"no tokenizer (vocab.txt or tokenizer.json) for '{name}' in {src}")
        return HFTokenizer(str(src), context_length=context_length)

    return make


def _open_biomedclip(info, weights) -> tuple[nn.Module, Callable, str]:
    """BiomedCLIP's towers (the shipped config, or a local folder's), tokenizer and source."""
    shipped = _shipped("biomedclip")
    repo = info.weights.removeprefix("hf-hub:")
    patterns = ["open_clip_config.json", "*.safetensors", "*.bin", *TOKENIZER_FILES]
    found = W.resolve(info, weights, snapshot=patterns)
    folder, source = found.folder, found.source
    cfg = shipped
    if folder is not None and (folder / "open_clip_config.json").is_file():
        local = json.loads((folder / "open_clip_config.json").read_text())
        cfg = {**shipped, "model_cfg": local.get("model_cfg", shipped["model_cfg"])}
    clip = build_open_clip(cfg["model_cfg"], cfg["hf_text_config"])
    if found.kind != W.RANDOM:
        path = W.local_file(folder or weights, info.name, CHECKPOINT_FILES)
        _load_checkpoint(clip, path, info.name)
        source = source if found.kind == W.PRETRAINED else str(path)
    context = cfg["model_cfg"]["text_cfg"]["context_length"]
    return clip, _hf_tokenizer(folder, repo, info.name, context), source


def _open_openai(info, weights) -> tuple[nn.Module, Callable, str]:
    """OpenAI CLIP ViT-B/16 (QuickGELU), open_clip's own tokenizer and the weights' source."""
    import open_clip

    files = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    found = W.resolve(info, weights, hub_files=files, names=CHECKPOINT_FILES)
    cfg = open_clip.get_model_config("ViT-B-16")
    cfg["quick_gelu"] = True  # OpenAI's weights were trained with QuickGELU
    clip = build_open_clip(cfg)
    if found.path is not None:
        _load_checkpoint(clip, found.path, info.name)
    return clip, open_clip.SimpleTokenizer, found.source


def _open_tiny(info, weights) -> tuple[nn.Module, Callable, str]:
    """The tiny random BiomedCLIP twin (or its saved weights) and its character tokenizer."""
    found = W.resolve(info, weights, names=CHECKPOINT_FILES)
    clip = build_open_clip(TINY_CONFIG["model_cfg"], TINY_CONFIG["hf_text_config"])
    if found.path is not None:
        _load_checkpoint(clip, found.path, info.name)
    context = TINY_CONFIG["model_cfg"]["text_cfg"]["context_length"]
    return clip, lambda: TinyTokenizer(context), found.source


# -- registry -------------------------------------------------------------------------------
def _register_clip(
    name: str, open_towers: Callable, *, config: dict | None = None, embed_dim: int = 0, **fields
) -> None:
    """Register an open_clip variant of this module: LoRA-capable, resized bicubically.

    ``open_towers(info, weights)`` gives the open_clip model, the tokenizer factory and the
    weights' source; every variant's builder wraps them alike. With an open_clip ``config`` (a
    shipped one or the tiny twin's), its ``preprocess_cfg`` gives the mean and std and its
    ``model_cfg`` the embedding width.
    """
    if config is not None:
        fields["mean"] = tuple(config["preprocess_cfg"]["mean"])
        fields["std"] = tuple(config["preprocess_cfg"]["std"])
        embed_dim = config["model_cfg"]["embed_dim"]
    info = ModelInfo(
        name=name,
        family="clip",
        capabilities=CLIP_LORA_CAPABILITIES,
        extra={"embed_dim": embed_dim, "interpolation": "bicubic"},
        **fields,
    )

    def build(
        info, num_classes, weights=None, input_size=None, lora: LoraOptions = DEFAULT_LORA
    ) -> CLIPModel:
        clip, tokenizer, source = open_towers(info, weights)
        return _model(info, num_classes, clip, tokenizer, source, input_size, lora)

    register(info)(build)


_register_clip(
    "clip/biomedclip",
    _open_biomedclip,
    weights="hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224",
    config=_shipped("biomedclip"),
    licence="mit",
    description="BiomedCLIP: ViT-B/16 + PubMedBERT, trained on PMC-15M figure-caption pairs",
)
_register_clip(
    "clip/openai-vit-b-16",
    _open_openai,
    weights="hf-hub:timm/vit_base_patch16_clip_224.openai",
    mean=OPENAI_MEAN,
    std=OPENAI_STD,
    embed_dim=512,
    licence="mit",
    description="OpenAI CLIP ViT-B/16 (open_clip 'ViT-B-16', tag 'openai')",
)
_register_clip(
    "clip/test-biomedclip",
    _open_tiny,
    weights="random",
    input_size=(3, *(TINY_CONFIG["model_cfg"]["vision_cfg"]["image_size"],) * 2),
    config=TINY_CONFIG,
    licence="apache-2.0",
    test_variant=True,
    description="tiny random BiomedCLIP twin (timm test_vit + 2-layer BERT) for tests",
)
