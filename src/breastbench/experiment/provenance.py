"""What a result needs to be reproducible: package versions, git SHA, device, seeds."""

from __future__ import annotations

import functools
import os
import platform
import random
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

PACKAGES = (
    "breastbench",
    "torch",
    "torchvision",
    "timm",
    "open_clip_torch",
    "transformers",
    "peft",
    "albumentations",
    "scikit-learn",
    "scipy",
    "numpy",
    "pandas",
    "pydicom",
)


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change a result (read once per process)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.lru_cache(maxsize=4)
def git_sha(start: Path | None = None) -> str:
    """SHA of the breastbench checkout (with '-dirty' if modified), or 'unknown'.

    Asked once per process: the two git calls cost more than a cached-feature run.
    """
    where = start or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
        return sha + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_info(device: torch.device) -> dict:
    """CPU model, cores, and the GPU name when running on CUDA."""
    info = {
        "device": str(device),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda`` or None (CUDA when available); asking for absent CUDA is an error."""
    from breastbench.errors import UserError

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible here; use --device cpu")
    if not (name == "cpu" or name.startswith("cuda")):
        raise UserError(f"--device: got {name!r}; allowed: cpu, cuda, cuda:N")
    return torch.device(name)
