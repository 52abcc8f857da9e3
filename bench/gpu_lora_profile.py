"""Where a LoRA training step of a real-size VLM spends its GPU time (torch.profiler).

Builds SmolVLM-Instruct (or ``--model``) with random bf16 weights, runs LoRA steps from cached
vision tokens (micro-batch 8, as in the study config) and prints the top operators by CUDA
time, plus the step time with and without LoRA dropout. CUDA (``--smoke``: the tiny test VLM
on the CPU, fp32, CPU profiler only, to check the script itself).
"""

from __future__ import annotations

import argparse

import common
import torch


def main() -> None:
    """Profile and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="vlm/smolvlm")
    ap.add_argument("--micro", type=int, default=8)
    common.add_smoke(ap)
    args = ap.parse_args()
    from breastbench.models import create

    dev = torch.device("cpu" if args.smoke else "cuda")
    cuda = dev.type == "cuda"
    dtype = "bf16" if cuda else "fp32"
    if args.smoke:
        args.model, args.micro = "vlm/test-smolvlm", 4
        common.set_threads()
    res = {}
    for dropout in (0.05, 0.0):
        torch.manual_seed(0)
        with dev:
            m = create(args.model, 2, None, torch_dtype=dtype, lora_dropout=dropout)
        m.to(dev).set_mode("lora").train()
        side = m.data_config["input_size"][1]
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
            v = m.encode_vision(torch.randn(args.micro, 3, side, side, device=dev))
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)

        def step(m=m, v=v, opt=opt):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
                loss = m.forward_from_vision(v).float().sum()
            loss.backward()
            opt.step()

        for _ in range(3):
            step()
        times = []
        for _ in range(5):
            with common.Timer(cuda) as t:
                step()
            times.append(t.s)
        res[f"lora_dropout_{dropout}_img_s"] = args.micro / common.median(times)
        if dropout:
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
            with profile(activities=acts) as prof:
                step()
                if cuda:
                    torch.cuda.synchronize()
            if cuda:
                print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=18))
            print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=12))
            res["profiled_ops"] = len(prof.key_averages())
        del m, opt, v, step
        if cuda:
            torch.cuda.empty_cache()
    common.write_result("gpu_lora_profile", res, smoke=args.smoke)


if __name__ == "__main__":
    main()
