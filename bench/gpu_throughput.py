"""GPU throughput per family and mode (AMP bf16) and a wall-time estimate of the study grid.

Measures, on one CUDA GPU, with the study's real architectures and random weights (speed does
not depend on the weights):

- CNNs (ResNet34, AlexNet, VGG19) at 336x336, channels_last, bf16 autocast: full fine-tuning
  training images/s (forward + backward + AdamW) and evaluation images/s; FLOPs per image
  (torch's FlopCounterMode) and MFU against a bf16 8192^3 matmul measured in the same run.
- VLMs (Qwen2-VL-2B, SmolVLM-Instruct; bf16 weights, bf16 autocast): vision encoder forward,
  full forward (linear-probe features; every epoch when augmentation is on), decoder-only
  forward from cached vision tokens, LoRA training from cached vision tokens and from images.
- Peak CUDA memory (``torch.cuda.max_memory_allocated``) of each configuration.

From these it estimates the wall time of ``configs/breakhis_cnn_vs_vlm.yaml`` on this GPU
(see :func:`estimate`). The GPU-side numbers assume the input pipeline keeps up; the CPU-side
transform throughput is measured separately by ``data_pipeline.py``.

With ``--auto`` (what ``bench/gpu_check.sh`` runs) every model is also measured at the
micro-batch ``micro_batch_size: auto`` finds on this device, with the runner's own probe
(:func:`breastbench.experiment.microbatch.probe`: forward + backward + AdamW, halving on
out-of-memory), VLM batches are the study's 64, and the throughput table ``breastbench plan
--throughput`` reads is written to ``bench/results/throughput-<kind>.json`` (``--table``).

Usage: ``python bench/gpu_throughput.py [--quick] [--auto]`` (``--quick``: tiny models on CPU,
to check the script itself; ``--smoke``: the same with fewer repetitions and no result file).
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import common
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

# BreakHis images per magnification (40X, 100X, 200X, 400X) and BACH (external test set)
BREAKHIS = {40: 1995, 100: 2081, 200: 2013, 400: 1820}
BACH = 400
FOLDS, EPOCHS = 5, 20


def matmul_flops(device, dtype, n=8192, reps=10) -> float:
    """FLOP/s of a dense n x n x n matmul (median of ``reps`` timed products)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        with common.Timer(device.type == "cuda") as t:
            a @ b
        times.append(t.s)
    return 2 * n**3 / common.median(times)


REPS = {"warmup": 3, "reps": 10}  # --smoke: 1 and 2


def _rate(step, n_per_step: int, device, warmup=None, reps=None) -> float:
    """Images/s of ``step()`` (median step time over ``reps`` after ``warmup``)."""
    warmup = REPS["warmup"] if warmup is None else min(warmup, REPS["warmup"])
    reps = REPS["reps"] if reps is None else min(reps, REPS["reps"])
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        with common.Timer(device.type == "cuda") as t:
            step()
        times.append(t.s)
    return n_per_step / common.median(times)


def _flops(step) -> float:
    """FLOPs of one call of ``step`` (NaN where torch's counter cannot count an op)."""
    try:
        with FlopCounterMode(display=False) as fc:
            step()
        return float(fc.get_total_flops())
    except Exception:  # e.g. sdpa with grouped-query shapes in some torch versions
        return float("nan")


