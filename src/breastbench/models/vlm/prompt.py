"""Token ids around the image, padding, and last-token pooling for VLM classifiers.

Image-only by default: the chat template with one image and no text, exactly as the
histopathology study ran the VLMs. An optional text context per image (e.g.
``"Magnification: 200x"``) is appended after the image inside the same user turn. Generative
zero-shot scoring uses multi-turn prompts (:meth:`PromptBuilder.dialogue_ids`): in-context
examples as earlier turns, one image each. With real
weights the ids come from the model folder's own processor (chat template + tokenizer); tiny and
random models get a deterministic tokenizer-free layout built from the config's special ids.
"""

from __future__ import annotations

from functools import lru_cache

import torch

PADDING_SIDES = ("left", "right")


class PromptBuilder:
    """Build (ids, attention_mask) for a batch; the image-token count is fixed per model."""

    def __init__(self, arch, n_image: int, processor=None, pad_id: int = 0, side: str = "right"):
        assert side in PADDING_SIDES, side
        self.arch, self.n_image, self.processor = arch, n_image, processor
        self.pad_id, self.side = pad_id, side
        self._ids = lru_cache(maxsize=256)(self._ids_uncached)
        self._dialogue = lru_cache(maxsize=256)(self._dialogue_uncached)

    @property
    def source(self) -> str:
        """``chat_template`` (real processor) or ``synthetic`` (tokenizer-free)."""
        return "synthetic" if self.processor is None else "chat_template"

    def _ids_uncached(self, text: str | None) -> tuple[int, ...]:
        if self.processor is None:
            return tuple(self.arch.synthetic_ids(self.n_image, text))
        content = [{"type": "image"}] + ([{"type": "text", "text": text}] if text else [])
        prompt = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        prompt = self.arch.expand_image(self.processor, prompt, self.n_image)
        ids = self.processor.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return tuple(ids)

    def dialogue_ids(self, turns: tuple[tuple[str, str | None], ...]) -> list[int]:
        """Ids of a multi-turn prompt, one image per user turn, ending at the generation point.

        ``turns`` are (question, reply) pairs, the last reply None: in-context examples as
        earlier turns of the conversation, then the image to classify.
        """
        return list(self._dialogue(tuple(turns)))

    def _dialogue_uncached(self, turns) -> tuple[int, ...]:
        if self.processor is None:
            return tuple(self.arch.synthetic_dialogue(self.n_image, turns))
        messages = []
        for question, reply in turns:
            content = [{"type": "image"}, {"type": "text", "text": question}]
            messages.append({"role": "user", "content": content})
            if reply is not None:
                answer = [{"type": "text", "text": reply}]
                messages.append({"role": "assistant", "content": answer})
        prompt = self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        prompt = self.arch.expand_image(self.processor, prompt, self.n_image, len(turns))
        return tuple(self.processor.tokenizer(prompt, add_special_tokens=False)["input_ids"])

    def answer_ids(self, answer: str) -> list[int]:
        """Ids of a reply as the model would generate it after the generation prompt."""
        if self.processor is None:
            return self.arch.answer_ids(answer)
        text = self.arch.answer_prefix + answer
        return list(self.processor.tokenizer(text, add_special_tokens=False)["input_ids"])

    def ids(self, text: str | None = None) -> list[int]:
        """Unpadded ids of one sample (cached: prompts repeat across a dataset)."""
        return list(self._ids(text or None))

    def batch(self, texts: list[str | None], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ids and attention mask (B, L), padded on ``self.side``."""
        return pad([self.ids(t) for t in texts], self.pad_id, self.side, device)


def pad(seqs: list[list[int]], pad_id: int, side: str, device=None):
    """Pad id lists to one length on the left or right; returns (ids, attention_mask)."""
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        span = slice(length - len(s), length) if side == "left" else slice(0, len(s))
        ids[i, span] = torch.tensor(s, dtype=torch.long)
        mask[i, span] = 1
    return ids.to(device), mask.to(device)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last non-padding token of each row, for left and right padding alike.

    Taken from the mask, never from ``pad_token_id``: transformers' sequence-classification
    heads once located it as "first pad - 1", which is wrong under left padding and when the
    pad id equals a real token (e.g. eos).
    """
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    return (positions * attention_mask.long()).argmax(-1)


def pool_last(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Final hidden state at the last non-padding token: (B, L, D) -> (B, D)."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last_token_index(attention_mask).to(hidden.device)]
