"""Data pipeline: prediction throughput from PNG files vs the same model on preloaded tensors.

Same model (ResNet34 at the study's 336x336, random weights), batch and threads for every
variant, all in eval mode through the runner's ``predict_logits``:

- ``model_only``: normalised tensors already in memory (the ceiling);
- ``first_epoch``: a fresh ``ImageStore`` decodes every 700x460 PNG, resizes it, writes the
  decoded-image cache, then the ``ImageSource`` feeds the model;
- ``later_epochs``: the same ``ImageSource`` reading the memory-mapped decoded-image cache;
- ``predict_cli``: ``breastbench predict``'s ``predict_images`` on a saved checkpoint (decodes
  every file on each call, no cache).

``model_only`` and ``later_epochs`` alternate, repeated; ratios use medians. Also reported: the
per-core CPU cost of the training transforms (augmentation off and on) at 336 px, which bounds
how fast one DataLoader worker can feed a GPU.

Target (issue 6): later epochs >= 0.9 of model-only throughput.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
import numpy as np
import torch


def main() -> None:
    """Measure, print and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "breastbench-bench-data"))
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", type=int, default=336)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--model", default="cnn/resnet34")
    common.add_smoke(ap)
    args = ap.parse_args()
    tile = (460, 700)
    if args.smoke:
        args.model, args.images, args.size, args.batch, args.reps = "cnn/test-resnet", 8, 64, 4, 1
        tile = (46, 70)
    common.set_threads()
    from breastbench.experiment.images import ImageStore
    from breastbench.experiment.predict import predict_images
    from breastbench.experiment.sources import ImageSource
    from breastbench.experiment.train import TensorSource, predict_logits
    from breastbench.imaging.transforms import build_transforms
    from breastbench.models import create, save_checkpoint

    per = 1 if args.smoke else 8
    df = common.synth_breakhis(
        Path(args.data) / f"breakhis-{tile[1]}x{tile[0]}-{per}", per, tile_hw=tile
    )
    paths = df["path"].tolist()[: args.images]
    targets = df["target"].to_numpy()[: args.images]
    dev = torch.device("cpu")
    torch.manual_seed(0)
    model = create(args.model, 2, None, input_size=args.size).set_mode("finetune").eval()
    dc = model.data_config
    size, interp = tuple(dc["input_size"][1:]), dc.get("interpolation", "bicubic")
    tf = build_transforms(dc, train=False, augmentation="off")
    idx = np.arange(len(paths))
    n = len(paths)

    logits = {}

    def run(source) -> float:
        t0 = time.perf_counter()
        logits[type(source).__name__] = predict_logits(model, source, idx, args.batch, dev)
        return n / (time.perf_counter() - t0)

    work = Path(tempfile.mkdtemp(prefix="bb-pipe-"))
    first, first_decode = [], []
    for r in range(2):  # fresh cache folder each time: decoding + cache write + model
        t0 = time.perf_counter()
        store = ImageStore(paths, size, work / f"cache{r}", interp)
        source = ImageSource(store, targets, tf, tf, dev)
        predict_logits(model, source, idx, args.batch, dev)
        first.append(n / (time.perf_counter() - t0))
        first_decode.append(store.built_now)
    preloaded = torch.stack([tf(store.get(i)) for i in idx])
    tensors = TensorSource(preloaded, targets, dev, lambda m, x: m(x))
    run(tensors)  # warm-up
    model_only, later = [], []
    for r in range(args.reps):
        pair = [(model_only, tensors), (later, source)]
        for bucket, src in pair if r % 2 == 0 else pair[::-1]:
            bucket.append(run(src))
    ckpt = work / "ckpt"
    save_checkpoint(model, ckpt, classes=["benign", "malignant"])
    t0 = time.perf_counter()
    predict_images(str(ckpt), [str(Path(p)) for p in paths], dev, batch_size=args.batch)
    cli = n / (time.perf_counter() - t0)

    # per-core CPU cost of the per-image training transforms (what a DataLoader worker does)
    torch.set_num_threads(1)
    img = store.get(0)
    per_core = {}
    for aug in ("off", "on"):
        t = build_transforms(dc, train=True, augmentation=aug)
        if hasattr(t, "set_seed"):
            t.set_seed(0)
        t(img)
        t0 = time.perf_counter()
        for i in range(n):
            t(store.get(i))
        per_core[f"aug_{aug}_img_s_per_core"] = n / (time.perf_counter() - t0)
    common.set_threads()

    m_only, m_later = common.median(model_only), common.median(later)
    common.write_result(
        "data_pipeline",
        {
            "setup": f"{args.model} random weights at {args.size}px, eval, batch {args.batch}, "
            f"{n} synthetic 700x460 PNGs, torch threads {torch.get_num_threads()}",
            "model_only_img_s": m_only,
            "first_epoch_img_s": common.median(first),
            "first_epoch_decoded_now": all(first_decode),
            "later_epochs_img_s": m_later,
            # the cached-image path feeds the model exactly the preloaded tensors
            "max_logit_diff_cache_vs_preloaded": float(
                (logits["ImageSource"] - logits["TensorSource"]).abs().max()
            ),
            "predict_cli_img_s": cli,
            "later_over_model_only": m_later / m_only,
            "first_over_model_only": common.median(first) / m_only,
            "transform_cpu": per_core,
            "target": "later epochs >= 0.9 x model-only",
            "target_met": m_later / m_only >= 0.9,
            "raw": {"model_only": model_only, "later": later, "first": first},
        },
        smoke=args.smoke,
    )
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
