"""Peak memory per model family and learning mode, one fresh subprocess per configuration.

Each child imports breastbench, builds the model (random weights), sets the mode and runs one
training step (forward, backward, AdamW) on a random batch, or one forward for modes with
nothing to train on the images (features for the probe/zero-shot caches). On CPU the figure is
the child's peak RSS (``resource.getrusage``), with the RSS after imports shown separately; on
CUDA it is ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import common

CONFIGS = [
    # (model, mode, batch, create kwargs)
    ("cnn/resnet34", "finetune", 16, {"input_size": 336}),
    ("cnn/resnet34", "linear_probe", 16, {"input_size": 336}),
    ("cnn/vgg19", "finetune", 8, {"input_size": 336}),
    ("clip/test-biomedclip", "finetune", 16, {}),
    ("clip/test-biomedclip", "linear_probe", 16, {}),
    ("vlm/smolvlm-256m", "lora", 4, {}),
    ("vlm/smolvlm-256m", "linear_probe", 4, {}),
    ("vlm/test-qwen2-vl", "lora", 16, {}),
]

SMOKE_CONFIGS = [
    ("cnn/test-resnet", "finetune", 4, {}),
    ("vlm/test-smolvlm", "lora", 4, {}),
]

CHILD = r"""
import json, resource, sys, torch
torch.set_num_threads(1)
sys.path.insert(0, "src")
name, mode, batch, kw = json.loads(sys.argv[1])
from breastbench.models import create
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
torch.manual_seed(0)
m = create(name, 2, None, **kw).set_mode(mode).to(dev)
side = m.data_config["input_size"][1]
x = torch.randn(batch, 3, side, side, device=dev)
params = [p for p in m.parameters() if p.requires_grad]
with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
    if mode in ("finetune", "lora"):
        m.train()
        opt = torch.optim.AdamW(params, lr=1e-4)
        m(x).float().sum().backward()
        opt.step()
    else:
        m.eval()
        with torch.no_grad():
            m.features(x)
out = {"rss_after_imports_gib": base,
       "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
       "params_m": sum(p.numel() for p in m.parameters()) / 1e6,
       "trainable_m": sum(p.numel() for p in params) / 1e6}
if dev.type == "cuda":
    out["cuda_max_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
print(json.dumps(out))
"""


def main() -> None:
    """One subprocess per configuration; print and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_smoke(ap)
    args = ap.parse_args()
    rows = []
    for name, mode, batch, kw in SMOKE_CONFIGS if args.smoke else CONFIGS:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps([name, mode, batch, kw])],
            capture_output=True,
            text=True,
            cwd=common.RESULTS.parents[1],
        )
        row = {"model": name, "mode": mode, "batch": batch, **kw}
        if proc.returncode == 0:
            row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        else:
            row["error"] = proc.stderr.strip().splitlines()[-1][:300]
        rows.append(row)
    common.write_result("memory", {"configs": rows}, smoke=args.smoke)


if __name__ == "__main__":
    main()
