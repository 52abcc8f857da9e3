"""What differs between the two VLM architectures, behind one small interface.

Qwen2-VL and Idefics3 (SmolVLM) differ in how pixels enter the vision tower (flattened
14x14x2 patches + ``image_grid_thw`` vs a (B, 1, 3, H, W) batch + pixel mask), in the connector
(2x2 patch merger vs pixel shuffle), in the image-token layout of the prompt, in the decoder's
module name, and in position ids (3-D M-RoPE vs plain 1-D). Each class here turns a normalised
(B, 3, H, W) tensor into exactly what the Hugging Face processor would have produced for a
fixed-size image with no tiling or image splitting, so the number of image tokens is fixed.
"""

from __future__ import annotations

import torch

from breastbench.errors import UserError


def _text_ids(text: str) -> list[int]:
    """Deterministic byte-level ids in [3, 99) for prompts built without a tokenizer."""
    return [3 + b % 96 for b in text.encode("utf-8")]


class _Parts:
    """Names the part (vision, connector, decoder) a module of the bare model belongs to.

    Also the tokenizer-free prompt layout both architectures share (tiny and random models).
    """

    part_prefixes: tuple[tuple[str, str], ...] = ()
    answer_prefix = ""  # what the model's reply starts with after the generation prompt

    def image_block(self, n_image: int) -> list[int]:
        """Ids of one image in a synthetic prompt (the image tokens and their frame)."""
        raise NotImplementedError

    def _bos_eos(self) -> tuple[int, int]:
        text = self.config.text_config
        return text.bos_token_id or 1, text.eos_token_id or 2

    def synthetic_ids(self, n_image: int, text: str | None) -> list[int]:
        """Tokenizer-free prompt: bos, one image, the optional text, eos."""
        bos, eos = self._bos_eos()
        return [bos, *self.image_block(n_image), *(_text_ids(text) if text else []), eos]

    def synthetic_dialogue(self, n_image: int, turns) -> list[int]:
        """Tokenizer-free multi-turn prompt: per turn one image, the question, eos, the reply.

        ``turns`` is a list of (question, reply); the last reply is None, and the prompt ends
        where the model's reply would start (the generation point).
        """
        bos, eos = self._bos_eos()
        ids = [bos]
        for question, reply in turns:
            ids += [*self.image_block(n_image), *_text_ids(question), eos]
            if reply is not None:
                ids += [*self.answer_ids(reply), eos]
        return ids

    def answer_ids(self, answer: str) -> list[int]:
        """Tokenizer-free ids of a reply."""
        return _text_ids(answer)

    def expand_image(self, processor, prompt: str, n_image: int, n_slots: int = 1) -> str:
        """Replace each of the chat template's ``n_slots`` image placeholders by its tokens."""
        token = processor.image_token
        if prompt.count(token) != n_slots:
            raise UserError(
                f"chat template of {type(processor).__name__} gave {prompt.count(token)} image "
                f"slots for {n_slots} images"
            )
        return prompt.replace(token, self.image_text(processor, n_image))

    def part_of(self, name: str) -> str:
        """``vision``, ``connector`` or ``decoder`` for a parameter/module name; else ``other``."""
        for part, prefix in self.part_prefixes:
            if name.startswith(prefix):
                return part
        return "other"


