"""A generative VLM used as an image classifier: pooled decoder state -> linear head.

``features(images)`` runs the frozen vision tower and connector (:meth:`encode_vision`), puts the
image-token embeddings into the prompt at the image-token positions and runs the language
decoder (:meth:`features_from_vision`), then pools the final hidden state at the last
non-padding token. Both halves are public so the runner can cache the vision output once and
train LoRA adapters on the decoder alone: ``forward_from_vision(encode_vision(x)) == forward(x)``.

Modes: ``zero_shot`` (generative: each class scored by the likelihood of its answer words,
see :mod:`breastbench.models.vlm.generative`; the LM head is attached for this mode only),
``linear_probe`` (head only), ``lora`` (peft LoRA + head on the part named by
``lora_scope``: the decoder's attention projections by default, else the vision encoder, the
connector or all three) and ``finetune`` (everything). Where the vision side trains (vision or
connector LoRA, finetune) :attr:`vision_trainable` is True and vision tokens are not cacheable.
The head stays outside
the peft-wrapped backbone: it is trained and saved next to the adapters by
:meth:`checkpoint_state`, which keeps the shared training loop unchanged.
"""

from __future__ import annotations

import torch

from breastbench.errors import UserError
from breastbench.models.adapters import load_lora_checkpoint, lora_checkpoint_state, peft_report
from breastbench.models.base import BreastModel
from breastbench.models.vlm.generative import AnswerScorer
from breastbench.models.vlm.lora import ScopedLoraOptions, wrap_lora
from breastbench.models.vlm.prompt import PromptBuilder, pool_last


