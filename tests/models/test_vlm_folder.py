"""Loading a VLM from a local folder: weights via from_pretrained, ids via the chat template.

The folder is written here from a tiny random model plus a real transformers processor whose
tokenizer is character-level (built in code, no download), so the real-weights code path
(``AutoModelForImageTextToText`` + ``AutoProcessor`` + chat template + image-token expansion)
runs offline.
"""

from __future__ import annotations

import pytest
import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import (
    AutoModelForImageTextToText,
    Idefics3ImageProcessor,
    Idefics3Processor,
    PreTrainedTokenizerFast,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
)
from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

import breastbench.models.vlm  # noqa: F401  (registers vlm/*)
from breastbench.errors import UserError
from breastbench.models import registry
from breastbench.models.vlm.configs import tiny_idefics3, tiny_qwen2_vl

QWEN_SPECIALS = {
    "<|endoftext|>": 0,
    "<|im_start|>": 100,
    "<|im_end|>": 101,
    "<|image_pad|>": 120,
    "<|video_pad|>": 121,
    "<|vision_start|>": 122,
    "<|vision_end|>": 123,
}
SMOL_SPECIALS = {
    "<unk>": 0,
    "<|im_start|>": 1,
    "<end_of_utterance>": 101,
    "<global-img>": 102,
    "<fake_token_around_image>": 119,
    "<image>": 120,
}
QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SMOL_TEMPLATE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def char_tokenizer(specials: dict[str, int], pad: str) -> PreTrainedTokenizerFast:
    """Printable ASCII + newline at ids 3..98, the special tokens at fixed ids."""
    vocab = {chr(c): 3 + i for i, c in enumerate([10, *range(32, 127)])}
    vocab.update(specials)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=next(iter(specials))))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=pad)
    fast.add_special_tokens({"additional_special_tokens": list(specials)})
    return fast


def write_folder(path, name):
    torch.manual_seed(0)
    if name == "vlm/test-qwen2-vl":
        config = tiny_qwen2_vl()
        processor = Qwen2VLProcessor(
            image_processor=Qwen2VLImageProcessor(patch_size=4, merge_size=2),
            tokenizer=char_tokenizer(QWEN_SPECIALS, "<|endoftext|>"),
            video_processor=Qwen2VLVideoProcessor(patch_size=4, merge_size=2),
            chat_template=QWEN_TEMPLATE,
        )
    else:
        config = tiny_idefics3()
        processor = Idefics3Processor(
            image_processor=Idefics3ImageProcessor(do_image_splitting=False),
            tokenizer=char_tokenizer(SMOL_SPECIALS, "<unk>"),
            image_seq_len=16,
            chat_template=SMOL_TEMPLATE,
        )
    model = AutoModelForImageTextToText.from_config(config)
    model.save_pretrained(path)  # safetensors by default
    processor.save_pretrained(path)
    return model.model


@pytest.mark.parametrize("name", ["vlm/test-qwen2-vl", "vlm/test-smolvlm"])
def test_local_folder_uses_weights_and_chat_template(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    saved = write_folder(tmp_path, name)
    assert list(tmp_path.glob("*.safetensors"))
    model = registry.build(name, 2, weights=str(tmp_path)).eval()
    assert model.prompts.source == "chat_template" and model.weights_source == str(tmp_path)
    for key, value in saved.state_dict().items():
        torch.testing.assert_close(model.core.state_dict()[key], value)

    ids = model.prompts.ids(None)
    tokenizer = model.prompts.processor.tokenizer
    text = "".join(tokenizer.convert_ids_to_tokens(ids))
    image = model.prompts.processor.image_token
    assert ids.count(model.core.config.image_token_id) == model.num_image_tokens == 16
    if name == "vlm/test-qwen2-vl":
        assert text.startswith("<|im_start|>user\n<|vision_start|>" + image)
        assert text.endswith("<|vision_end|><|im_end|>\n<|im_start|>assistant\n")
    else:
        tile = "<fake_token_around_image><global-img>" + image * 16 + "<fake_token_around_image>"
        assert text == "<|im_start|>User:" + tile + "<end_of_utterance>\nAssistant:"
    with_text = "".join(tokenizer.convert_ids_to_tokens(model.prompts.ids("Magnification: 200x")))
    assert "Magnification: 200x" in with_text

    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = model.features(x, ["Magnification: 40x", None])
        torch.testing.assert_close(feats, model.reference_features(x, ["Magnification: 40x", None]))


@pytest.mark.parametrize("name", ["vlm/test-qwen2-vl", "vlm/test-smolvlm"])
def test_lora_checkpoint_holds_only_head_and_adapters(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_folder(tmp_path, name)
    model = registry.build(name, 2, weights=str(tmp_path)).set_mode("lora").eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n or n.startswith("head."):
                p.normal_()
    state = model.checkpoint_state()
    assert not model.checkpoint_is_full()
    assert {k.split(".")[0] for k in state} == {"head", "lora"}
    assert len(state) == 2 + 2 * model.trainable_report()["lora_modules"]
    fresh = registry.build(name, 2, weights=str(tmp_path)).eval()
    fresh.load_checkpoint_state(state)  # switches to lora by itself
    assert fresh.mode == "lora"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x))
    # adapters of another rank or on other layers do not fit: one line each, naming the model
    other_r = registry.build(name, 2, weights=str(tmp_path), lora_r=4).eval()
    with pytest.raises(UserError, match=rf"LoRA checkpoint does not fit '{name}': "):
        other_r.load_checkpoint_state(state)
    other_layers = registry.build(name, 2, weights=str(tmp_path), lora_targets=["q_proj"])
    with pytest.raises(UserError, match=r"\(different r or targets\): \d+ adapter tensors differ"):
        other_layers.load_checkpoint_state(state)
