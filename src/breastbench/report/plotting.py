"""What every report figure shares: Agg backend, resolution, axis ranges, palette, saving.

A figure is saved atomically (:func:`breastbench.jsonio.save_figure`) with a ``<figure>.json``
beside it holding every plotted value (:func:`write_figure_data`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import json  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402

from breastbench import jsonio  # noqa: E402
from breastbench.report.names import mpl_text  # noqa: E402
from breastbench.report.summary import ConfigSummary  # noqa: E402

DPI = 110
# labels are user text (model labels, class names): a '$' is a dollar sign, never mathtext
PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}
UNBOUNDED = ("loss", "nll", "log_loss")  # every other metric lies in [0, 1] (kappa: [-1, 1])


def bounded(metric: str) -> bool:
    """True for metrics with a fixed range (everything but losses)."""
    return not metric.endswith(UNBOUNDED)


def axis_range(metric: str, values) -> tuple[float, float]:
    """The y range of a metric: [0, 1] for bounded ones (kappa below 0: [-1, 1]), else padded."""
    finite = [float(v) for v in values if v == v]
    if bounded(metric):
        return (-1.0 if finite and min(finite) < 0 else 0.0), 1.0
    if not finite:
        return 0.0, 1.0
    span = (max(finite) - min(finite)) or 1.0
    return min(finite) - 0.05 * span, max(finite) + 0.05 * span


def write_figure_data(path: Path, metric: str, ylim: tuple[float, float], points: list) -> None:
    """``<figure>.json`` beside the PNG: metric, y range and every plotted value."""
    data = {"metric": metric, "bounded": bounded(metric), "ylim": list(ylim), "points": points}
    jsonio.atomic_write_text(path.with_suffix(".json"), json.dumps(data, indent=1, default=str))


@dataclass
class FigureInfo:
    """A written figure: file, section title and caption."""

    key: str
    path: Path
    title: str
    caption: str
    group: str = ""


def config_label(s: ConfigSummary) -> str:
    """Short legend label: ``cnn/resnet34 · fine-tune`` (``$`` escaped for matplotlib)."""
    return mpl_text(f"{s.model_label} · {s.mode_label}")


class Palette:
    """One colour per model x mode, stable across figures."""

    def __init__(self, summaries: list[ConfigSummary]):
        labels = sorted({config_label(s) for s in summaries})
        cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
        self.colors = {lab: cmap(i % cmap.N) for i, lab in enumerate(labels)}

    def style(self, s: ConfigSummary) -> dict:
        """Line style kwargs: colour by configuration, dashed for non-CNN families."""
        return {
            "color": self.colors[config_label(s)],
            "linestyle": "-" if s.family == "cnn" else "--",
        }


def save(fig, path: Path) -> Path:
    """Lay out, save atomically at :data:`DPI` and close ``fig``; return ``path``."""
    fig.tight_layout()
    jsonio.save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def legend_right(ax) -> None:
    """The legend outside the axes, on the right."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)


def finish(fig, ax, title: str, path: Path, *, grid: bool = True, **title_style) -> Path:
    """Title ``ax`` (plain text), grid it, put its legend on the right, then :func:`save`."""
    ax.set_title(mpl_text(title), **title_style)
    if grid:
        ax.grid(alpha=0.3)
    legend_right(ax)
    return save(fig, path)


def metric_name(metric: str) -> str:
    """Display name of a metric, naming the AUC definition (mean over folds)."""
    from breastbench.report.tables import metric_label

    return metric_label(metric)
