"""Model FLOP utilisation of full fine-tuning: ResNet34 at 336x336 on this machine.

Training images/s comes from the runner's ``fit`` (AdamW, cosine, batch 16) on preloaded
tensors; FLOPs per training image (forward + backward) from torch's ``FlopCounterMode``; the
reference FLOP/s from a dense fp32 matmul timed in the same process, alternating with the
training epochs. MFU = images/s x FLOPs per image / matmul FLOP/s.
"""

from __future__ import annotations

import argparse

import common
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode


def matmul_flops(n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of an n x n x n fp32 matmul (median of ``reps``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(reps):
        with common.Timer() as t:
            a @ b
        times.append(t.s)
    return 2 * n**3 / common.median(times)


def main() -> None:
    """Measure, print and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cnn/resnet34")
    ap.add_argument("--size", type=int, default=336)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    common.add_smoke(ap)
    args = ap.parse_args()
    n_matmul = 2048
    if args.smoke:
        args.model, args.size, args.images, args.reps, n_matmul = "cnn/test-resnet", 64, 16, 1, 256
    common.set_threads()
    from breastbench.experiment.config import TrainingConfig
    from breastbench.experiment.train import TensorSource, fit
    from breastbench.models import create

    dev = torch.device("cpu")
    torch.manual_seed(0)
    model = create(args.model, 2, None, input_size=args.size).set_mode("finetune")
    x = torch.randn(args.images, 3, args.size, args.size)
    y = np.arange(args.images) % 2
    src = TensorSource(x, y, dev, lambda m, b: m(b))
    model.train()
    with FlopCounterMode(display=False) as fc:
        loss = model(x[:2]).float().sum()
        loss.backward()
    flops_img = fc.get_total_flops() / 2
    model.zero_grad(set_to_none=True)
    cfg = TrainingConfig(epochs=1, batch_size=16)
    ips, peak = [], []
    fit(model, src, np.arange(8), cfg, seed=0, device=dev, micro_batch=8, lr=1e-4)  # warm-up
    for r in range(args.reps):
        peak.append(matmul_flops(n_matmul))
        res = fit(
            model, src, np.arange(args.images), cfg, seed=r, device=dev, micro_batch=16, lr=1e-4
        )
        ips.append(args.images / res.history[0]["seconds"])
    peak.append(matmul_flops(n_matmul))
    i, p = common.median(ips), common.median(peak)
    common.write_result(
        "mfu",
        {
            "setup": f"{args.model} full fine-tuning at {args.size}px, batch 16, fp32, fit() on "
            f"preloaded tensors, torch threads {torch.get_num_threads()}",
            "train_img_s": i,
            "train_gflop_per_img": flops_img / 1e9,
            "achieved_gflop_s": i * flops_img / 1e9,
            "matmul_gflop_s": p / 1e9,
            "mfu": i * flops_img / p,
            "raw": {"img_s": ips, "matmul_gflop_s": [v / 1e9 for v in peak]},
        },
        smoke=args.smoke,
    )


if __name__ == "__main__":
    main()
