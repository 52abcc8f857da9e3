"""Explainability maps for the report: Grad-CAM for CNNs, gradient x input for other encoders.

This is the only part of the report that touches a model: it loads a run's saved checkpoint
(``runs/<id>/checkpoint/``, written by ``save_checkpoint``) and explains a few of that fold's
own held-out images per class, so the map shows what the model used on images it never trained
on. CNNs get Grad-CAM from ``pytorch_grad_cam`` at ``model.cam_target_layer()``; ViT encoders
(CLIP, VLM vision towers) get gradient x input saliency, which needs no architecture-specific
reshape and works for any differentiable model. Runs without a checkpoint are skipped with a
note, never an error: the tables and figures do not depend on this section.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from breastbench.experiment.augment import resize_to
from breastbench.report.collect import Run  # noqa: E402
from breastbench.report.figures import DPI, PLAIN_TEXT, FigureInfo, config_label  # noqa: E402
from breastbench.report.summary import ConfigSummary  # noqa: E402


def pick_images(run: Run, per_class: int) -> list[dict]:
    """The first ``per_class`` held-out images of each true class (deterministic order)."""
    df = run.predictions
    key = "image_id" if "image_id" in df.columns else "path"
    picked = []
    for target in sorted(df["target"].unique()):
        rows = df[df["target"] == target].sort_values(key).head(per_class)
        picked.extend(rows.to_dict("records"))
    return picked


def preprocess(resized: np.ndarray, data_config: dict) -> tuple[torch.Tensor, np.ndarray]:
    """Normalise an image already decoded and resized by the model's preprocessing record.

    Also returns the RGB in [0, 1] the overlay is drawn on.
    """
    import torch

    _, h, w = data_config["input_size"]
    rgb = resize_to(resized, h, w, data_config.get("interpolation", "bilinear"))
    rgb = rgb.astype(np.float32) / 255.0
    mean = np.asarray(data_config["mean"], dtype=np.float32)
    std = np.asarray(data_config["std"], dtype=np.float32)
    tensor = torch.from_numpy(((rgb - mean) / std).transpose(2, 0, 1)).unsqueeze(0)
    return tensor, rgb


def _target_score(logits: torch.Tensor, cls: int) -> torch.Tensor:
    """Evidence for class ``cls``: the single binary logit (negated for class 0) or logit c."""
    if logits.shape[1] == 1:
        return logits[:, 0] if cls == 1 else -logits[:, 0]
    return logits[:, cls]


def predicted_class(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, float]:
    """Arg-max class and its probability (sigmoid for one logit, softmax otherwise)."""
    import torch

    with torch.no_grad():
        logits = model(x).float()
    if logits.shape[1] == 1:
        p = float(torch.sigmoid(logits[0, 0]))
        return (1, p) if p >= 0.5 else (0, 1 - p)
    probs = torch.softmax(logits[0], dim=0)
    return int(probs.argmax()), float(probs.max())


def grad_cam(model: torch.nn.Module, x: torch.Tensor, cls: int) -> np.ndarray:
    """Grad-CAM map (H, W) in [0, 1] at the CNN's ``cam_target_layer()``."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import (
        BinaryClassifierOutputTarget,
        ClassifierOutputTarget,
    )

    binary = getattr(model, "num_outputs", None) == 1
    target = BinaryClassifierOutputTarget(cls) if binary else ClassifierOutputTarget(cls)
    # A frozen backbone (linear probe) has no parameter that needs gradients, so the target
    # layer's activations would carry none: let the input require them instead.
    x = x.clone().requires_grad_(True)
    with GradCAM(model=model, target_layers=[model.cam_target_layer()]) as cam:
        return cam(input_tensor=x, targets=[target])[0]


def gradient_x_input(model: torch.nn.Module, x: torch.Tensor, cls: int) -> np.ndarray:
    """|gradient x input| summed over channels, smoothed and scaled to [0, 1]."""
    import torch

    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        score = _target_score(model(x).float(), cls).sum()
        (grad,) = torch.autograd.grad(score, x)
    sal = (grad * x).detach().abs().sum(dim=1)[0].numpy()
    sigma = max(1.0, sal.shape[0] / 64)
    sal = cv2.GaussianBlur(sal, (0, 0), sigma)
    span = sal.max() - sal.min()
    return (sal - sal.min()) / span if span > 0 else np.zeros_like(sal)