def _autocast(device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def _peak_reset(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def _probe(model, x, y, forward, batch: int, device) -> tuple[int, list[int]]:
    """The runner's ``auto`` probe (forward + backward + AdamW, halving on out-of-memory)."""
    from breastbench.experiment.microbatch import probe
    from breastbench.experiment.train import TensorSource

    source = TensorSource(x, y.long().cpu().numpy(), device, forward)
    return probe(model, source, np.arange(len(x)), batch, device, "bf16")


def bench_cnn(
    name: str, size: int, batch: int, device, peak_flops: float, auto_micro: bool = False
) -> dict:
    """Fine-tuning and eval images/s, FLOPs per image and MFU of one CNN."""
    from breastbench.models import create

    torch.manual_seed(0)
    model = create(name, 2, None, input_size=size).set_mode("finetune").to(device)
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, 2, (batch,), device=device).float()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    crit = torch.nn.BCEWithLogitsLoss()

    def train_step():
        opt.zero_grad(set_to_none=True)
        with _autocast(device):
            loss = crit(model(x)[:, 0].float(), y)
        loss.backward()
        opt.step()

    model.train()
    with FlopCounterMode(display=False) as fc:
        train_step()
    flops_img = fc.get_total_flops() / batch
    _peak_reset(device)
    train_ips = _rate(train_step, batch, device)
    train_mem = _peak(device)
    model.eval()

    @torch.no_grad()
    def eval_step():
        with _autocast(device):
            model(x)

    _peak_reset(device)
    eval_ips = _rate(eval_step, batch, device)
    auto = None
    if auto_micro:
        model.train()
        micro, failed = _probe(model, x, y, lambda m, b: m(b), batch, device)
        auto = {"micro_batch": micro, "failed": failed, "train_img_s": train_ips}
        if micro < batch:  # accumulate micro-batches up to the batch, as the runner does

            def micro_step():
                opt.zero_grad(set_to_none=True)
                for s in range(0, batch, micro):
                    with _autocast(device):
                        loss = crit(model(x[s : s + micro])[:, 0].float(), y[s : s + micro])
                    (loss * len(y[s : s + micro]) / batch).backward()
                opt.step()

            auto["train_img_s"] = _rate(micro_step, batch, device)
    out = {
        "model": name,
        "input": size,
        "batch": batch,
        "finetune_train_img_s": train_ips,
        "eval_img_s": eval_ips,
        "train_gflop_per_img": flops_img / 1e9,
        "mfu": train_ips * flops_img / peak_flops,
        "peak_mem_gib": {"finetune": train_mem, "eval": _peak(device)},
    }
    if auto:
        out["auto"] = auto
    return out


def bench_vlm(
    name: str,
    batch: int,
    micro: int,
    device,
    peak_flops: float,
    quick: bool,
    auto_micro: bool = False,
) -> dict:
    """Images/s of every VLM input path of the study (linear probe and LoRA, aug off/on)."""
    from breastbench.models import create

    torch.manual_seed(0)
    dtype = "fp32" if quick else "bf16"
    with torch.device(device):
        model = create(name, 2, None, torch_dtype=dtype)
    model.to(device).set_mode("linear_probe").eval()
    side = model.data_config["input_size"][1]
    x = torch.randn(batch, 3, side, side, device=device)
    res = {"model": name, "input": side, "image_tokens": model.num_image_tokens, "batch": batch}
    mem = {}

    @torch.no_grad()
    def vision():
        with _autocast(device):
            return model.encode_vision(x)

    @torch.no_grad()
    def full():
        with _autocast(device):
            return model.features(x)

    _peak_reset(device)
    res["vision_fwd_img_s"] = _rate(vision, batch, device)
    res["full_fwd_img_s"] = _rate(full, batch, device)
    mem["linear_probe_features"] = _peak(device)
    v = vision()

    @torch.no_grad()
    def decoder():
        with _autocast(device):
            return model.forward_from_vision(v)

    res["decoder_fwd_img_s"] = _rate(decoder, batch, device)

    model.set_mode("lora")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    crit = torch.nn.BCEWithLogitsLoss()
    y = torch.randint(0, 2, (batch,), device=device).float()

    def lora_step(from_cache: bool, micro: int = micro):
        def step():
            opt.zero_grad(set_to_none=True)
            for s in range(0, batch, micro):
                with _autocast(device):
                    if from_cache:
                        logits = model.forward_from_vision(v[s : s + micro])
                    else:
                        logits = model(x[s : s + micro])
                loss = crit(logits[:, 0].float(), y[s : s + micro])
                (loss * len(y[s : s + micro]) / batch).backward()
            opt.step()

        return step

    cached_flops, image_flops = _flops(lora_step(True)) / batch, _flops(lora_step(False)) / batch
    _peak_reset(device)
    res["lora_train_cached_img_s"] = _rate(lora_step(True), batch, device, reps=5)
    mem["lora_cached"] = _peak(device)
    _peak_reset(device)
    res["lora_train_images_img_s"] = _rate(lora_step(False), batch, device, reps=5)
    mem["lora_images"] = _peak(device)
    res["lora_cache_speedup"] = res["lora_train_cached_img_s"] / res["lora_train_images_img_s"]
    res["lora_train_gflop_per_img"] = {"cached": cached_flops / 1e9, "images": image_flops / 1e9}
    if image_flops == image_flops:  # not NaN
        res["lora_mfu_images"] = res["lora_train_images_img_s"] * image_flops / peak_flops
    res["micro_batch"] = micro
    res["peak_mem_gib"] = mem
    if auto_micro:  # each input path probed on its own, as the runner does
        auto = {}
        for path, from_cache, inputs, fwd in (
            ("cached", True, v, lambda m, b: m.forward_from_vision(b)),
            ("images", False, x, lambda m, b: m(b)),
        ):
            chosen, failed = _probe(model, inputs, y, fwd, batch, device)
            _peak_reset(device)
            rate = res[f"lora_train_{path}_img_s"]
            if chosen != micro:
                rate = _rate(lora_step(from_cache, chosen), batch, device, reps=5)
            auto[path] = {
                "micro_batch": chosen,
                "failed": failed,
                "img_s": rate,
                "peak_mem_gib": _peak(device),
            }
        res["auto"] = auto
    return res


def estimate(cnn: dict[str, dict], vlm: dict[str, dict]) -> dict:
    """Hours of GPU time for the study grid, from measured images/s (input pipeline ignored).

    Per magnification and fold: train = 80% of the images, test = 20%; each epoch trains on the
    training images and evaluates the test fold (``eval_every_epoch``); one last prediction.
    Feature/vision caches are built once per magnification (aug off only). External runs:
    ResNet34 fine-tuned and SmolVLM LoRA (aug off) on all of BreakHis, tested on BACH, 3 seeds.
    """
    hours: dict[str, float] = {}

    def per_fold(n, train_ips, eval_ips):
        tr, te = 0.8 * n, 0.2 * n
        return EPOCHS * (tr / train_ips + te / eval_ips) + te / eval_ips

    for name, r in cnn.items():
        s = sum(per_fold(n, r["finetune_train_img_s"], r["eval_img_s"]) for n in BREAKHIS.values())
        hours[f"{name} finetune"] = 2 * FOLDS * s / 3600  # aug off and on cost the same
    for name, r in vlm.items():
        full, vis, dec = r["full_fwd_img_s"], r["vision_fwd_img_s"], r["decoder_fwd_img_s"]
        lp_off = sum(n / full for n in BREAKHIS.values())  # features once, head is free
        lp_on = FOLDS * sum(per_fold(n, full, full) for n in BREAKHIS.values())
        lora_off = sum(
            n / vis + FOLDS * per_fold(n, r["lora_train_cached_img_s"], dec)
            for n in BREAKHIS.values()
        )
        lora_on = FOLDS * sum(
            per_fold(n, r["lora_train_images_img_s"], full) for n in BREAKHIS.values()
        )
        hours[f"{name} linear_probe aug-off"] = lp_off / 3600
        hours[f"{name} linear_probe aug-on"] = lp_on / 3600
        hours[f"{name} lora aug-off"] = lora_off / 3600
        hours[f"{name} lora aug-on"] = lora_on / 3600
    n_all = sum(BREAKHIS.values())
    if "cnn/resnet34" in cnn:
        r = cnn["cnn/resnet34"]
        ext = EPOCHS * (n_all / r["finetune_train_img_s"] + BACH / r["eval_img_s"])
        hours["external resnet34 x3 seeds"] = 3 * ext / 3600
    if "vlm/smolvlm" in vlm:
        r = vlm["vlm/smolvlm"]
        ext = n_all / r["vision_fwd_img_s"] + 3 * EPOCHS * (
            n_all / r["lora_train_cached_img_s"] + BACH / r["decoder_fwd_img_s"]
        )
        hours["external smolvlm lora x3 seeds"] = ext / 3600
    hours = {k: round(v, 3) for k, v in hours.items()}
    return {"hours_by_config": hours, "total_hours": round(sum(hours.values()), 2)}


def device_kind(device) -> str:
    """The plan's device-kind name: h100, h200, a100, ... from the GPU name; cpu."""
    if device.type != "cuda":
        return "cpu"
    name = torch.cuda.get_device_name(device).lower()
    for part in name.replace("-", " ").split():
        if part[:1] in "abhlv" and part[1:].isdigit():
            return part
    return "".join(c if c.isalnum() else "_" for c in name)


def throughput_entry(cnn: dict, vlm: dict, device, configured: dict) -> dict:
    """One device kind of the plan's throughput table (``experiment/throughput.json`` layout).

    Base rates are at the configured micro-batch (``configured``: model -> micro-batch, the
    study config's); ``auto`` holds the rates at the micro-batch the probe chose.
    """
    models = {}
    for name, r in cnn.items():
        models[name] = {
            "train": round(r["finetune_train_img_s"], 1),
            "eval": round(r["eval_img_s"], 1),
        }
        if "auto" in r:
            models[name]["micro_batch"] = r["batch"]
            models[name]["auto"] = {
                "micro_batch": r["auto"]["micro_batch"],
                "train": round(r["auto"]["train_img_s"], 1),
            }
    for name, r in vlm.items():
        models[name] = {
            "eval": round(r["full_fwd_img_s"], 1),
            "vision": round(r["vision_fwd_img_s"], 1),
            "lora_cached": round(r["lora_train_cached_img_s"], 1),
            "lora_images": round(r["lora_train_images_img_s"], 1),
            "micro_batch": configured.get(name, r["micro_batch"]),
        }
        if "auto" in r:
            a = r["auto"]
            models[name]["auto"] = {
                "micro_batch": min(a["cached"]["micro_batch"], a["images"]["micro_batch"]),
                "lora_cached": round(a["cached"]["img_s"], 1),
                "lora_images": round(a["images"]["img_s"], 1),
            }
    cuda = device.type == "cuda"
    gpu = torch.cuda.get_device_name(device) if cuda else "cpu (tiny models, fp32)"
    family = {"cnn": next(iter(cnn), None), "clip": next(iter(cnn), None)}
    family["vlm"] = "vlm/smolvlm" if "vlm/smolvlm" in vlm else next(iter(vlm), None)
    return {
        device_kind(device): {
            "source": f"bench/gpu_throughput.py --auto on {gpu}, "
            f"{datetime.date.today().isoformat()}, torch {torch.__version__}"
            + (", bf16 autocast" if cuda else ""),
            "models": models,
            "family_default": {k: v for k, v in family.items() if v},
        }
    }


def main() -> None:
    """Run every measurement, print and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny models, to test the script")
    ap.add_argument("--only", nargs="*", help="model names to run (default: all)")
    ap.add_argument("--smolvlm-micro", type=int, default=8, help="LoRA micro-batch of SmolVLM")
    ap.add_argument(
        "--auto",
        action="store_true",
        help="also measure at the micro-batch `micro_batch_size: auto` finds; write the table",
    )
    ap.add_argument(
        "--table", help="where --auto writes the plan's throughput table (JSON)", default=None
    )
    common.add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.quick = True
        REPS.update(warmup=1, reps=2)
        common.set_threads()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    quick = args.quick or device.type != "cuda"
    t0 = time.perf_counter()
    dtype = torch.float32 if quick else torch.bfloat16
    peak = matmul_flops(device, dtype, n=256 if args.smoke else 1024 if quick else 8192)
    cnns = [("cnn/test-resnet", 64, 8)] if quick else []
    cnns += [] if quick else [(n, 336, 64) for n in ("cnn/resnet34", "cnn/alexnet", "cnn/vgg19")]
    vlm_batch = 64 if args.auto else 32  # --auto: the study's batch, the probe's ceiling
    vlms = [("vlm/test-smolvlm", 8, 4)] if quick else [("vlm/qwen2-vl-2b", vlm_batch, 32)]
    vlms += [] if quick else [("vlm/smolvlm", vlm_batch, args.smolvlm_micro)]  # study: 8
    if args.only:
        cnns = [c for c in cnns if c[0] in args.only]
        vlms = [v for v in vlms if v[0] in args.only]
    cnn_res, vlm_res, errors = {}, {}, {}
    for name, size, batch in cnns:
        try:
            cnn_res[name] = bench_cnn(name, size, batch, device, peak, args.auto)
        except Exception as err:  # report and go on: one OOM must not lose the rest
            errors[name] = f"{type(err).__name__}: {str(err)[:300]}"
        print(name, cnn_res.get(name) or errors[name], flush=True)
    for name, batch, micro in vlms:
        try:
            vlm_res[name] = bench_vlm(name, batch, micro, device, peak, quick, args.auto)
        except Exception as err:
            errors[name] = f"{type(err).__name__}: {str(err)[:300]}"
        print(name, vlm_res.get(name) or errors[name], flush=True)
    result = {
        "matmul_tflops": peak / 1e12,
        "matmul_dtype": str(dtype),
        "amp": "bf16 autocast" if device.type == "cuda" else "off (cpu)",
        "cnn": cnn_res,
        "vlm": vlm_res,
        "errors": errors,
        "seconds": time.perf_counter() - t0,
    }
    if not quick and not args.only:
        result["study_estimate"] = estimate(cnn_res, vlm_res)
    if args.auto:
        configured = {name: micro for name, _, micro in vlms}
        result["throughput_table"] = throughput_entry(cnn_res, vlm_res, device, configured)
        table = args.table or None
        if table is None and not args.smoke:
            table = common.RESULTS / f"throughput-{device_kind(device)}.json"
        if table:
            Path(table).parent.mkdir(parents=True, exist_ok=True)
            Path(table).write_text(json.dumps(result["throughput_table"], indent=1) + "\n")
            result["table_written"] = str(table)
    name = "gpu_throughput" + ("_quick" if quick else "") + ("_subset" if args.only else "")
    name += "_auto" if args.auto else ""
    common.write_result(name, result, smoke=args.smoke)


if __name__ == "__main__":
    main()
