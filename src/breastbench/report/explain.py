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

from breastbench import jsonio  # noqa: E402
from breastbench.report.collect import Run  # noqa: E402
from breastbench.report.figures import DPI, PLAIN_TEXT, FigureInfo  # noqa: E402
from breastbench.report.headline import config_rank  # noqa: E402
from breastbench.report.names import mpl_text, slug  # noqa: E402
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


def preprocess(path: str, prep) -> tuple[torch.Tensor, np.ndarray]:
    """One image as the model saw it in evaluation, and its RGB in [0, 1] for the overlay.

    Decoded by the preprocessing record and normalised by its evaluation transform: the same
    normalisation as training, evaluation and ``predict``, no copy of it here.
    """
    resized = prep.load_image(path)
    tensor = prep.transform(train=False)(resized).unsqueeze(0)
    return tensor, resized.astype(np.float32) / 255.0


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


def explain_run(
    run: Run, out_path: Path, per_class: int = 2, title: str | None = None
) -> tuple[Path, str]:
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
    fig, axes = plt.subplots(2, len(items), figsize=(2.1 * len(items) + 0.8, 5.0), squeeze=False)
    for col, row in enumerate(items):
        x, rgb = preprocess(row["path"], prep)
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
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(mpl_text(f"{title or run.run_id}\n{method} for the predicted class"), fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    bar = fig.add_axes((0.92, 0.08, 0.02, 0.38))
    mappable = plt.cm.ScalarMappable(cmap="jet", norm=plt.Normalize(0, 1))
    fig.colorbar(mappable, cax=bar).set_label("attribution (relative)", fontsize=7)
    bar.tick_params(labelsize=7)
    jsonio.save_figure(fig, out_path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return out_path, method


def default_selection(
    summaries: list[ConfigSummary], reference: str | None = None, order: list[str] | None = None
) -> tuple[list[ConfigSummary], str]:
    """The reference pair: the reference (or first CNN) and the first VLM configuration.

    "First" follows the experiment file (model order, then the most adapted mode: fine-tune,
    LoRA, linear probe, ...), never a test score. Returns the choice and how it was made.
    """
    order = order or []

    def rank(s: ConfigSummary) -> tuple:
        return config_rank(s, order)

    usable = [s for s in summaries if s.shots is None and not s.external and s.runs]
    chosen = []
    how = "the reference pair: "
    ref = [s for s in usable if reference and s.config == reference]
    if ref:
        chosen.append(ref[0])
        how += f"the comparisons' reference ({ref[0].name}) and "
        other = [s for s in usable if (s.family == "cnn") != (ref[0].family == "cnn")]
        how += "the first configuration of the other family"
    else:
        cnn = sorted((s for s in usable if s.family == "cnn"), key=rank)
        if cnn:
            chosen.append(cnn[0])
        other = [s for s in usable if s.family != "cnn"]
        how += "the first CNN and the first VLM configuration"
    other = sorted(other, key=rank)
    if other:
        chosen.append(other[0])
    how += (
        " in the experiment file's model order, most adapted mode first (fine-tune, LoRA, "
        "linear probe); never chosen on test scores. Set report: {explain: [...]} to choose."
    )
    return chosen, how


@matplotlib.rc_context(PLAIN_TEXT)
def explain(
    summaries: list[ConfigSummary],
    out_dir: Path,
    per_class: int = 2,
    selection: list[ConfigSummary] | None = None,
    how: str = "",
) -> tuple[list[FigureInfo], list[str]]:
    """Maps for the first checkpointed fold of each selected configuration (see the notes).

    A selected model x mode that appears in several subsets is drawn once, in its first subset
    (paper order) with a checkpoint.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    figures, notes = [], ([how] if how else [])
    chosen = selection is not None
    candidates, seen = [], set()
    for s in selection if chosen else summaries:
        run = next((r for r in s.runs if r.checkpoint is not None), None)
        if run is None:
            if chosen:
                notes.append(f"{s.subset}: {s.name}: no saved checkpoint, no maps.")
            continue
        if (s.model, s.mode, s.text) not in seen:
            seen.add((s.model, s.mode, s.text))
            candidates.append((s, run))
    if not candidates:
        notes.append(
            "No run saved a checkpoint (runs/<run_id>/checkpoint/) among those chosen, so "
            "explainability "
            "maps were skipped; keep checkpoints in the experiment to get them."
        )
        return figures, notes
    for s, run in candidates:
        path = out_dir / f"{slug('explain', s.subset, s.name)}.png"
        try:
            path, method = explain_run(run, path, per_class, f"{s.subset}: {s.name}")
        except Exception as err:  # noqa: BLE001 - one bad checkpoint must not sink the report
            notes.append(f"{s.subset}: {s.name}: maps skipped ({type(err).__name__}: {err})")
            continue
        caption = (
            f"{method} on {per_class} held-out images per class of "
            f"{run.key.replicate_label or 'the run'} (top: input as the model sees it, bottom: "
            "map; colour bar: relative attribution, 0 = none, 1 = the image's maximum)."
        )
        figures.append(
            FigureInfo(path.stem, path, f"{s.subset}: {s.name}: {method}", caption, s.subset)
        )
    return figures, notes