def overlay(rgb: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """Jet heat map blended onto the image (what ``show_cam_on_image`` draws)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    cam = cv2.resize(cam.astype(np.float32), (rgb.shape[1], rgb.shape[0]))
    return show_cam_on_image(rgb, cam, use_rgb=True)


def _has_cam_layer(model) -> bool:
    """CNNs expose a Grad-CAM layer; other families raise UserError from the base class."""
    from breastbench.errors import UserError

    try:
        model.cam_target_layer()
    except (AttributeError, NotImplementedError, UserError):
        return False
    return True


class _WithText(torch.nn.Module):
    """A text-context VLM as an image-only module: the fixed texts go beside each image."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.texts: list[str] = []

    def forward(self, x):
        return self.model.head(self.model.features(x, text=self.texts * len(x)))


def explain_run(run: Run, out_path: Path, per_class: int = 2) -> tuple[Path, str]:
    """Draw the maps of one checkpointed run; return the PNG path and the method used."""
    from breastbench.models import load_checkpoint

    model = load_checkpoint(run.checkpoint)
    model.eval()
    prep = model.preprocessing
    text_model = _WithText(model) if prep.text_context is not None else None
    use_cam = _has_cam_layer(model)
    method = "Grad-CAM" if use_cam else "gradient × input"
    classes = run.classes
    items = pick_images(run, per_class)
    fig, axes = plt.subplots(2, len(items), figsize=(2.1 * len(items), 4.6), squeeze=False)
    for col, row in enumerate(items):
        x, rgb = preprocess(prep.load_image(row["path"]), prep.data_config)
        if text_model is not None:  # the VLM sees the same text beside the image as in training
            text_model.texts = prep.texts([{**run.info, **row}], where=f"run {run.run_id}")
            cls, prob = predicted_class(text_model, x)
            heat = gradient_x_input(text_model, x, cls)
        else:
            cls, prob = predicted_class(model, x)
            heat = grad_cam(model, x, cls) if use_cam else gradient_x_input(model, x, cls)
        axes[0, col].imshow(rgb)
        axes[0, col].set_title(f"true: {classes[int(row['target'])]}", fontsize=8)
        axes[1, col].imshow(overlay(rgb, heat))
        axes[1, col].set_title(f"pred: {classes[cls]} ({prob:.2f})", fontsize=8)
        for ax in axes[:, col]:
            ax.axis("off")
    fig.suptitle(f"{run.run_id}\n{method} for the predicted class", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return out_path, method


@matplotlib.rc_context(PLAIN_TEXT)
def explain(
    summaries: list[ConfigSummary], out_dir: Path, per_class: int = 2, max_models: int = 8
) -> tuple[list[FigureInfo], list[str]]:
    """Maps for the first checkpointed fold of each configuration; notes for what was skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures, notes = [], []
    candidates = []
    for s in summaries:
        run = next((r for r in s.runs if r.checkpoint is not None), None)
        if run is not None:
            candidates.append((s, run))
    if not candidates:
        notes.append(
            "No run saved a checkpoint (runs/<run_id>/checkpoint/), so explainability maps "
            "were skipped; keep checkpoints in the experiment to get them."
        )
        return figures, notes
    # round-robin over models, so every model (a CNN's Grad-CAM, a ViT's gradient map) is
    # shown before any model gets a second configuration
    by_model: dict[str, list] = {}
    for item in candidates:
        by_model.setdefault(item[0].model, []).append(item)
    queues = list(by_model.values())
    ordered = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    if len(ordered) > max_models:
        notes.append(
            f"Maps drawn for {max_models} of {len(ordered)} configurations, models in turn."
        )
    for s, run in ordered[:max_models]:
        path = out_dir / f"explain_{run.run_id.replace('/', '-')}.png"
        try:
            path, method = explain_run(run, path, per_class)
        except Exception as err:  # noqa: BLE001 - one bad checkpoint must not sink the report
            notes.append(f"{run.run_id}: maps skipped ({type(err).__name__}: {err})")
            continue
        caption = (
            f"{method} on {per_class} held-out images per class of fold "
            f"{run.info.get('fold', '?')} (top: input as the model sees it, bottom: map)."
        )
        figures.append(FigureInfo(path.stem, path, f"{config_label(s)}: {method}", caption))
    return figures, notes
