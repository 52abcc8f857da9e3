"""Every dataset's manifest with its folds, built once and checked before any training.

Folds are written once to the run folder's ``manifests/<dataset>.csv``; a later call reads
them back and refuses to continue if the data or the cv settings changed underneath runs that
used them. Data-layer errors are reworded with the experiment-file key that fixes them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console

from breastbench.data import (
    assign_folds,
    audit_folds,
    load_manifest,
    read_manifest,
    write_manifest,
)
from breastbench.errors import UserError
from breastbench.experiment.config import UNSET_ROOT_VARS, ExperimentConfig
from breastbench.experiment.loso import UNION
from breastbench.experiment.runsplit import external_targets
from breastbench.experiment.union import members_first, union_manifest
from breastbench.results import RunFolder


def prepare_manifests(
    cfg: ExperimentConfig, out_dir: Path, console: Console | None = None
) -> dict[str, pd.DataFrame]:
    """Build or re-read every dataset's manifest with folds; audit the folds."""
    manifests: dict[str, pd.DataFrame] = {}
    for i, ds in members_first(cfg.datasets):
        if ds.source == UNION:  # pooled from its members' manifests, built before it
            manifests[ds.name] = union_manifest(cfg.datasets, i, manifests)
            continue
        df = _listing(i, ds)
        if not ds.cross_validate:
            manifests[ds.name] = df  # external test set only: no folds
            continue
        df = _with_folds(cfg, out_dir, i, ds, df)
        for mag in ds.magnifications or [None]:
            sub = df if mag is None else df[df["magnification"] == mag]
            if mag is not None and sub.empty:
                raise UserError(f"datasets[{i}].magnifications: no {mag}X images in {ds.root}")
            sub = sub.copy()
            sub.attrs = dict(df.attrs)
            _check_audit(audit_folds(sub), ds.name, mag)
        manifests[ds.name] = df
    return manifests


def _listing(i: int, ds) -> pd.DataFrame:
    """Dataset ``i``'s manifest as its source lists it (task, magnifications, labels checked)."""
    from breastbench.data.sources import SOURCES, source_options

    if not Path(ds.root).exists():
        var = UNSET_ROOT_VARS.get(ds.root)
        if var:
            raise UserError(
                f"datasets[{i}].root: {var} is not set, and its default {ds.root} does not "
                f"exist; set {var}=/path/to/the/dataset (or fix the path in the config)"
            )
        raise UserError(f"datasets[{i}].root: {ds.root} does not exist; fix the path")
    opts = dict(ds.options)
    takes_task = "task" in source_options(ds.source) if ds.source in SOURCES else False
    if ds.task and takes_task:
        opts["task"] = ds.task
    try:
        df = load_manifest(ds.source, ds.root, **opts)
    except UserError as err:
        raise UserError(for_run(str(err), i)) from None
    if ds.task and not takes_task and df.attrs.get("task") not in (None, ds.task):
        raise UserError(
            f"datasets[{i}].task: source {ds.source} gives task "
            f"{df.attrs.get('task')!r} only; write task: {df.attrs.get('task')} or drop it"
        )
    if ds.magnifications and "magnification" not in df.columns:
        raise UserError(
            f"datasets[{i}].magnifications: source {ds.source} has no magnifications; "
            "remove the magnifications line"
        )
    if ds.label_map:
        df = _relabel(df, ds.label_map, f"datasets[{i}].label_map")
    return df


def _with_folds(cfg: ExperimentConfig, out_dir: Path, i: int, ds, df: pd.DataFrame):
    """The manifest with folds: the saved one if it still fits the data, else new (written)."""
    path = RunFolder(out_dir).manifest_path(ds.name)
    group = None if cfg.cv.group_by == "patient" else "path"
    # files are not checked here: an image removed since (as a decode error advises) must
    # make the stored folds differ from the fresh listing, not fail the rerun
    saved = read_manifest(path, check_files=False) if path.exists() else None
    if saved is not None and not _same_split(saved, df, cfg, group):
        if _has_runs_of(out_dir, ds.name):
            raise UserError(
                f"{path}: the data or cv settings changed since these folds were written "
                "and runs already used them; run into a new --out folder"
            )
        saved = None  # nothing trained on the old split: re-split with the new settings
    if saved is not None:
        return saved
    if "fixed_split" in df.attrs:  # a published split: its folds are data, never redrawn
        write_manifest(df, path)
        return df
    # patient: the source's own grouping (e.g. BreakHis numeric id, or group_by=slide)
    try:
        df = assign_folds(df, k=cfg.cv.k, seed=cfg.cv.seed, group_col=group)
    except UserError as err:
        raise UserError(for_run(str(err), i)) from None
    write_manifest(df, path)
    return df


