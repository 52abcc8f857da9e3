"""Preflight: everything a grid needs is there before the first epoch.

``breastbench run`` and ``breastbench plan`` check, for every model entry, that its name and
modes are valid and that its weights resolve (a local path exists and holds a weights file; a
Hub id is in the local Hugging Face cache, or, when not offline, the Hub answers and lets this
user in; a torchvision URL is in the torch hub cache or downloadable), and, for every dataset,
that its root and the CSV files it names are readable. Every problem becomes one line with its
fix, and all of them are reported together, so one preflight shows the whole to-do list
instead of the grid stopping at the third model hours in.

Nothing here loads a model or writes a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from breastbench.errors import UserError
from breastbench.experiment.config import UNSET_ROOT_VARS, ExperimentConfig, ModelConfig
from breastbench.models import weights as W

LOCAL_FIX = "set models[{i}].weights to a local folder or file holding them"
SKIP = "--skip-preflight runs without these checks"


def _weights_files(folder: Path) -> bool:
    """True when ``folder`` holds a weights file breastbench can read."""
    if any((folder / n).is_file() for n in W.WEIGHT_FILES):
        return True
    return any(next(folder.glob(f"*.{ext}"), None) for ext in ("safetensors", "pth", "bin", "pt"))


def local_problem(i: int, mc: ModelConfig, family: str) -> str | None:
    """A local ``weights`` path that does not exist or holds no weights file."""
    p = Path(str(mc.weights)).expanduser()
    where = f"models[{i}].weights"
    if not p.exists():
        return (
            f"{where}: {p} does not exist ({mc.name}); point it at the folder or file holding "
            "the weights, or use weights: pretrained / random"
        )
    if not os.access(p, os.R_OK):
        return f"{where}: {p} is not readable ({mc.name}); fix its permissions"
    if p.is_file():
        return None
    if family in ("vlm", "hf", "clip") and (p / "config.json").is_file():
        return None  # a save_pretrained folder: transformers reads its own index
    if not _weights_files(p):
        return (
            f"{where}: {p} holds no weights file for {mc.name} (expected one of "
            f"{', '.join(W.WEIGHT_FILES[:4])}, *.safetensors, *.pth or *.bin; a VLM folder "
            "needs config.json); point it at the folder the weights were downloaded to"
        )
    return None


def hub_problem(i: int, name: str, repo: str) -> str | None:
    """A Hub repository that is neither cached nor (when online) reachable for this user."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo, cache_dir=W.hf_cache_dir(), local_files_only=True)
        return None
    except Exception:  # noqa: BLE001 - any cache miss means "not cached"
        pass
    fix = LOCAL_FIX.format(i=i)
    if W.is_offline():
        return (
            f"models[{i}].weights: pretrained weights of {name} (Hugging Face Hub '{repo}') are "
            f"not in the cache {W.hf_cache_dir()} and HF_HUB_OFFLINE is set; run "
            f"`hf download {repo}` where there is internet (same HF_HOME), or {fix}"
        )
    from huggingface_hub import auth_check

    try:
        auth_check(repo)
    except Exception as err:  # noqa: BLE001 - gated, not found, or the network: one line each
        access = W.hub_access(name, repo, err)
        if access is not None:
            return f"models[{i}].weights: {access}"
        return (
            f"models[{i}].weights: pretrained weights of {name} are not cached and the "
            f"Hugging Face Hub is unreachable ({W._short(err)}); connect, set HF_ENDPOINT to a "
            f"mirror, or {fix}"
        )
    return None


def url_problem(i: int, name: str, source: str) -> str | None:
    """A torchvision weights enum whose file is neither cached nor downloadable (offline)."""
    import torch
    import torchvision.models as tvm

    enum_name, _, member = source.removeprefix("torchvision:").partition(".")
    url = getattr(getattr(tvm, enum_name), member).url
    target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if target.is_file() or not W.is_offline():
        return None
    return (
        f"models[{i}].weights: pretrained weights of {name} ({url}) are not in {target.parent} "
        f"and offline mode is on; download that file there, or {LOCAL_FIX.format(i=i)}"
    )


