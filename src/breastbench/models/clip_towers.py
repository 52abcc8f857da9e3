"""Build open_clip models from JSON configs offline, plus the tiny test tokenizer.

open_clip builds an HF text tower by fetching the text model's ``config.json`` from the Hub even
for random init, which fails offline. We ship that config next to the open_clip config and build
the :class:`open_clip.hf_model.HFTextEncoder` from it, so ``clip/biomedclip`` builds on the meta
device without any file, and loading real weights needs only the open_clip checkpoint folder.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources

import torch

# character-level WordPiece vocabulary of the tiny test tokenizer: deterministic, no file needed
_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,-()&/'"
TINY_VOCAB = (*_SPECIALS, *_CHARS, *(f"##{c}" for c in _CHARS))

TINY_CONFIG = {
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {  # timm's own tiny ViT, same TimmModel path as BiomedCLIP's ViT-B/16
            "timm_model_name": "test_vit",
            "timm_model_pretrained": False,
            "timm_pool": "",
            "timm_proj": "linear",
            "image_size": 64,  # 4 x 4 patches (timm test_vit at 160 px: 100, 6x the tokens)
        },
        "text_cfg": {  # same HF BERT tower type, pooler and projection as BiomedCLIP
            "hf_model_name": "breastbench/test-bert",
            "hf_tokenizer_name": "breastbench/test-bert",
            "hf_proj_type": "mlp",
            "hf_pooler_type": "cls_last_hidden_state_pooler",
            "context_length": 64,
        },
    },
    "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    "hf_text_config": {
        "model_type": "bert",
        "vocab_size": len(TINY_VOCAB),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
        "pad_token_id": 0,
    },
}


@lru_cache(maxsize=None)
def shipped_config(name: str) -> dict:
    """An open_clip config shipped in ``breastbench/models/configs/<name>.json``."""
    text = (resources.files("breastbench.models") / "configs" / f"{name}.json").read_text()
    return json.loads(text)


def build_open_clip(model_cfg: dict, hf_text_config: dict | None = None) -> torch.nn.Module:
    """Instantiate an open_clip CLIP/CustomTextCLIP with random weights, never downloading."""
    from open_clip.hf_model import HFTextEncoder
    from open_clip.model import CLIP, CustomTextCLIP
    from transformers import BertConfig

    cfg = copy.deepcopy(model_cfg)
    if "timm_model_name" in cfg.get("vision_cfg", {}):
        cfg["vision_cfg"]["timm_model_pretrained"] = False  # weights come from the checkpoint
    text_cfg = cfg["text_cfg"]
    custom = cfg.pop("custom_text", False)
    if "hf_model_name" not in text_cfg:
        return (CustomTextCLIP if custom else CLIP)(**cfg)
    assert hf_text_config is not None, "an HF text tower needs its config shipped"
    # a throwaway 1-layer text tower, replaced by the HF tower built from the shipped config
    cfg["text_cfg"] = {
        "context_length": text_cfg["context_length"],
        "vocab_size": 8,
        "width": 8,
        "heads": 1,
        "layers": 1,
    }
    model = CustomTextCLIP(**cfg)
    bert = BertConfig(**{k: v for k, v in hf_text_config.items() if k != "model_type"})
    pooler = text_cfg.get("hf_pooler_type")
    text = HFTextEncoder(
        text_cfg["hf_model_name"],
        output_dim=cfg["embed_dim"],
        config=bert,
        pooler_type=pooler,
        proj_type=text_cfg.get("hf_proj_type"),
    )
    if pooler != "cls_pooler":  # from_pretrained would skip BERT's pooler; checkpoints lack it
        text.transformer.pooler = None
    model.text = text
    model.context_length = text_cfg["context_length"]
    model.vocab_size = bert.vocab_size
    return model


class TinyTokenizer:
    """Deterministic character-level WordPiece tokenizer for ``clip/test-biomedclip``.

    Mimics BERT tokenization ([CLS] text [SEP], lower-case, padded with id 0 to the context
    length) with a 93-token vocabulary built in code, so tests need no tokenizer files.
    """

    def __init__(self, context_length: int = 64):
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

        vocab = {tok: i for i, tok in enumerate(TINY_VOCAB)}
        tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
        tok.enable_truncation(max_length=context_length)
        tok.enable_padding(length=context_length, pad_id=0, pad_token="[PAD]")
        self.tokenizer = tok
        self.context_length = context_length

    def __call__(self, texts: str | list[str]) -> torch.Tensor:
        """Token ids (N, context_length)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        return torch.tensor([e.ids for e in self.tokenizer.encode_batch(texts)], dtype=torch.long)
