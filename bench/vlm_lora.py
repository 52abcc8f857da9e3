"""VLM LoRA: epoch time with cached vision-encoder outputs vs recomputing them every epoch.

For each model the same training (``fit`` of the runner, LoRA on the decoder, frozen vision
tower, no augmentation) runs from an ``ImageSource`` (vision tower + connector every step) and
from ``vision_source`` (vision tokens computed once). Variants alternate, each repeated; the
ratio is the median epoch time of the image path over the median epoch time of the cached path
(cache build reported separately), and the result difference is the largest difference of the
test probabilities after training.

Models: the tiny test VLMs, and "mid-size" versions of the real Qwen2-VL-2B and SmolVLM-Instruct
built from the shipped config JSONs with every width and depth divided by 4 at the real 336 px
input (same image-token counts), so the vision-encoder/decoder cost ratio follows the real
models; FLOPs per image of each half are counted to show it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from importlib import resources
from pathlib import Path

import common
import numpy as np
import torch


def _scaled(filename: str, k: int = 4):
    """A shipped real config with widths and depths divided by ``k`` (head dims kept)."""
    from breastbench.models.vlm.configs import CONFIG_CLASSES

    raw = json.loads(
        resources.files("breastbench.models").joinpath("configs", filename).read_text()
    )
    if raw["model_type"] == "qwen2_vl":
        v = raw["vision_config"]
        raw.update(
            hidden_size=raw["hidden_size"] // k,
            intermediate_size=raw["intermediate_size"] // k,
            num_hidden_layers=raw["num_hidden_layers"] // k,
            num_attention_heads=raw["num_attention_heads"] // k,
            num_key_value_heads=max(1, raw["num_key_value_heads"] // k),
        )
        v.update(
            depth=v["depth"] // k,
            embed_dim=v["embed_dim"] // k,
            num_heads=v["num_heads"] // k,
            hidden_size=raw["hidden_size"],
        )
    else:  # idefics3 (SmolVLM)
        t, v = raw["text_config"], raw["vision_config"]
        for cfg in (t, v):
            cfg.update(
                hidden_size=cfg["hidden_size"] // k,
                intermediate_size=cfg["intermediate_size"] // k,
                num_hidden_layers=round(cfg["num_hidden_layers"] / k),
                num_attention_heads=cfg["num_attention_heads"] // k,
            )
        t["num_key_value_heads"] = t["num_attention_heads"]
    return CONFIG_CLASSES[raw["model_type"]].from_dict(raw)


MID = {
    "mid-qwen2-vl": ("vlm/qwen2-vl-2b", "qwen2-vl-2b-instruct.json"),
    "mid-smolvlm": ("vlm/smolvlm", "smolvlm-instruct.json"),
}


def build(name: str):
    """A registry test VLM, or a mid-size one (random weights, fp32, LoRA r=16)."""
    from breastbench.models import create, get_info
    from breastbench.models.vlm import build_vlm
    from breastbench.models.vlm.configs import TINY_CONFIGS

    torch.manual_seed(0)
    if name not in MID:
        return create(name, 2, None).set_mode("lora")
    real, filename = MID[name]
    TINY_CONFIGS[name] = lambda: _scaled(filename)
    info = dataclasses.replace(
        get_info(real), name=f"bench/{name}", extra={"arch": name, "hub_id": ""}
    )
    return build_vlm(info, 2, None).set_mode("lora")


def flops_split(model) -> dict:
    """GFLOPs per image: vision forward, decoder forward, decoder LoRA training step."""
    from torch.utils.flop_counter import FlopCounterMode

    side = model.data_config["input_size"][1]
    x = torch.randn(2, 3, side, side)
    out = {}
    try:
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            v = model.encode_vision(x)
        out["vision_fwd"] = fc.get_total_flops() / 2e9
        with FlopCounterMode(display=False) as fc:
            model.forward_from_vision(v).sum().backward()
        out["decoder_train"] = fc.get_total_flops() / 2e9
        model.zero_grad(set_to_none=True)
        out["vision_share_of_image_path"] = out["vision_fwd"] / (
            out["vision_fwd"] + out["decoder_train"]
        )
    except Exception as err:  # a counter gap must not lose the timings
        out["error"] = f"{type(err).__name__}: {str(err)[:200]}"
    return out


def compare(name: str, paths: list[str], targets: np.ndarray, epochs: int, reps: int) -> dict:
    """Epoch times and result difference, image path vs vision cache."""
    from breastbench.experiment.config import TrainingConfig
    from breastbench.experiment.images import ImageStore
    from breastbench.experiment.sources import ImageSource, vision_source
    from breastbench.experiment.train import fit, predict_logits, probabilities
    from breastbench.imaging.transforms import build_transforms

    dev = torch.device("cpu")
    probe = build(name)
    dc = probe.data_config
    store = ImageStore(paths, dc["input_size"][1:], None, dc.get("interpolation", "bicubic"))
    store.array()  # decoded once, outside the timing
    tf = build_transforms(dc, train=False, augmentation="off")
    cfg = TrainingConfig(epochs=epochs, batch_size=16, lr=1e-3)
    n = len(paths)
    train_idx, test_idx = np.arange(n)[: int(0.8 * n)], np.arange(n)[int(0.8 * n) :]
    epoch_s = {"images": [], "cached": []}
    build_s, probs = [], {}
    for r in range(reps):
        for variant in ("images", "cached") if r % 2 == 0 else ("cached", "images"):
            model = build(name)  # same seed: same weights and adapters
            t0 = time.perf_counter()
            if variant == "cached":
                with tempfile.TemporaryDirectory() as cache:
                    src = vision_source(model, store, targets, tf, dev, cache)
                build_s.append(time.perf_counter() - t0)
            else:
                src = ImageSource(store, targets, tf, tf, dev)
            res = fit(model, src, train_idx, cfg, seed=0, device=dev, micro_batch=8, lr=1e-3)
            epoch_s[variant] += [row["seconds"] for row in res.history]
            probs[variant] = probabilities(predict_logits(model, src, test_idx, 16, dev))
    med = {k: common.median(v) for k, v in epoch_s.items()}
    return {
        "images": n,
        "input": dc["input_size"][1],
        "image_tokens": probe.num_image_tokens,
        "params_m": round(sum(p.numel() for p in probe.parameters()) / 1e6, 1),
        "epoch_s_images": med["images"],
        "epoch_s_cached": med["cached"],
        "cache_build_s": common.median(build_s),
        "epoch_speedup": med["images"] / med["cached"],
        "max_prob_diff": float(np.abs(probs["images"] - probs["cached"]).max()),
        "gflop_per_image": flops_split(probe),
    }


def main() -> None:
    """Tiny and mid-size VLMs; print and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "breastbench-bench-data"))
    ap.add_argument("--images", type=int, default=16, help="images per mid-size run")
    common.add_smoke(ap)
    args = ap.parse_args()
    common.set_threads()
    per, tile = (1, (46, 70)) if args.smoke else (8, (460, 700))
    df = common.synth_breakhis(
        Path(args.data) / f"breakhis-{tile[1]}x{tile[0]}-{per}", per, tile_hw=tile
    )
    paths, targets = df["path"].tolist(), df["target"].to_numpy()
    out = {}
    tiny = ("vlm/test-smolvlm",) if args.smoke else ("vlm/test-qwen2-vl", "vlm/test-smolvlm")
    for name in tiny:
        out[name] = compare(name, paths, targets, epochs=1 if args.smoke else 3, reps=2)
    if args.smoke:  # tiny model only: checks the script and the cache's equality
        common.write_result("vlm_lora", {"setup": "smoke", "models": out}, smoke=True)
        return
    # balanced subset for the mid-size models (their epochs cost seconds per image)
    sel = np.concatenate([np.flatnonzero(targets == c)[: args.images // 2] for c in (0, 1)])
    for name in MID:
        out[name] = compare(name, [paths[i] for i in sel], targets[sel], epochs=1, reps=2)
    real = {}
    for reg, _ in MID.values():  # FLOP split of the real architectures, on meta
        from breastbench.models import create

        try:
            with torch.device("meta"):
                m = create(reg, 2, None, attn_implementation="eager").set_mode("lora")
            real[reg] = flops_split(m)
        except Exception as err:
            real[reg] = {"error": f"{type(err).__name__}: {str(err)[:200]}"}
    common.write_result(
        "vlm_lora",
        {
            "setup": "fit() LoRA r=16 on the decoder, batch 16, micro 8, no augmentation; "
            "synthetic 700x460 PNGs decoded once beforehand; epochs alternate between variants",
            "models": out,
            "real_architecture_gflop_per_image": real,
        },
    )


if __name__ == "__main__":
    main()
