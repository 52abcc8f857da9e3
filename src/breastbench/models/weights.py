"""Where model weights come from: the HF Hub cache, a torchvision URL cache, or a local path.

Every family resolves its ``weights`` argument here so the rules are the same everywhere:
``None``/``"random"`` means random init, ``"pretrained"`` the registry default, anything else a
local file or folder. Downloads honour HF offline mode (``HF_HUB_OFFLINE=1``, read at call time
so tests can set it), and every network or cache failure becomes one
:class:`~breastbench.errors.MissingWeightsError` line saying which weights, from where, and how to
point at a local folder instead. State dicts are read with safetensors when possible and
otherwise with ``torch.load(weights_only=True)``, which never unpickles arbitrary objects.
"""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from breastbench.errors import MissingWeightsError, UserError

RANDOM = "random"
PRETRAINED = "pretrained"
_TRUE = {"1", "true", "yes", "on"}
# file names tried in a local folder, best first (safetensors preferred)
WEIGHT_FILES = (
    "model.safetensors",
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "pytorch_model.bin",
    "open_clip_pytorch_model.bin",
    "model.pth",
)


def kind_of(weights: str | os.PathLike | None) -> str:
    """Classify a ``weights`` argument as ``random``, ``pretrained`` or ``local``."""
    if weights is None or str(weights) == RANDOM:
        return RANDOM
    if str(weights) == PRETRAINED:
        return PRETRAINED
    return "local"


@dataclass(frozen=True)
class Resolved:
    """Where a builder's weights are: nothing (random), one file, or a folder.

    ``source`` is what ``run.json`` and the checkpoint record: ``random``, the registry's
    default source for ``pretrained``, or the local path.
    """

    kind: str
    source: str
    path: Path | None = None
    folder: Path | None = None


def resolve(
    info,
    weights: str | os.PathLike | None,
    *,
    hub_files: Sequence[str] = WEIGHT_FILES,
    snapshot: Sequence[str] | None = None,
    fetch: Callable[[], Path] | None = None,
    names: tuple[str, ...] = WEIGHT_FILES,
    repo: str | None = None,
) -> Resolved:
    """The one weights path of every builder (as timm's ``build_model_with_cfg``).

    ``random`` (or None): nothing to load. ``pretrained``: refused for a tiny test model; else
    the registry's repository (``info.weights`` without ``hf-hub:``, or ``repo``) as one of
    ``hub_files`` in the HF cache, or as a ``snapshot`` folder of those patterns, or what
    ``fetch()`` returns (e.g. a torchvision URL). A local path: with ``snapshot`` the folder
    itself (None for a file), otherwise the weights file (the first of ``names`` in a folder).
    Every miss is one line (:func:`missing`, :func:`local_file`).
    """
    kind = kind_of(weights)
    if kind == RANDOM:
        return Resolved(kind, RANDOM)
    if kind == PRETRAINED:
        if info.test_variant:
            raise UserError(
                f"'{info.name}' is a tiny test model with no pretrained weights; use random"
            )
        repo = repo or info.weights.removeprefix("hf-hub:")
        if snapshot is not None:
            return Resolved(kind, info.weights, folder=hf_snapshot(repo, list(snapshot), info.name))
        path = fetch() if fetch is not None else hf_file(repo, tuple(hub_files), info.name)
        return Resolved(kind, info.weights, path=path)
    if snapshot is not None:
        p = Path(weights).expanduser()
        return Resolved(kind, str(p), folder=p if p.is_dir() else None)
    path = local_file(weights, info.name, names)
    return Resolved(kind, str(path), path=path)


def is_offline() -> bool:
    """True when HF offline mode is on (also honoured for torchvision downloads)."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hf_cache_dir() -> str:
    """The HF Hub cache folder, resolved from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(Path.home(), ".cache", "huggingface")
    return os.path.join(home, "hub")


def missing(what: str, source: str, reason: str) -> MissingWeightsError:
    """Build the one-line error for weights that cannot be found or fetched."""
    return MissingWeightsError(
        f"weights for '{what}' not available from {source} ({reason}); download them on a "
        f"machine with internet, or set `weights: /path/to/folder` on the model's entry in the "
        f"experiment YAML (`breastbench models info` takes --weights /path/to/folder)"
    )


