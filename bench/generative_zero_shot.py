"""Generative zero-shot / in-context scoring: the shared-prefix KV cache vs full passes.

Every (query, answer string) row of a prompt repeats the same prefix: the system prompt and,
with ``shots: k``, every in-context example turn. ``AnswerScorer`` runs that prefix once and
repeats its key/value cache for the rows. This script scores the same query images with and
without the prefix cache (alternated, repeated, medians), on the tiny test VLMs and on the
mid-size random VLMs of ``vlm_lora.py`` (the real configs scaled down), for 0 and 2 shots, and
reports the speed-up and the largest difference between the two paths' class log-probabilities.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from unittest import mock

import common
import torch
from vlm_lora import MID, build

from breastbench.models.vlm import generative


def fresh(name: str):
    """Build ``name`` in zero_shot mode with the histology question set."""
    from breastbench.models import create, get_info
    from breastbench.models.vlm import build_vlm
    from breastbench.models.vlm.configs import TINY_CONFIGS

    torch.manual_seed(0)
    if name in MID:
        build(name)  # registers the scaled config under TINY_CONFIGS[name]
        assert name in TINY_CONFIGS
        info = dataclasses.replace(
            get_info(MID[name][0]), name=f"bench/{name}", extra={"arch": name, "hub_id": ""}
        )
        model = build_vlm(info, 2, None)
    else:
        model = create(name, 2, None)
    model.set_mode("zero_shot").eval()
    model.build_zero_shot_head(["benign", "malignant"], "histology_binary")
    return model


def compare(name: str, n_queries: int, reps: int) -> dict:
    """Seconds per query image with and without the prefix cache, for 0 and 2 shots."""
    model = fresh(name)
    side = model.image_size[0]
    torch.manual_seed(1)
    with torch.no_grad():
        queries = model.encode_vision(torch.randn(n_queries, 3, side, side))
        examples = model.encode_vision(torch.randn(4, 3, side, side))
    out = {"image_tokens": model.num_image_tokens}
    for shots in (0, 2):
        if shots:
            model.scorer.set_examples(examples, [0, 1, 0, 1])
        times = {"cached": [], "full": []}
        logits = {}
        for _ in range(reps):
            for variant in ("cached", "full"):  # alternated: load on the machine cancels
                patch = (
                    mock.patch.object(generative, "shared_prefix", lambda *a: 0)
                    if variant == "full"
                    else contextlib.nullcontext()
                )
                with patch, torch.no_grad(), common.Timer() as t:
                    logits[variant] = model.forward_from_vision(queries)
                times[variant].append(t.s / n_queries)
        med = {k: common.median(v) for k, v in times.items()}
        prompt = model.prompts.dialogue_ids(model.scorer.turns(None))
        out[f"{shots}_shot"] = {
            "prompt_tokens": len(prompt),
            "shared_prefix_tokens": generative.shared_prefix(
                [prompt + [0], prompt + [1]],
                model.core.config.image_token_id,
                model.num_image_tokens,
            ),
            "cached_s_per_image": med["cached"],
            "full_s_per_image": med["full"],
            "speedup": med["full"] / med["cached"],
            "max_abs_logprob_diff": float((logits["cached"] - logits["full"]).abs().max()),
        }
    return out


def main() -> None:
    """Tiny and mid-size VLMs; print and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=4, help="query images per measurement")
    ap.add_argument("--reps", type=int, default=3)
    common.add_smoke(ap)
    args = ap.parse_args()
    common.set_threads()
    names = ("vlm/test-qwen2-vl", "vlm/test-smolvlm", *MID)
    if args.smoke:
        names, args.queries, args.reps = ("vlm/test-qwen2-vl",), 2, 1
    models = {}
    for name in names:
        models[name] = compare(name, args.queries, args.reps)
    common.write_result(
        "generative_zero_shot",
        {
            "setup": "random weights, fp32, histology_binary question (4 answer strings), "
            "2-shot = 4 example images; cached vision tokens; variants alternated",
            "models": models,
        },
        smoke=args.smoke,
    )


if __name__ == "__main__":
    main()
