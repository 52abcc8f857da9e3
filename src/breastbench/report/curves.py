"""The curve points the analysis wrote (``summary/roc.csv`` and its siblings), by configuration.

:mod:`breastbench.results.curves` computes them; the figures only look them up here and draw.
A configuration without rows (no readable run, or a folder analysed by an older breastbench)
simply has no curve.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


class Curves:
    """Lookup of the analysis' curve tables for one report."""

    def __init__(self, summary: dict[str, pd.DataFrame]):
        self.tables = summary

    def _rows(self, table: str, config_id: str) -> pd.DataFrame:
        df = self.tables.get(table)
        if df is None or df.empty:
            return pd.DataFrame()
        return df[df["config_id"] == config_id]

    def roc(self, config_id: str) -> tuple[np.ndarray, np.ndarray, float]:
        """False and true positive rates and the pooled AUC (empty arrays: no curve)."""
        rows = self._rows("roc", config_id).sort_values("point")
        if rows.empty:
            return np.array([]), np.array([]), math.nan
        auc = float(rows["auc"].iloc[0])
        return rows["fpr"].to_numpy(dtype=float), rows["tpr"].to_numpy(dtype=float), auc

    def confusion(self, config_id: str, k: int) -> np.ndarray:
        """(k, k) counts of true (rows) against predicted (columns) class."""
        counts = np.zeros((k, k), dtype=int)
        for r in self._rows("confusion", config_id).itertuples():
            counts[int(r.true), int(r.pred)] = int(r.count)
        return counts

    def reliability(self, config_id: str) -> tuple[pd.DataFrame, float]:
        """Per-bin ``conf``, ``freq``, ``n`` and the expected calibration error."""
        rows = self._rows("reliability_pooled", config_id).sort_values("bin")
        if rows.empty:
            return pd.DataFrame(columns=["conf", "freq", "n"]), math.nan
        return rows[["conf", "freq", "n"]], float(rows["ece"].iloc[0])

    def loss(self, config_id: str, column: str) -> pd.DataFrame | None:
        """Mean and std per epoch (index) of one loss column, or None without a history."""
        rows = self._rows("loss_curves", config_id)
        rows = rows[rows["loss"] == column] if not rows.empty else rows
        if rows.empty:
            return None
        return rows.set_index("epoch")[["mean", "std"]]
