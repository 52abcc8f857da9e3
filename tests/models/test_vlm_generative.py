"""Generative zero-shot and in-context scoring equals a direct computation with transformers.

Our path puts cached image-token embeddings into the prompt, runs the bare decoder and applies
the LM head only where answer tokens are predicted. The reference here is transformers' own
``...ForConditionalGeneration`` forward on pixels and input ids (its own image-token merge,
its own M-RoPE index), with log P(answer) summed over answer tokens by hand, a class's answer
strings combined as a sum of probabilities, and a softmax over classes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForImageTextToText

import breastbench.models.vlm  # noqa: F401  (registers vlm/*)
from breastbench.errors import UserError
from breastbench.models import create, load_checkpoint, save_checkpoint
from breastbench.models.questions import list_question_sets, load_questions
from breastbench.models.vlm.generative import AnswerScorer

sys.path.insert(0, str(Path(__file__).parent))
from test_vlm_folder import write_folder  # noqa: E402

TINY = ["vlm/test-qwen2-vl", "vlm/test-smolvlm"]
CLASSES = ["benign", "malignant"]


@pytest.fixture
def questions(tmp_path) -> Path:
    """A question set whose answers are short, so tiny random models are not saturated."""
    path = tmp_path / "q.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "question": "Benign or cancer?",
                "magnification_question": "At {magnification}x: benign or cancer?",
                "answers": {"benign": ["no", "nah"], "malignant": ["ya", "yes"]},
            }
        )
    )
    return path


def zero_shot(name, questions, magnification=None, **kwargs):
    torch.manual_seed(0)
    model = create(name, num_classes=2, **kwargs).set_mode("zero_shot").eval()
    model.build_zero_shot_head(CLASSES, questions, magnification=magnification)
    return model


def reference_log_probs(model, examples, queries, prompt_ids) -> torch.Tensor:
    """Log-probabilities over classes from transformers' forward per (query, answer string)."""
    ref = AutoModelForImageTextToText.from_config(model.core.config)
    ref.model, ref.lm_head = model.core, model.lm_head
    ref.eval()
    scorer = model.scorer
    rows = []
    for b in range(queries.shape[0]):
        prompt = prompt_ids(b)
        per_class = [[] for _ in CLASSES]
        for c, answers in enumerate(scorer.answers):
            for answer in answers:
                tokens = model.prompts.answer_ids(answer)
                ids = torch.tensor([prompt + tokens])
                images = torch.cat([examples, queries[b : b + 1]])
                inputs = model.arch.reference_inputs(images, ids, torch.ones_like(ids))
                with torch.no_grad():
                    logp = ref(**inputs).logits[0].float().log_softmax(-1)
                start = len(prompt) - 1
                per_class[c].append(sum(logp[start + j, t] for j, t in enumerate(tokens)))
        scores = torch.stack([torch.logsumexp(torch.stack(v), 0) for v in per_class])
        rows.append(scores.log_softmax(0))
    return torch.stack(rows)


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("n_examples", [0, 4])
def test_scores_equal_transformers_forward(name, n_examples, questions):
    model = zero_shot(name, questions, magnification=200)
    assert model.scorer.question == "At 200x: benign or cancer?"
    torch.manual_seed(1)
    queries, examples = torch.randn(3, 3, 32, 32), torch.randn(n_examples, 3, 32, 32)
    labels = [0, 1] * (n_examples // 2)
    if n_examples:
        model.set_examples(examples, labels)
    with torch.no_grad():
        logits = model(queries)
    probs = logits.softmax(-1)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    assert ((probs > 0.01) & (probs < 0.99)).all()  # not saturated: the comparison means something

    def prompt(b):
        return model.prompts.dialogue_ids(model.scorer.turns(None))

    want = reference_log_probs(model, examples, queries, prompt)
    torch.testing.assert_close(logits, want, atol=1e-5, rtol=1e-5)
    # the cached-vision path (what a run uses) is the same numbers
    with torch.no_grad():
        cached = model.forward_from_vision(model.encode_vision(queries))
    torch.testing.assert_close(cached, logits)
    if n_examples:  # the examples are in the prompt: the scores change with them
        with torch.no_grad():
            other = model.scorer.examples.flip(0)
            model.scorer.set_examples(other, labels[::-1])
            assert not torch.allclose(model(queries), logits, atol=1e-4)


@pytest.mark.parametrize("name", TINY)
def test_chat_template_prompt_and_transformers_from_pretrained(
    name, questions, tmp_path, monkeypatch
):
    """Real-weights path: the folder's processor lays out the conversation.

    The reference is the folder loaded by transformers itself.
    """
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "folder"
    write_folder(folder, name)
    model = zero_shot(name, questions, weights=str(folder))
    assert model.prompts.source == "chat_template"
    torch.manual_seed(2)
    queries, examples = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    model.set_examples(examples, [0, 1], ["Magnification: 40x", None])
    with torch.no_grad():
        logits = model(queries, text=["Magnification: 200x", None])

    processor = model.prompts.processor
    tok = processor.tokenizer
    n, q = model.num_image_tokens, "Benign or cancer?"
    if name == "vlm/test-qwen2-vl":
        img = "<|vision_start|>" + "<|image_pad|>" * n + "<|vision_end|>"

        def turn(text, reply):
            user = f"<|im_start|>user\n{img}{text}<|im_end|>\n"
            return user + (f"<|im_start|>assistant\n{reply}<|im_end|>\n" if reply else "")

        end = "<|im_start|>assistant\n"
    else:
        img = "<fake_token_around_image><global-img>" + "<image>" * n + "<fake_token_around_image>"

        def turn(text, reply):
            user = f"User:{img}{text}<end_of_utterance>\n"
            return user + (f"Assistant:{reply}<end_of_utterance>\n" if reply else "")

        end = "Assistant:"
    head = "" if name == "vlm/test-qwen2-vl" else "<|im_start|>"
    shown = turn(f"Magnification: 40x\n{q}", "no") + turn(q, "ya")
    texts = [f"Magnification: 200x\n{q}", q]
    expected = [
        tok(head + shown + turn(t, None) + end, add_special_tokens=False)["input_ids"]
        for t in texts
    ]
    for b, text in enumerate(["Magnification: 200x", None]):
        assert model.prompts.dialogue_ids(model.scorer.turns(text)) == expected[b]
    # SmolVLM replies start with a space after "Assistant:"; Qwen's after a newline do not
    prefix = "" if name == "vlm/test-qwen2-vl" else " "
    assert (
        model.prompts.answer_ids("nah")
        == tok(prefix + "nah", add_special_tokens=False)["input_ids"]
    )

    ref = AutoModelForImageTextToText.from_pretrained(str(folder), local_files_only=True).eval()
    rows = []
    for b in range(2):
        per_class = []
        for answers in model.scorer.answers:
            lps = []
            for answer in answers:
                tokens = tok(prefix + answer, add_special_tokens=False)["input_ids"]
                ids = torch.tensor([expected[b] + tokens])
                images = torch.cat([examples, queries[b : b + 1]])
                inputs = model.arch.reference_inputs(images, ids, torch.ones_like(ids))
                with torch.no_grad():
                    logp = ref(**inputs).logits[0].float().log_softmax(-1)
                start = len(expected[b]) - 1
                lps.append(sum(logp[start + j, t] for j, t in enumerate(tokens)))
            per_class.append(torch.logsumexp(torch.stack(lps), 0))
        rows.append(torch.stack(per_class).log_softmax(0))
    torch.testing.assert_close(logits, torch.stack(rows), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", TINY)
def test_checkpoint_keeps_question_and_examples(name, questions, tmp_path):
    model = zero_shot(name, questions)
    torch.manual_seed(3)
    queries = torch.randn(2, 3, 32, 32)
    model.set_examples(torch.randn(2, 3, 32, 32), [1, 0])
    with torch.no_grad():
        want = model(queries)
    save_checkpoint(model, tmp_path / "ckpt", classes=CLASSES)
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.mode == "zero_shot" and loaded.scorer.example_labels == [1, 0]
    assert loaded.scorer.question == model.scorer.question
    with torch.no_grad():
        torch.testing.assert_close(loaded(queries), want)


def test_lm_head_is_registered_under_zero_shot_only():
    torch.manual_seed(0)
    probe = create("vlm/test-qwen2-vl", num_classes=2).set_mode("linear_probe")
    torch.manual_seed(0)
    zero = create("vlm/test-qwen2-vl", num_classes=2).set_mode("zero_shot")
    assert "lm_head.weight" in zero.state_dict() and "lm_head.weight" not in probe.state_dict()
    # the backbone is the same either way: attaching the head draws after the backbone
    for key, value in probe.core.state_dict().items():
        torch.testing.assert_close(zero.core.state_dict()[key], value)
    assert zero.trainable_report()["trainable_params"] == 0


def test_question_sets_ship_for_every_prompt_set_a_study_uses():
    assert {"histology_binary", "histology_subtype", "density", "bach"} <= set(list_question_sets())
    qs = load_questions("histology_binary")
    assert "200x" in qs.text(200) and "{" not in qs.text(None)
    assert qs.answers_for(["M", "B"]) == [qs.answers["malignant"], qs.answers["benign"]]
    with pytest.raises(UserError, match="no `magnification_question`"):
        load_questions("density").text(40)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"answers": {"a": ["x"], "b": ["y"]}}, "`question` must be"),
        ({"question": "q?", "answers": {"a": ["x"]}}, "at least two"),
        ({"question": "q?", "answers": {"a": ["x"], "b": []}}, "class 'b' needs"),
        (
            {"question": "q?", "answers": {"a": ["x"], "b": ["y"]}, "magnification_question": "m"},
            "containing {magnification}",
        ),
        (
            {"question": "q?", "answers": {"a": ["x"], "b": ["y"]}, "aliases": {"c": "z"}},
            "unknown class 'z'",
        ),
    ],
)
def test_bad_question_files_are_one_line(raw, message, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=message) as err:
        load_questions(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_unknown_class_and_unknown_set_name_the_fix(questions):
    with pytest.raises(UserError, match=r"class 'normal' has no answers .*under `answers:`"):
        load_questions(questions).answers_for(["normal", "benign"])
    with pytest.raises(UserError, match="question set 'nope' not found; use one of bach"):
        load_questions("nope")
    with pytest.raises(UserError, match="init_head_from_text"):
        create("vlm/test-smolvlm", num_classes=2).set_mode("linear_probe").build_zero_shot_head(
            CLASSES, questions
        )
    with pytest.raises(UserError, match="2 answer lists for 3 classes"):
        AnswerScorer(["a", "b", "c"], "q", [["x"], ["y"]])


def test_shared_prefix_stops_before_the_query_image():
    from breastbench.models.vlm.generative import shared_prefix

    img = 9
    example, query = [1, 5, img, img, 6, 7], [5, img, img, 6]
    rows = [example + query + [20], example + query + [21, 22], example + query + [23]]
    # examples (with their image tokens) are shared; the query image's tokens never are
    assert shared_prefix(rows, img, n_image=2) == len(example) + 1
    assert shared_prefix([[1, 2, img, img, 3], [1, 4, img, img, 3]], img, n_image=2) == 1
    assert shared_prefix([[img, img, 3], [img, img, 4]], img, n_image=2) == 0
