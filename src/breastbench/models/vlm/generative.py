"""Generative VLMs as zero-shot and in-context classifiers: classes scored by answer likelihood.

The instruct model is asked the question of a question set
(:mod:`breastbench.models.questions`) about one image. Each class is scored by the probability
the language model gives its answer tokens right after the generation prompt,
``log P(answer) = sum_j log p(token_j | prompt, tokens_<j)``; a class with several answer
strings ("benign", "Benign") gets the log of their summed probabilities. The class scores are
then normalised over the classes (a softmax of log-likelihoods), so nothing is sampled and no
free text is parsed. The scores are returned as logits: ``softmax(logits)`` are the class
probabilities.

With in-context examples (``shots: k``) the prompt is a conversation: one user turn per example
(its image and the question), answered by the example's class word, then the image to
classify. Example images enter as cached image-token embeddings (:meth:`set_examples`), so a
prediction needs the examples' vision tokens, which the checkpoint stores, and never their
files.
"""

from __future__ import annotations

import torch

from breastbench.errors import UserError
from breastbench.models.vlm.prompt import pad

TOKENS_PER_CHUNK = 32768  # decoder tokens per forward pass: bounds memory on long prompts


class AnswerScorer:
    """Question, answers per class and optional in-context examples of one zero-shot run."""

    def __init__(self, classes, question: str, answers, source: str = ""):
        self.classes = list(classes)
        self.question = question
        self.answers = [tuple(a) for a in answers]
        self.source = source
        if len(self.answers) != len(self.classes):
            raise UserError(f"{len(self.answers)} answer lists for {len(self.classes)} classes")
        self.examples: torch.Tensor | None = None  # (E, N, D) image-token embeddings
        self.example_labels: list[int] = []
        self.example_texts: list[str | None] = []

    @classmethod
    def from_questions(cls, classes, question_set, magnification=None) -> AnswerScorer:
        """From a question set (name, path or QuestionSet) for ``classes`` in target order."""
        from breastbench.models.questions import load_questions

        qs = load_questions(question_set)
        return cls(classes, qs.text(magnification), qs.answers_for(list(classes)), qs.source)

    # -- in-context examples ---------------------------------------------------------------
    def set_examples(self, vision: torch.Tensor, labels, texts=None) -> None:
        """Examples shown before the query, in prompt order: vision tokens (E, N, D), labels."""
        labels = [int(v) for v in labels]
        if vision.shape[0] != len(labels):
            raise UserError(f"{vision.shape[0]} example images for {len(labels)} labels")
        self.examples = vision.detach().float().cpu()
        self.example_labels = labels
        self.example_texts = list(texts) if texts is not None else [None] * len(labels)

    @property
    def n_examples(self) -> int:
        """In-context examples in every prompt (0 for zero-shot)."""
        return len(self.example_labels)

    def user_text(self, context: str | None) -> str:
        """The user turn's text: the image's text context (if any), then the question."""
        return f"{context}\n{self.question}" if context else self.question

    def turns(self, context: str | None) -> tuple[tuple[str, str | None], ...]:
        """(question, reply) per turn: the examples answered by their class, then the query."""
        shown = tuple(
            (self.user_text(t), self.answers[c][0])
            for c, t in zip(self.example_labels, self.example_texts, strict=True)
        )
        return (*shown, (self.user_text(context), None))

    # -- checkpoint --------------------------------------------------------------------------
    def to_meta(self) -> dict:
        """JSON-ready description (the examples' vision tokens go into :meth:`state`)."""
        return {
            "classes": self.classes,
            "question": self.question,
            "answers": [list(a) for a in self.answers],
            "source": self.source,
            "example_labels": self.example_labels,
            "example_texts": self.example_texts,
        }

    @classmethod
    def from_meta(cls, meta: dict) -> AnswerScorer:
        """Inverse of :meth:`to_meta`; the examples' tensor follows from :meth:`load_state`."""
        scorer = cls(meta["classes"], meta["question"], meta["answers"], meta.get("source", ""))
        scorer.example_labels = [int(v) for v in meta.get("example_labels", [])]
        scorer.example_texts = list(meta.get("example_texts", []))
        return scorer

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint: the examples' vision tokens."""
        return {} if self.examples is None else {"scorer.examples": self.examples}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Take the examples' vision tokens from checkpoint tensors."""
        if self.example_labels:
            if "scorer.examples" not in tensors:
                raise UserError("checkpoint of an in-context run lacks its examples' tensors")
            self.examples = tensors["scorer.examples"].float()

    # -- scoring -----------------------------------------------------------------------------
    def candidates(self, prompts) -> list[tuple[int, list[int]]]:
        """(class, answer ids) of every answer string, tokenised as the model would reply."""
        out = []
        for c, answers in enumerate(self.answers):
            for answer in answers:
                ids = prompts.answer_ids(answer)
                if not ids:
                    raise UserError(f"answer '{answer}' of class {self.classes[c]} has no tokens")
                out.append((c, ids))
        return out

    def score(self, model, vision: torch.Tensor, texts) -> torch.Tensor:
        """Class log-probabilities (B, C) for query image tokens (B, N, D) and their contexts."""
        cands = self.candidates(model.prompts)
        prompt = len(model.prompts.dialogue_ids(self.turns(texts[0]))) if len(texts) else 0
        step = max(1, TOKENS_PER_CHUNK // sum(prompt + len(a) for _, a in cands))
        out = [
            self._score_chunk(model, vision[s : s + step], texts[s : s + step], cands)
            for s in range(0, vision.shape[0], step)
        ]
        if not out:
            return torch.empty(0, len(self.classes))
        return torch.cat(out)

    def _score_chunk(self, model, vision, texts, cands) -> torch.Tensor:
        core, arch, prompts = model.core, model.arch, model.prompts
        device, n, m = vision.device, vision.shape[0], len(cands)
        seqs, starts = [], []
        for text in texts:
            prompt = prompts.dialogue_ids(self.turns(text))
            for _, answer in cands:
                seqs.append(prompt + answer)
                starts.append(len(prompt))
        ids, mask = pad(seqs, prompts.pad_id, "right", device)
        # image-token embeddings in prompt order: the examples, then the query; per sequence
        images = vision.unsqueeze(1)
        if self.examples is not None and self.n_examples:
            shown = self.examples.to(device, vision.dtype).unsqueeze(0).expand(n, -1, -1, -1)
            images = torch.cat([shown, images], dim=1)
        per_row = images.shape[1]
        images = images.repeat_interleave(m, dim=0).reshape(-1, vision.shape[-1])
        embeds = core.get_input_embeddings()(ids)
        slots = (ids == core.config.image_token_id).unsqueeze(-1)
        if int(slots.sum()) != images.shape[0]:
            raise UserError("prompt image slots do not match the examples and query images")
        embeds = embeds.masked_scatter(slots, images.to(embeds.dtype))
        positions = arch.position_ids(core, ids, mask, *model.image_size, images_per_row=per_row)
        shared = shared_prefix(seqs, core.config.image_token_id, model.num_image_tokens)
        if shared * 4 < ids.shape[1]:  # a short prefix (zero-shot) costs more to cache than
            shared = 0  # it saves (bench/generative_zero_shot.py: 0.8-0.9x with 2 tokens)
        hidden = self._decode(arch.decoder(core), embeds, mask, positions, shared)
        # the logits at position start-1+j predict answer token j (hidden starts after shared)
        rows, cols, targets = [], [], []
        for i, (start, (_, answer)) in enumerate(zip(starts, cands * n, strict=True)):
            for j, token in enumerate(answer):
                rows.append(i)
                cols.append(start - 1 + j - shared)
                targets.append(token)
        rows_t = torch.tensor(rows, device=device)
        logp = model.lm_head(hidden[rows_t, torch.tensor(cols, device=device)]).float()
        logp = logp.log_softmax(-1).gather(1, torch.tensor(targets, device=device)[:, None])
        seq = torch.zeros(len(seqs), device=device).index_add_(0, rows_t, logp.squeeze(1))
        seq = seq.view(n, m)
        owner = torch.tensor([c for c, _ in cands], device=device)
        classes = torch.stack(
            [torch.logsumexp(seq[:, owner == c], dim=1) for c in range(len(self.classes))], 1
        )
        return classes.log_softmax(-1)

    @staticmethod
    def _decode(decoder, embeds, mask, positions, shared: int) -> torch.Tensor:
        """Decoder hidden states after the first ``shared`` tokens, which all rows share.

        The shared prefix (system prompt, every in-context example, up to the query image) runs
        once; its key/value cache is repeated for every (query, answer) row, which then runs
        only its own tokens: the same numbers as a full pass at a fraction of the cost.
        """
        if shared == 0:
            return decoder(
                inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=False
            ).last_hidden_state
        from transformers import DynamicCache

        prefix = decoder(
            inputs_embeds=embeds[:1, :shared],
            attention_mask=mask[:1, :shared],
            position_ids=positions[..., :1, :shared],
            cache=DynamicCache(),
            use_cache=True,
        ).cache
        prefix.batch_repeat_interleave(embeds.shape[0])
        return decoder(
            inputs_embeds=embeds[:, shared:],
            attention_mask=mask,
            position_ids=positions[..., shared:],
            cache=prefix,
            use_cache=True,
        ).last_hidden_state


def shared_prefix(seqs: list[list[int]], image_token_id: int, n_image: int) -> int:
    """Leading tokens every sequence shares, ending before the query image's tokens.

    The query image's token ids are the same in every row but their embeddings are not, so the
    shared part stops at its first image token (the last ``n_image`` image tokens of a row).
    """
    first = seqs[0]
    image_at = [i for i, t in enumerate(first) if t == image_token_id]
    limit = image_at[-n_image] if len(image_at) >= n_image else len(first)
    shared = 0
    while shared < limit and all(len(s) > shared and s[shared] == first[shared] for s in seqs):
        shared += 1
    return shared