def hub_access(what: str, repo_id: str, err: BaseException) -> MissingWeightsError | None:
    """One line for a gated or missing hub repository, or None for other failures.

    Uses huggingface_hub's own error types: gated (terms not accepted, or not logged in) and
    not found (wrong id, or private without a token).
    """
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    page = f"https://huggingface.co/{repo_id}"
    local = (
        "or set `weights: /path/to/folder` on the model's entry in the experiment YAML "
        "(--weights for `breastbench models info`) to a local copy of the files"
    )
    if isinstance(err, GatedRepoError):
        return MissingWeightsError(
            f"weights for '{what}' are gated on the Hugging Face Hub: request access at {page}, "
            f"then log in with `hf auth login` (or set HF_TOKEN), {local}"
        )
    if isinstance(err, RepositoryNotFoundError):
        return MissingWeightsError(
            f"weights for '{what}': repository '{repo_id}' not found on the Hugging Face Hub "
            f"(check {page}; a private or gated one needs `hf auth login` or HF_TOKEN), "
            f"{local}"
        )
    return None


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}"[:160]


def hf_file(repo_id: str, filenames: tuple[str, ...], what: str) -> Path:
    """Path of the first of ``filenames`` found in (or downloaded to) the HF cache of a repo."""
    from huggingface_hub import hf_hub_download

    offline = is_offline()
    last: BaseException | None = None
    for filename in filenames:
        try:
            path = hf_hub_download(
                repo_id, filename, cache_dir=hf_cache_dir(), local_files_only=offline
            )
            return Path(path)
        except Exception as err:  # network, offline cache miss, 404, auth: all mean "missing"
            access = hub_access(what, repo_id, err)
            if access is not None:
                raise access from None
            last = err
    reason = "offline mode and not in the cache" if offline else _short(last)
    raise missing(what, f"HF Hub '{repo_id}'", reason)


def hf_snapshot(repo_id: str, patterns: list[str], what: str) -> Path:
    """Local folder of an HF repo snapshot restricted to ``patterns`` (cache or download)."""
    from huggingface_hub import snapshot_download

    offline = is_offline()
    try:
        folder = snapshot_download(
            repo_id, allow_patterns=patterns, cache_dir=hf_cache_dir(), local_files_only=offline
        )
    except Exception as err:  # network, offline cache miss, 404: all mean "missing"
        access = hub_access(what, repo_id, err)
        if access is not None:
            raise access from None
        reason = "offline mode and not in the cache" if offline else _short(err)
        raise missing(what, f"HF Hub '{repo_id}'", reason) from None
    return Path(folder)


def url_file(url: str, what: str) -> Path:
    """Cached path of a torchvision URL (``$TORCH_HOME/hub/checkpoints``), downloaded if allowed."""
    target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if target.is_file():
        return target
    if is_offline():
        raise missing(what, url, f"offline mode and not in {target.parent}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(target), progress=False)
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        raise missing(what, url, _short(err)) from None
    return target


def local_file(path: str | os.PathLike, what: str, names: tuple[str, ...] = WEIGHT_FILES) -> Path:
    """Resolve a local weights file, or the preferred weights file inside a folder."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        for name in names:
            if (p / name).is_file():
                return p / name
        found = sorted(p.glob("*.safetensors")) + sorted(p.glob("*.pth")) + sorted(p.glob("*.bin"))
        if found:
            return found[0]
        raise UserError(
            f"no weights file for '{what}' in folder {p}; expected one of {', '.join(names)}"
        )
    raise UserError(
        f"weights path for '{what}' does not exist: {p}; use 'pretrained', 'random' or an "
        f"existing file/folder"
    )


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors or a weights-only torch file (no arbitrary pickles).

    A file that is neither (corrupt, truncated, a pickle of other objects, a text file) is one
    line: "not a weights file", with what to do; never a loader's multi-line message.
    """
    path = Path(path)
    advice = "pass a .safetensors or .pth state dict, or 'pretrained' / 'random'"
    with open(path, "rb"):  # an unreadable file: a PermissionError naming it (safetensors' own
        pass  # error carries no file name)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except OSError:
            raise  # permissions and the like: the CLI's boundary names the path
        except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
            raise UserError(
                f"{path}: not a weights file (unreadable safetensors: {_short(err)}); {advice}"
            ) from None
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as err:  # noqa: BLE001 - torch raises many types for a foreign file
        why = "it holds objects other than tensors" if "Weights only" in str(err) else _short(err)
        raise UserError(f"{path}: not a weights file ({why}); {advice}") from None
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not any(isinstance(v, torch.Tensor) for v in sd.values()):
        raise UserError(f"{path}: not a weights file (no state dict of tensors); {advice}")
    return sd


def load_into(module: torch.nn.Module, state: dict, what: str, source: str, strict=True) -> None:
    """``load_state_dict`` with a one-line UserError when the weights do not fit the model."""
    try:
        missing_keys, unexpected = module.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise UserError(
            f"weights from {source} do not fit model '{what}' ({_short(err)[:120]}...)"
        ) from None
    if not strict and missing_keys and len(missing_keys) == len(module.state_dict()):
        raise UserError(f"weights from {source} share no parameter names with model '{what}'")