class QwenVLArch(_Parts):
    """Qwen2-VL: ViT on 14x14 patches (2 frames), 2x2 merger, M-RoPE decoder."""

    family = "qwen2_vl"
    decoder_name = "language_model"  # LoRA targets live under this module only
    vision_names = ("visual",)  # vision tower + merger: frozen in every mode but finetune
    # module-name prefixes of the three parts, most specific first (the merger sits in visual)
    part_prefixes = (
        ("connector", "visual.merger."),
        ("vision", "visual."),
        ("decoder", "language_model."),
    )
    # LoRA targets of the vision and connector scopes (regexes over full module names)
    vision_lora_pattern = r"visual\.blocks\.\d+\.attn\.(qkv|proj)"
    connector_lora_pattern = r"visual\.merger\.mlp\.(0|2)"  # the two Linear layers

    def __init__(self, config):
        self.config = config
        v = config.vision_config
        self.patch, self.merge = v.patch_size, v.spatial_merge_size
        self.temporal = v.temporal_patch_size

    def grid_multiple(self) -> int:
        """Image sides must be a multiple of this (patch size x merge factor)."""
        return self.patch * self.merge

    def num_image_tokens(self, height: int, width: int) -> int:
        """Image tokens in the prompt for one image of this size."""
        return (height // self.patch) * (width // self.patch) // self.merge**2

    def grid_thw(self, batch: int, height: int, width: int, device) -> torch.Tensor:
        """``image_grid_thw``: one row (t=1, h, w) per image, in patches."""
        row = torch.tensor([1, height // self.patch, width // self.patch], device=device)
        return row.repeat(batch, 1)

    def pixel_inputs(self, images: torch.Tensor) -> dict:
        """Flattened patches in the processor's order (frame repeated for temporal patch 2)."""
        b, c, h, w = images.shape
        gh, gw, m, p = h // self.patch, w // self.patch, self.merge, self.patch
        x = images.reshape(b, c, gh // m, m, p, gw // m, m, p)
        x = x.permute(0, 2, 5, 3, 6, 1, 4, 7)  # b, gh/m, gw/m, m, m, c, p, p
        x = x.unsqueeze(6).expand(-1, -1, -1, -1, -1, -1, self.temporal, -1, -1)
        flat = x.reshape(b * gh * gw, c * self.temporal * p * p)
        return {"pixel_values": flat, "image_grid_thw": self.grid_thw(b, h, w, images.device)}

    def encode(self, core, images: torch.Tensor) -> torch.Tensor:
        """Vision tower + merger -> image-token embeddings (B, N, D)."""
        inputs = self.pixel_inputs(images.to(core.visual.dtype))
        out = core.visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"])
        return out.pooler_output.reshape(images.shape[0], -1, out.pooler_output.shape[-1])

    def decoder(self, core):
        """The language decoder (takes ``inputs_embeds``)."""
        return core.language_model

    def position_ids(
        self, core, ids, attention_mask, height: int, width: int, images_per_row: int = 1
    ) -> torch.Tensor:
        """3-D M-RoPE positions (3, B, L), computed on non-padding tokens only."""
        grid = self.grid_thw(ids.shape[0] * images_per_row, height, width, ids.device)
        mm_types = (ids == self.config.image_token_id).int()
        pos, _ = core.get_rope_index(
            ids, mm_token_type_ids=mm_types, image_grid_thw=grid, attention_mask=attention_mask
        )
        return pos

    def reference_inputs(self, images: torch.Tensor, ids, attention_mask) -> dict:
        """Inputs for transformers' own end-to-end forward (used to check our merged path).

        ``images`` holds every image of the batch in prompt order (several per row allowed).
        """
        inputs = self.pixel_inputs(images)
        inputs["mm_token_type_ids"] = (ids == self.config.image_token_id).int()
        return {"input_ids": ids, "attention_mask": attention_mask, **inputs}

    def image_block(self, n_image: int) -> list[int]:
        """``<vision_start>``, the image pads, ``<vision_end>`` (the config's special ids)."""
        c = self.config
        return [c.vision_start_token_id, *([c.image_token_id] * n_image), c.vision_end_token_id]

    def image_text(self, processor, n_image: int) -> str:
        """What one image placeholder of the chat template expands to: ``n_image`` pads."""
        return processor.image_token * n_image


class Idefics3Arch(_Parts):
    """Idefics3 / SmolVLM: SigLIP on one fixed-size tile, pixel-shuffle connector, Llama."""

    family = "idefics3"
    decoder_name = "text_model"
    answer_prefix = " "  # the template's generation prompt is "Assistant:"; replies start " "
    vision_names = ("vision_model", "connector")
    part_prefixes = (
        ("vision", "vision_model."),
        ("connector", "connector."),
        ("decoder", "text_model."),
    )
    vision_lora_pattern = (
        r"vision_model\.encoder\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|out_proj)"
    )
    connector_lora_pattern = r"connector\.modality_projection\.proj"

    def __init__(self, config):
        self.config = config
        self.patch, self.scale = config.vision_config.patch_size, config.scale_factor

    def grid_multiple(self) -> int:
        """Image sides must be a multiple of this (patch size x pixel-shuffle factor)."""
        return self.patch * self.scale

    def num_image_tokens(self, height: int, width: int) -> int:
        """Image tokens in the prompt for one image of this size."""
        return (height // self.patch) * (width // self.patch) // self.scale**2

    def pixel_inputs(self, images: torch.Tensor) -> dict:
        """One image per sample, no splitting: (B, 1, 3, H, W) plus an all-true pixel mask."""
        b, _, h, w = images.shape
        mask = torch.ones(b, 1, h, w, dtype=torch.bool, device=images.device)
        return {"pixel_values": images.unsqueeze(1), "pixel_attention_mask": mask}

    def encode(self, core, images: torch.Tensor) -> torch.Tensor:
        """SigLIP + pixel shuffle + projection -> image-token embeddings (B, N, D).

        Calls the towers directly instead of ``get_image_features``, which silently drops
        all-zero images as "padding" (a uniform mid-grey tile normalised with 0.5/0.5 is zero).
        """
        b, _, h, w = images.shape
        patches = torch.ones(
            b, h // self.patch, w // self.patch, dtype=torch.bool, device=images.device
        )
        pixels = images.to(core.vision_model.dtype)
        hidden = core.vision_model(pixel_values=pixels, patch_attention_mask=patches)
        return core.connector(hidden.last_hidden_state)

    def decoder(self, core):
        """The language decoder (takes ``inputs_embeds``)."""
        return core.text_model

    def position_ids(
        self, core, ids, attention_mask, height: int, width: int, images_per_row: int = 1
    ) -> torch.Tensor:
        """1-D positions counted over non-padding tokens, so left padding does not shift them."""
        return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)

    def reference_inputs(self, images: torch.Tensor, ids, attention_mask) -> dict:
        """Inputs for transformers' own end-to-end forward (used to check our merged path).

        ``images`` holds every image of the batch in prompt order, the same number per row.
        """
        per_row = images.shape[0] // ids.shape[0]
        pixels = self.pixel_inputs(images)
        pixels = {k: v.reshape(ids.shape[0], per_row, *v.shape[2:]) for k, v in pixels.items()}
        return {"input_ids": ids, "attention_mask": attention_mask, **pixels}

    def image_block(self, n_image: int) -> list[int]:
        """The image tokens framed by the id just below ``<image>``.

        In SmolVLM's tokenizers that id is ``<fake_token_around_image>``; in tiny vocabularies
        it is simply an otherwise unused id, which is all a synthetic prompt needs.
        """
        img = self.config.image_token_id
        return [img - 1, *([img] * n_image), img - 1]

    def image_text(self, processor, n_image: int) -> str:
        """The processor's single-tile layout: ``<fake><global-img><image>*N<fake>``."""
        return (
            processor.fake_image_token
            + processor.global_image_tag
            + processor.image_token * n_image
            + processor.fake_image_token
        )


def arch_for(config):
    """The adapter for a Qwen2-VL or Idefics3/SmolVLM config."""
    kind = config.model_type
    if kind == "qwen2_vl":
        return QwenVLArch(config)
    if kind in ("idefics3", "smolvlm"):
        return Idefics3Arch(config)
    raise UserError(f"unsupported VLM architecture '{kind}'; expected qwen2_vl or idefics3")