# The data layer's advice names `breastbench data` flags; under `run` the same fix is a key of
# the experiment file. Each pair: (flag as the data layer writes it, the run's equivalent).
_RUN_EQUIVALENTS = (
    ("--skip-invalid", "datasets[{i}].options: {{skip_invalid: true}}"),
    ("--skip-missing", "datasets[{i}].options: {{skip_missing: true}}"),
    ("--no-check-files", "datasets[{i}].options: {{check_files: false}}"),
    ("--csv FILE[,FILE]", "datasets[{i}].options: {{csv: FILE}}"),
    ("--csv FILE", "datasets[{i}].options: {{csv: FILE}}"),
    ("--k ", "cv.k: "),
    (
        "check_files=False (datasets[{i}].options: {{check_files: false}})",
        "datasets[{i}].options: {{check_files: false}}",
    ),
)


def for_run(message: str, i: int) -> str:
    """A data-layer error line with its fix spelled as the experiment-file key `run` reads."""
    for flag, key in _RUN_EQUIVALENTS:
        message = message.replace(flag.format(i=i), key.format(i=i))
    return f"datasets[{i}]: {message}" if not message.startswith("datasets[") else message


def _same_split(saved: pd.DataFrame, df: pd.DataFrame, cfg: ExperimentConfig, group) -> bool:
    """True when a saved manifest's folds were made from these images with these settings."""
    if "fixed_split" in df.attrs:
        return sorted(saved["path"]) == sorted(df["path"]) and "fold" in saved.columns
    folds = saved.attrs.get("folds") or {}
    same_cv = folds.get("k") == cfg.cv.k and folds.get("seed") == cfg.cv.seed
    same_group = (folds.get("group_col") == "path") == (group == "path")
    return same_cv and same_group and sorted(saved["path"]) == sorted(df["path"])


def _has_runs_of(out_dir: Path, dataset: str) -> bool:
    """Whether any run folder (complete, stopped or broken) of ``dataset`` exists."""
    return any(k.dataset == dataset for k in RunFolder(out_dir).keys_on_disk())


def _check_audit(audit: dict, name: str, mag) -> None:
    where = f"dataset '{name}'" + (f" at {mag}X" if mag else "")
    if audit["leaks"]:
        raise UserError(
            f"{where}: patients appear in several folds: {sorted(audit['leaks'])[:5]}; folds leak"
        )
    missing = audit["missing_classes"]
    if missing:
        raise UserError(
            f"{where}: a test fold lacks a class ({missing}); metrics such as AUC are undefined "
            "there. Use fewer folds (cv.k) or more patients"
        )


def _relabel(df: pd.DataFrame, mapping: dict, where: str) -> pd.DataFrame:
    labels = df["label"].map(lambda v: mapping.get(v, v))
    classes = list(dict.fromkeys(mapping.get(c, c) for c in df.attrs["classes"]))
    attrs = dict(df.attrs)
    df = df.assign(label=labels, target=labels.map({c: i for i, c in enumerate(classes)}))
    if df["target"].isna().any():
        raise UserError(f"{where}: could not map every label")
    df["target"] = df["target"].astype(int)
    df.attrs = {**attrs, "classes": classes}
    return df


def check_external(cfg: ExperimentConfig, manifests: dict[str, pd.DataFrame]) -> None:
    """Every external test set's labels map onto its training classes (before any training)."""
    for i, ext in enumerate(cfg.external):
        classes = list(manifests[ext.train].attrs["classes"])
        try:
            external_targets(manifests[ext.test], classes, ext.label_map, ext.test)
        except UserError as err:
            raise UserError(f"external[{i}].label_map: {err}") from None