class VLMClassifier(BreastModel):
    """Qwen2-VL or Idefics3/SmolVLM backbone with a linear classification head."""

    def __init__(
        self,
        info,
        num_classes,
        core,
        arch,
        prompts: PromptBuilder,
        weights_source,
        image_size: tuple[int, int],
        lora: ScopedLoraOptions,
        lm_head: torch.nn.Module | None = None,
    ):
        super().__init__(info, num_classes, core.config.text_config.hidden_size, weights_source)
        self.vlm = core  # becomes a peft.PeftModel under lora
        self.arch = arch
        self.prompts = prompts
        self.image_size = tuple(image_size)
        self.lora_options = lora
        # the pretrained LM head, kept outside the module tree: registered (counted, saved,
        # moved) only under zero_shot, the one mode that reads the vocabulary logits
        self.__dict__["_pretrained_lm_head"] = lm_head
        self.scorer: AnswerScorer | None = None  # generative zero-shot: question and answers

    # -- properties ------------------------------------------------------------------------
    @property
    def core(self):
        """The bare transformers model (vision tower, connector, decoder), peft wrapper removed."""
        return self.vlm.get_base_model() if self.is_lora else self.vlm

    @property
    def is_lora(self) -> bool:
        """True once LoRA adapters have been injected."""
        return hasattr(self.vlm, "peft_config")

    @property
    def vision_trainable(self) -> bool:
        """True when training changes :meth:`encode_vision` (vision/connector LoRA, finetune)."""
        if self.mode == "finetune":
            return True
        return self.is_lora and any(p in ("vision", "connector") for p in self.lora_options.parts)

    @property
    def num_image_tokens(self) -> int:
        """Fixed number of image tokens per prompt (fixed input size, no tiling)."""
        return self.prompts.n_image

    @property
    def data_config(self) -> dict:
        """Input size actually used (registry default or the ``input_size`` option)."""
        cfg = super().data_config
        cfg["input_size"] = (3, *self.image_size)
        return cfg

    # -- forward paths ---------------------------------------------------------------------
    def encode_vision(self, images: torch.Tensor) -> torch.Tensor:
        """Image-token embeddings (B, N, D) from the vision tower + connector."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, *self.image_size):
            raise UserError(
                f"model '{self.name}' expects images of shape (B, 3, {self.image_size[0]}, "
                f"{self.image_size[1]}), got {tuple(images.shape)}; resize with data_config"
            )
        return self.arch.encode(self.core, images)

    def features_from_vision(self, vision_out: torch.Tensor, text=None) -> torch.Tensor:
        """Decoder features (B, D) from cached image-token embeddings and optional text."""
        core, batch = self.core, vision_out.shape[0]
        ids, mask = self.prompts.batch(self._texts(text, batch), device=vision_out.device)
        embeds = core.get_input_embeddings()(ids)
        slots = (ids == core.config.image_token_id).unsqueeze(-1)
        assert int(slots.sum()) == vision_out.shape[0] * vision_out.shape[1], "image token count"
        embeds = embeds.masked_scatter(slots, vision_out.to(embeds.dtype))
        positions = self.arch.position_ids(core, ids, mask, *self.image_size)
        out = self.arch.decoder(core)(
            inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=False
        )
        return pool_last(out.last_hidden_state, mask).float()

    def features(self, images: torch.Tensor, text=None) -> torch.Tensor:
        """Pooled features (B, D): last non-padding token of the decoder's final hidden state."""
        return self.features_from_vision(self.encode_vision(images), text)

    def forward(self, images: torch.Tensor, text=None) -> torch.Tensor:
        """Logits (B, num_outputs); under zero_shot the answer log-likelihoods per class."""
        if self.mode == "zero_shot":
            return self.forward_from_vision(self.encode_vision(images), text)
        return self.head(self.features(images, text))

    def forward_from_vision(self, vision_out: torch.Tensor, text=None) -> torch.Tensor:
        """Logits from cached :meth:`encode_vision` output (LoRA training, zero-shot scoring)."""
        if self.mode == "zero_shot":
            if self.scorer is None:
                raise UserError(
                    f"generative zero-shot of '{self.name}' needs its question set first "
                    "(build_zero_shot_head with a prompt_set, e.g. histology_binary)"
                )
            return self.scorer.score(self, vision_out, self._texts(text, vision_out.shape[0]))
        return self.head(self.features_from_vision(vision_out, text))

    def frozen_features(self, images: torch.Tensor) -> torch.Tensor:
        """What stays fixed under the current mode: vision tokens (lora) or features (probe)."""
        if self.mode == "finetune":
            raise UserError(f"nothing of '{self.name}' stays frozen under finetune; no caching")
        if self.vision_trainable:
            raise UserError(
                f"the vision side of '{self.name}' trains under lora_scope "
                f"'{self.lora_options.scope}'; its vision tokens cannot be cached"
            )
        vision = self.mode in ("lora", "zero_shot")
        return self.encode_vision(images) if vision else self.features(images)

    def forward_from_frozen(self, frozen: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`frozen_features` output."""
        vision = self.mode in ("lora", "zero_shot")
        return self.forward_from_vision(frozen) if vision else self.head(frozen)

    # -- generative zero-shot ----------------------------------------------------------------
    @torch.no_grad()
    def build_zero_shot_head(self, classes, prompt_set, magnification=None) -> AnswerScorer:
        """Set up generative zero-shot: the question and each class's answers.

        ``prompt_set`` names a question set (shipped, e.g. ``histology_binary``, or a YAML
        path); a magnification picks its magnification-aware question. The head stays unused.
        """
        if self.mode != "zero_shot":
            raise UserError(
                f"'{self.name}' is generative: its zero-shot scores are answer likelihoods, not "
                "a text-initialised head; drop init_head_from_text for this model"
            )
        classes = list(classes)
        if len(classes) != self.num_classes:
            raise UserError(
                f"zero-shot scorer for '{self.name}' got {len(classes)} classes but the model "
                f"was created with num_classes={self.num_classes}"
            )
        self.scorer = AnswerScorer.from_questions(classes, prompt_set, magnification)
        self.classes = classes
        return self.scorer

    @torch.no_grad()
    def set_examples(self, images: torch.Tensor, labels, texts=None, *, vision=False) -> None:
        """In-context examples (images, or their vision tokens when ``vision``) for zero-shot."""
        if self.scorer is None:
            raise UserError(f"set the question set of '{self.name}' before in-context examples")
        tokens = images if vision else self.encode_vision(images)
        self.scorer.set_examples(tokens, labels, texts)

    def _attach_lm_head(self) -> None:
        """Register the LM head: the pretrained one, else tied or new (random models)."""
        if "lm_head" in self._modules:
            return
        head = self._pretrained_lm_head
        if head is None:
            core = self.core
            embed = core.get_input_embeddings()
            head = torch.nn.Linear(
                embed.weight.shape[1], embed.weight.shape[0], bias=False, dtype=embed.weight.dtype
            )
            if getattr(core.config, "tie_word_embeddings", False):
                head.weight = embed.weight
            else:
                std = getattr(core.config.text_config, "initializer_range", 0.02)
                torch.nn.init.normal_(head.weight, std=std)
            head.to(embed.weight.device)
        self.lm_head = head

    @torch.no_grad()
    def reference_features(self, images: torch.Tensor, text=None) -> torch.Tensor:
        """Same features via transformers' own end-to-end forward (pixel inputs + input_ids).

        A self-check of our merged path: image-token placement, M-RoPE positions, pooling.
        """
        ids, mask = self.prompts.batch(self._texts(text, images.shape[0]), device=images.device)
        inputs = self.arch.reference_inputs(images.to(self.core.dtype), ids, mask)
        hidden = self.core(**inputs, use_cache=False).last_hidden_state
        return pool_last(hidden, mask).float()

    def _texts(self, text, batch: int) -> list:
        if text is None or isinstance(text, str):
            return [text] * batch
        if len(text) != batch:
            raise UserError(f"got {len(text)} text contexts for a batch of {batch} images")
        return list(text)

    # -- modes -----------------------------------------------------------------------------
    def set_mode(self, mode: str) -> VLMClassifier:
        """Set trainable parameters; ``lora`` injects peft adapters into the decoder once."""
        self.check_mode(mode)
        if self.is_lora and mode != "lora":
            raise UserError(
                f"model '{self.name}' already carries LoRA adapters; build a new model for '{mode}'"
            )
        if mode == "zero_shot":
            self._attach_lm_head()
        if mode != "lora":
            return super().set_mode(mode)
        if not self.is_lora:
            # new adapter modules (dropout) start in train mode; keep the model's current mode
            self.vlm = wrap_lora(self.vlm, self.arch, self.lora_options).train(self.training)
        self.mode = mode
        for name, p in self.named_parameters():
            p.requires_grad = "lora_" in name
        for p in self.head.parameters():
            p.requires_grad = True
        return self

    def trainable_report(self) -> dict:
        """Parameter counts, per part too; under lora also peft's own adapter count."""
        report = super().trainable_report()
        report.update(
            vision_trainable=self.vision_trainable,
            image_tokens=self.num_image_tokens,
            prompt=self.prompts.source,
            input_size=list(self.data_config["input_size"]),
        )
        if self.is_lora:
            report.update(
                peft_report(self.vlm, self.lora_options),
                lora_params=sum(
                    p.numel()
                    for n, p in self.named_parameters()
                    if "lora_" in n and p.requires_grad
                ),
                lora_scope=self.lora_options.scope,
            )
        return report

    def parameter_part(self, name: str) -> str:
        """``vision``, ``connector``, ``decoder`` or ``head`` for a name of ``named_parameters``."""
        if name.startswith("head."):
            return "head"
        if name.startswith("lm_head."):  # the language model's output layer (zero_shot)
            return "decoder"
        name = name.removeprefix("vlm.").removeprefix("base_model.model.")
        return self.arch.part_of(name)

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint_is_full(self) -> bool:
        """True when the checkpoint holds every tensor (backbone cannot be rebuilt from source)."""
        return self.mode == "finetune" or self.weights_source == "random"

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Tensors to save, following :meth:`BreastModel.checkpoint_state`'s rule.

        Everything after finetune or with a random backbone (it cannot be rebuilt); otherwise
        the head, plus the adapters as ``lora.<peft key>`` under lora.
        """
        wrapped = self.vlm if self.is_lora else None
        state = lora_checkpoint_state(self, wrapped, self.checkpoint_is_full())
        if self.scorer is not None:
            state.update(self.scorer.state())
        return {k: v.detach().contiguous() for k, v in state.items()}

    def checkpoint_meta(self) -> dict:
        """The generative zero-shot scorer (question, answers, examples) for ``meta.json``."""
        return {"scorer": self.scorer.to_meta()} if self.scorer is not None else {}

    def restore_checkpoint_meta(self, meta: dict) -> None:
        """Inverse of :meth:`checkpoint_meta`, before :meth:`load_checkpoint_state`."""
        if meta.get("scorer"):
            self.scorer = AnswerScorer.from_meta(meta["scorer"])

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`checkpoint_state`; a state with adapters switches to lora first."""
        if self.scorer is not None:
            self.scorer.load_state(state)
        state = {k: v for k, v in state.items() if not k.startswith("scorer.")}
        if any("lora_" in k for k in state) and not self.is_lora:
            self.set_mode("lora")
        load_lora_checkpoint(self, self.vlm if self.is_lora else None, state)