def weights_problem(i: int, mc: ModelConfig, info) -> str | None:
    """The one-line problem with a model entry's weights, or None when they resolve."""
    kind = W.kind_of(mc.weights)
    if kind == W.RANDOM:
        return None
    if kind == "local":
        return local_problem(i, mc, info.family)
    if info.family == "plugin":
        return None  # the plugin's own function decides what 'pretrained' means
    if info.test_variant or info.weights == W.RANDOM:
        return (
            f"models[{i}].weights: {mc.name} has no published pretrained weights; use "
            "weights: random, or a local folder"
        )
    source = info.extra.get("hub_id") or info.weights
    if source.startswith("torchvision:"):
        return url_problem(i, mc.name, source)
    return hub_problem(i, mc.name, source.split(":", 1)[1] if ":" in source else source)


def _readable(path: Path) -> bool:
    mode = os.R_OK | (os.X_OK if path.is_dir() else 0)
    return os.access(path, mode)


def data_problems(cfg: ExperimentConfig) -> list[str]:
    """Dataset roots and the CSV files named in ``options`` that are missing or unreadable."""
    out = []
    for i, ds in enumerate(cfg.datasets):
        if ds.root is None:  # a union (source: union): its members' roots are checked
            continue
        root = Path(ds.root)
        if not root.exists():
            var = UNSET_ROOT_VARS.get(ds.root)
            fix = (
                f"{var} is not set; set {var}=/path/to/the/dataset"
                if var
                else "fix the path in the config"
            )
            out.append(f"datasets[{i}].root: {root} does not exist ({ds.name}); {fix}")
        elif not _readable(root):
            out.append(f"datasets[{i}].root: {root} is not readable; fix its permissions")
        for key in ("csv", "ground_truth"):
            values = ds.options.get(key)
            values = [values] if isinstance(values, str) else values or []
            for value in values if isinstance(values, list) else []:
                p = Path(str(value))
                p = p if p.is_absolute() else root / p
                if not p.is_file():
                    out.append(
                        f"datasets[{i}].options.{key}: {p} does not exist; fix the file name"
                    )
                elif not os.access(p, os.R_OK):
                    out.append(f"datasets[{i}].options.{key}: {p} is not readable")
    return out


def problems(
    cfg: ExperimentConfig, *, check_weights: bool = True, check_data=True, models=None
) -> list[str]:
    """Every problem that would stop the grid, one line each (model checks always run).

    ``models``: labels of the model entries whose weights the selected runs need (default all).
    """
    from breastbench.experiment.runner import check_model
    from breastbench.models import get_info

    out: list[str] = []
    for i, mc in enumerate(cfg.models):
        try:
            info = get_info(mc.name)
        except UserError as err:
            out.append(f"models[{i}].name: {err}")
            continue
        try:
            check_model(i, mc, info)
        except UserError as err:
            out.append(str(err))
            continue
        if check_weights and (models is None or mc.display in models):
            problem = weights_problem(i, mc, info)
            if problem:
                out.append(problem)
    if check_data:
        out += data_problems(cfg)
    return list(dict.fromkeys(out))


def message(found: list[str]) -> str:
    """The error text: the one problem, or a count and then one problem per line."""
    if len(found) == 1:
        return found[0]
    head = f"preflight found {len(found)} problem{'s' if len(found) > 1 else ''}"
    body = "\n".join(f"  - {p}" for p in found)
    return f"{head} (nothing was written; {SKIP}):\n{body}"


def preflight(cfg: ExperimentConfig, *, skip: bool = False, models=None) -> None:
    """Raise one UserError listing every problem (only model checks with ``skip``)."""
    found = problems(cfg, check_weights=not skip, check_data=not skip, models=models)
    if found:
        raise UserError(message(found))
