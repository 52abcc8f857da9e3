"""Input sources for the training loop: live images, cached features, cached vision tokens.

The cached sources are valid only where the protocol allows them: a frozen backbone with no
augmentation (linear probing, zero-shot) or a frozen vision encoder with no augmentation (VLM
LoRA). Each cache is keyed by everything that determines its content (model, weights,
preprocessing, images), stored on disk, written atomically under a lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from breastbench import jsonio
from breastbench.experiment.images import BUILT_CACHES, ImageDataset, ImageStore, cache_key
from breastbench.experiment.locks import file_lock
from breastbench.experiment.train import InputSource, TensorSource, set_train_mode

FEATURE_CACHE_VERSION = "features-v1"


class ImageSource(InputSource):
    """Decoded images from an :class:`ImageStore`, transformed per epoch, via a DataLoader."""

    def __init__(
        self,
        store: ImageStore,
        targets: np.ndarray,
        train_transform,
        eval_transform,
        device: torch.device,
        num_workers: int = 0,
        seed: int = 0,
        texts: list[str] | None = None,
        channels_last: bool = False,
    ):
        self.store = store
        self.targets = np.asarray(targets)
        self.train_transform = train_transform
        self.eval_transform = eval_transform
        self.device = device
        self.num_workers = num_workers
        self.seed = seed
        self.texts = texts  # optional VLM text context, one string per image of the store
        self.channels_last = channels_last  # CNNs on GPU: NHWC convolutions are faster
        self._loaders: dict[bool, tuple] = {}

    def _loader(self, train: bool):
        """One DataLoader per transform, kept for the whole run (persistent workers)."""
        if train not in self._loaders:
            tf = self.train_transform if train else self.eval_transform
            ds = ImageDataset(self.store, np.arange(len(self.store)), self.targets, tf)
            sampler = _Batches()
            workers = self.num_workers
            loader = torch.utils.data.DataLoader(
                ds,
                batch_sampler=sampler,
                num_workers=workers,
                pin_memory=self.device.type == "cuda",
                persistent_workers=workers > 0,  # no worker start-up cost per epoch
                worker_init_fn=_worker_init if workers else None,
                # its own generator: creating an iterator must not draw from the global RNG,
                # or dropout (LoRA) would see different numbers than on the cached path
                generator=torch.Generator().manual_seed(self.seed),
            )
            self._loaders[train] = (loader, sampler)
        return self._loaders[train]

    def batches(self, indices, micro, train, epoch):
        """Batches of normalised image tensors, augmented when ``train``."""
        if train and self.num_workers == 0 and hasattr(self.train_transform, "set_seed"):
            # draws derive from (seed, epoch): a resumed run augments exactly as an
            # uninterrupted one (with workers, each worker keeps its own seeded stream)
            self.train_transform.set_seed(self.seed * 1_000_003 + epoch)
        loader, sampler = self._loader(train)
        sampler.batches = [indices[s : s + micro].tolist() for s in range(0, len(indices), micro)]
        for x, y, idx in loader:
            x = x.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if self.texts is not None:
                x = (x, [self.texts[int(i)] for i in idx])
            yield x, y.to(self.device, non_blocking=True)

    def forward(self, model, inputs):
        """The whole model on images (and their texts)."""
        if self.texts is not None:
            images, texts = inputs
            return model(images, text=texts)
        return model(inputs)


class _Batches(torch.utils.data.Sampler):
    """A batch sampler whose batches are set before each pass.

    One DataLoader (and its persistent workers) then serves every epoch of a run.
    """

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    tf = getattr(info.dataset, "transform", None)
    if hasattr(tf, "set_seed"):
        tf.set_seed(torch.initial_seed() % 2**31 + worker_id)


def _model_key(model, extra: dict) -> str:
    meta = {
        "v": FEATURE_CACHE_VERSION,
        "model": model.name,
        "weights": str(getattr(model, "weights_source", "")),
        "data_config": {
            k: list(v) if isinstance(v, tuple) else v for k, v in model.data_config.items()
        },
        **extra,
    }
    if str(meta["weights"]) in ("random", "None"):
        # random weights are only reproducible through the seed that drew them
        meta["param_digest"] = _param_digest(model)
    return json.dumps(meta, sort_keys=True, default=str)


def _param_digest(model) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        if name.startswith(("head.", "lm_head.")):  # neither changes what is cached
            continue
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes()[:4096])
        h.update(str(float(p.detach().float().sum())).encode())
    return h.hexdigest()[:16]


def _load_cache(target: Path | None) -> torch.Tensor | None:
    """The cached tensor, or None when absent; a truncated or corrupt file is removed."""
    if target is None or not target.exists():
        return None
    try:
        return torch.from_numpy(np.load(target))
    except (ValueError, OSError, EOFError):
        target.unlink(missing_ok=True)  # rebuilt below, under the lock
        return None


@torch.no_grad()
def cached_tensor(
    kind: str,
    model,
    store: ImageStore,
    eval_transform,
    device,
    cache_dir,
    encode,
    batch: int = 64,
    texts: list[str] | None = None,
) -> torch.Tensor:
    """Run ``encode(model, images)`` once over every image of ``store``; reuse it afterwards.

    ``kind`` is ``features`` (frozen backbone) or ``vision`` (frozen VLM vision encoder).
    """
    img_key = cache_key(
        store.paths, store.size, store.interpolation, store.stain_norm, store.resize
    )
    tag = getattr(store, "cache_tag", None)  # perturbed test images: one cache per perturbation
    if tag is not None:
        img_key = hashlib.sha256(f"{img_key}|{tag}".encode()).hexdigest()[:24]
    text_key = None
    if texts is not None:
        text_key = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:24]
    key_text = _model_key(model, {"kind": kind, "images": img_key, "text": text_key})
    key = hashlib.sha256(key_text.encode()).hexdigest()[:24]
    target = Path(cache_dir) / kind / f"{key}.npy" if cache_dir else None
    cached = _load_cache(target)
    if cached is not None:
        return cached
    no_lock = contextlib.nullcontext()
    lock = file_lock(target.with_suffix(".lock")) if target is not None else no_lock
    with lock:
        cached = _load_cache(target)  # another run may have built it meanwhile
        if cached is not None:
            return cached
        src = ImageSource(
            store,
            np.zeros(len(store), dtype=np.int64),
            eval_transform,
            eval_transform,
            device,
            texts=texts,
        )
        set_train_mode(model, False)
        chunks = []
        for x, _ in src.batches(np.arange(len(store)), batch, train=False, epoch=0):
            out = encode(model, x) if texts is None else encode(model, *x)
            chunks.append(out.float().cpu())
        data = torch.cat(chunks)
        if target is not None:
            # no temporary left by an error or a signal mid-write
            jsonio.atomic_write(target, lambda tmp: np.save(tmp, data.numpy()))
            jsonio.atomic_write_text(target.with_suffix(".json"), key_text)
            BUILT_CACHES.append(str(target))
    return data


def feature_source(model, store, targets, eval_transform, device, cache_dir, texts=None):
    """Frozen-backbone features for every image, then the head alone trains on them."""

    def encode(m, x, t=None):
        return m.features(x) if t is None else m.features(x, text=t)

    data = cached_tensor(
        "features", model, store, eval_transform, device, cache_dir, encode, texts=texts
    )
    return TensorSource(data, targets, device, lambda m, f: m.head(f.to(m.head.weight.dtype)))


def vision_source(model, store, targets, eval_transform, device, cache_dir, texts=None):
    """Frozen vision-encoder + connector outputs once; the LoRA decoder trains on them."""

    def encode(m, x, t=None):
        return m.encode_vision(x)

    data = cached_tensor("vision", model, store, eval_transform, device, cache_dir, encode)

    def fwd(m, v, t=None):
        return m.forward_from_vision(v) if t is None else m.forward_from_vision(v, text=t)

    return TensorSource(data, targets, device, fwd, texts=texts)
