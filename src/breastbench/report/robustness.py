"""The report's robustness section: degradation curves by model family and perturbation family.

Reads what :mod:`breastbench.results.robustness` wrote to ``summary/`` (nothing is recomputed):
one figure with a panel per perturbation family (colour, geometric, acquisition) and a line per
model family (CNN, CLIP, VLM, ...): the metric against severity averaged over that family's
perturbations and configurations; a table of each configuration's area under the curve per
perturbation; and one sentence per configuration naming the perturbation family that costs it
most: the controlled answer to the histopathology study's tentative inference that geometric
transforms hurt more than colour ones, and VLMs more than CNNs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from breastbench import jsonio
from breastbench.report.plotting import FigureInfo
from breastbench.report.tables import Cell, Table

PREFERRED = ("balanced_accuracy", "accuracy", "kappa_quadratic")
FAMILIES = ("colour", "geometric", "acquisition")


def _metric(curves: pd.DataFrame) -> str | None:
    present = set(curves["metric"])
    return next((m for m in PREFERRED if m in present), None)


def _figure(curves: pd.DataFrame, metric: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    data = curves[curves["metric"] == metric]
    fams = [f for f in FAMILIES if f in set(data["family"])]
    fig, axes = plt.subplots(1, len(fams), figsize=(4.2 * len(fams), 3.4), squeeze=False)
    for ax, fam in zip(axes[0], fams):
        part = data[data["family"] == fam]
        for model_family, g in part.groupby("model_family", sort=True):
            line = g.groupby("severity")["mean"].mean()
            ax.plot(line.index, line.to_numpy(), marker="o", label=model_family or "model")
        ax.set_title(f"{fam} perturbations")
        ax.set_xlabel("severity (0 = clean)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    jsonio.save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _auc_table(auc: pd.DataFrame, metric: str) -> Table:
    part = auc[auc["metric"] == metric]
    perts = sorted(part["perturbation"].unique())
    rows = []
    for (model, mode, dataset, ext), g in part.groupby(
        ["model", "mode", "dataset", part["external"].astype(object).fillna("")], sort=True
    ):
        by = g.set_index("perturbation")
        cells = [Cell(str(model)), Cell(str(mode)), Cell(f"{dataset}{' -> ' + ext if ext else ''}")]
        for p in perts:
            if p in by.index:
                r = by.loc[p]
                text = f"{r['auc_mean']:.3f} ± {r['auc_std']:.3f} (n={int(r['auc_n'])})"
                cells.append(Cell(text))
            else:
                cells.append(Cell("missing"))
        rows.append(cells)
    return Table(
        key="robustness_auc",
        caption=(
            f"Area under the {metric} degradation curve per perturbation (severities 0..max, "
            "normalised to the metric's units; mean ± sd over folds or seeds)"
        ),
        header=["Model", "Mode", "Data", *perts],
        rows=rows,
    )


def robustness_section(
    run_dir: Path, figures_dir: Path
) -> tuple[list[Table], list[FigureInfo], list[str]]:
    """Tables, figures and statements of the robustness study ([] when it was not run)."""
    from breastbench.results import RunFolder

    folder = RunFolder(run_dir)
    if not folder.summary_path("robustness").is_file():
        return [], [], []
    curves = pd.read_csv(folder.summary_path("robustness"))
    metric = _metric(curves)
    if metric is None:
        return [], [], []
    figure = _figure(curves, metric, Path(figures_dir) / "robustness_curves.png")
    info = FigureInfo(
        key="robustness_curves",
        path=figure,
        title="Test-time perturbations",
        caption=(
            f"{metric} against severity, by perturbation family (panels) and model family "
            "(lines), averaged over the family's perturbations and configurations; the same "
            "perturbed images reached every model (summary/robustness.csv has the intervals)"
        ),
    )
    tables, notes = [], []
    if folder.summary_path("robustness_auc").is_file():
        tables.append(_auc_table(pd.read_csv(folder.summary_path("robustness_auc")), metric))
    if folder.summary_path("robustness_worst_family").is_file():
        worst = pd.read_csv(folder.summary_path("robustness_worst_family"))
        for r in worst[worst["metric"] == metric].itertuples():
            notes.append(
                f"Robustness: {r.model} ({r.mode}) loses most under {r.family} perturbations "
                f"(mean drop of the {metric} curve area from clean {r.drop:.3f})."
            )
    return tables, [info], notes
