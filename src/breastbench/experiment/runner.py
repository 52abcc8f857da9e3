"""Run an experiment: validate everything first, then execute the grid, then summarise.

Checks that can fail (unknown model, a mode a model cannot do, a missing dataset root, a
fold without a class) all run before the first epoch, so a typo never costs an hour. Folds
are written once to ``manifests/<dataset>.csv``; a later call reads them back and refuses to
continue if the data changed underneath.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console

from breastbench.errors import UserError
from breastbench.experiment.config import ExperimentConfig
from breastbench.experiment.execute import RunContext, execute
from breastbench.experiment.grid import expand, select
from breastbench.experiment.provenance import resolve_device
from breastbench.experiment.schema import to_dict
from breastbench.results import RunFolder


def check_models(cfg: ExperimentConfig) -> None:
    """Every model name exists, takes its options and supports each mode (no weights loaded)."""
    from breastbench.models import get_info

    for i, mc in enumerate(cfg.models):
        try:
            info = get_info(mc.name)
        except UserError as err:
            raise UserError(f"models[{i}].name: {err}") from None
        check_model(i, mc, info)


def check_model(i: int, mc, info) -> None:
    """One model entry's options, modes, text context, prompts and shots fit its family."""
    from breastbench.models import check_options

    try:
        check_options(mc.name, {**mc.options, "input_size": mc.input_size})
    except UserError as err:
        raise UserError(f"models[{i}].options: {err}") from None
    for mode in mc.modes:
        if mode not in info.learning_modes:  # derived from the family's capabilities
            raise UserError(
                f"models[{i}].modes: '{mc.name}' cannot run mode '{mode}'; "
                f"it supports: {', '.join(info.learning_modes)}"
            )
        if any(t is not None for t in mc.text_contexts) and info.family != "vlm":
            raise UserError(
                f"models[{i}].text_context: '{mc.name}' reads images only; text context "
                "needs a VLM (vlm/...)"
            )
        if mode == "zero_shot" and not mc.prompt_set:
            raise UserError(
                f"models[{i}].prompt_set: zero-shot needs a prompt file, e.g. "
                "histology_binary or density"
            )
        if mode == "zero_shot" and info.family == "vlm":
            _check_questions(mc, f"models[{i}]")
    if mc.init_head_from_text and info.family == "vlm":
        raise UserError(
            f"models[{i}].init_head_from_text: '{mc.name}' is a generative VLM without a "
            "text-embedding head; remove init_head_from_text"
        )
    if any(mc.shots) and info.family != "vlm":
        raise UserError(
            f"models[{i}].shots: in-context examples need a generative VLM (vlm/...); "
            f"'{mc.name}' is a {info.family} model, remove shots"
        )


def _check_questions(mc, where: str) -> None:
    """A VLM's zero-shot question set loads (and has the asked-for magnification variant)."""
    from breastbench.models.questions import load_questions

    try:
        qs = load_questions(mc.prompt_set)
    except UserError as err:
        raise UserError(f"{where}.prompt_set: {err}") from None
    if mc.magnification_prompts and not qs.magnification_question:
        raise UserError(
            f"{where}.magnification_prompts: question file {qs.source} has no "
            "`magnification_question`; set magnification_prompts: false or add one"
        )


def prepare_manifests(
    cfg: ExperimentConfig, out_dir: Path, console: Console | None = None
) -> dict[str, pd.DataFrame]:
    """Build or re-read every dataset's manifest with folds; audit the folds."""
    from breastbench.data import (
        assign_folds,
        audit_folds,
        load_manifest,
        read_manifest,
        write_manifest,
    )
    from breastbench.data.sources import SOURCES, source_options
    from breastbench.experiment.loso import UNION
    from breastbench.experiment.union import members_first, union_manifest

    manifests: dict[str, pd.DataFrame] = {}
    for i, ds in members_first(cfg.datasets):
        if ds.source == UNION:  # pooled from its members' manifests, built before it
            manifests[ds.name] = union_manifest(cfg.datasets, i, manifests)
            continue
        if not Path(ds.root).exists():
            from breastbench.experiment.config import UNSET_ROOT_VARS

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
        path = RunFolder(out_dir).manifest_path(ds.name)
        if not ds.cross_validate:
            manifests[ds.name] = df  # external test set only: no folds
            continue
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
            df = saved
        elif "fixed_split" in df.attrs:  # a published split: its folds are data, never redrawn
            write_manifest(df, path)
        else:
            # patient: the source's own grouping (e.g. BreakHis numeric id, or group_by=slide)
            try:
                df = assign_folds(df, k=cfg.cv.k, seed=cfg.cv.seed, group_col=group)
            except UserError as err:
                raise UserError(for_run(str(err), i)) from None
            write_manifest(df, path)
        for mag in ds.magnifications or [None]:
            sub = df if mag is None else df[df["magnification"] == mag]
            if mag is not None and sub.empty:
                raise UserError(f"datasets[{i}].magnifications: no {mag}X images in {ds.root}")
            sub = sub.copy()
            sub.attrs = dict(df.attrs)
            audit = audit_folds(sub)
            _check_audit(audit, ds.name, mag)
        manifests[ds.name] = df
    return manifests


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


def run_experiment(
    cfg: ExperimentConfig,
    *,
    out: str | None = None,
    only: list[str] | None = None,
    device: str | None = None,
    resume: bool = True,
    use_cache: bool = True,
    console: Console | None = None,
    report: bool | None = None,
    explain_maps: bool = True,
    retrain_changed: bool = False,
    executor: str = "local",
    address: str | None = None,
    skip_preflight: bool = False,
    resume_command: str | None = None,
    epoch_lines: bool = True,
) -> Path:
    """Validate, run every pending unit of the grid, analyse it; return the folder.

    ``epoch_lines=False`` keeps epochs off the console (bar and ``run.log`` only; the demo's
    hundreds of tiny runs). With ``report`` the HTML report is written too (``breastbench
    run`` does so unless ``--no-report``, and then says how to build it later); ``None`` leaves
    it to the caller.
    """
    console = console or Console(stderr=True)
    out_dir = Path(os.path.expanduser(out or cfg.output_dir)).resolve()  # --out ~/x
    dev = resolve_device(device)
    from breastbench.experiment.preflight import preflight

    runs = selected_runs(cfg, only)
    # every model, weights and data problem at once, before anything is written
    preflight(cfg, skip=skip_preflight, models={r.model_index for r in runs})
    folder = RunFolder(out_dir)
    created = not out_dir.exists()
    try:  # plan-time checks: a mistake found here leaves no new output folder behind
        folder.init()
        if cfg.cache_dir and Path(cfg.cache_dir).exists() and not Path(cfg.cache_dir).is_dir():
            raise UserError(f"cache_dir: {cfg.cache_dir} is a file; give a folder path")
        manifests = prepare_manifests(cfg, out_dir, console)
        check_external(cfg, manifests)
        done = [r for r in runs if folder.is_complete(r.key)]
        stale = _stale_runs(cfg, folder, done)
        if stale and not retrain_changed:
            spec, (field, old, new) = stale[0]
            raise UserError(
                f"{folder.path(spec.key)}: trained with {field}={old!r}, the config now says "
                f"{new!r} ({len(stale)} such runs); run into a new --out folder, or pass "
                "--retrain-changed to retrain them"
            )
        _write_config(cfg, folder)
    except (UserError, OSError):
        if created:  # only this call wrote there: leave no half-made folder behind
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    ctx = RunContext(
        cfg, out_dir, dev, manifests, Path(cfg.cache_dir or folder.cache_dir), use_cache=use_cache
    )
    folder.sweep_temporaries()
    for spec, _ in stale:
        folder.remove(spec.key)
    done = [r for r in done if r not in {s for s, _ in stale}]
    todo = [r for r in runs if r not in done]
    if not resume:
        for r in todo:  # --no-resume: drop partial epoch checkpoints, start those runs clean
            folder.partial_path(r.key).unlink(missing_ok=True)
    console.print(
        f"[bold]{cfg.name}[/]: {len(runs)} runs, {len(done)} already complete, "
        f"{len(todo)} to run on {dev}; output {out_dir}"
    )
    t0 = time.perf_counter()
    from breastbench.experiment.monitor import Monitor

    failed: dict[str, str] = {}
    monitor = Monitor(out_dir, console, len(todo), epoch_lines=epoch_lines)
    if cfg.tracking:
        from breastbench.experiment.tracking import Trackers

        monitor.trackers = Trackers(cfg.tracking, out_dir, cfg.name, monitor.say)
    monitor.log.write(
        f"{cfg.name}: {len(runs)} runs, {len(done)} already complete, {len(todo)} to run on "
        f"{dev} ({executor})"
    )
    if executor == "ray":
        from breastbench.experiment.ray_executor import run_on_ray

        result = run_on_ray(cfg, todo, out_dir, dev, manifests, use_cache, address, console)
        failed = result["failed"]
        built = result["caches_built"]
        console.print(
            f"ray: {result['cache_tasks']} cache tasks built {len(built)} cache files "
            f"({len(set(built))} distinct); runs built {len(result['caches_built_by_runs'])}"
        )
        for run_id, why in sorted(failed.items()):
            monitor.log.write(f"failed {run_id}: {why}")
        if monitor.trackers is not None:  # trained in Ray tasks: fed from their files
            from breastbench.experiment.execute import recorded_settings

            for spec in todo:
                if spec.run_id not in failed and folder.is_complete(spec.key):
                    mc = cfg.models[spec.model_index]
                    params = {"key": spec.key.to_dict(), **recorded_settings(cfg, mc, spec.mode)}
                    monitor.trackers.replay(folder, spec.key, params)
    else:
        ctx.monitor = monitor
        with monitor:
            for spec in todo:
                try:
                    execute(spec, ctx)
                except KeyboardInterrupt:
                    monitor.interrupted(out_dir, resume_command)
                    raise
                except Exception as err:
                    monitor.run_failed(spec.run_id, str(err).splitlines()[0] if str(err) else "")
                    raise
    monitor.log.write(f"grid finished: {len(todo) - len(failed)} of {len(todo)} runs")
    monitor.log.close()
    folder.sweep_temporaries()
    from breastbench.report.collect import collect_runs
    from breastbench.report.terminal import results_view, write_table
    from breastbench.results.analysis import write_summary

    result = write_summary(out_dir, cfg.compare, only=only)
    if monitor.trackers is not None:
        monitor.trackers.summary(folder.summary_dir)
        monitor.trackers.close()
    collection = collect_runs(out_dir, (result["runs"], result["problems"]))
    console.print(results_view(console, out_dir, collection))
    table_file = write_table(out_dir, collection, RunFolder(out_dir).summary_path("table", ".txt"))
    console.print(f"whole table: {table_file}", soft_wrap=True, highlight=False)
    if only:
        from breastbench.results.scope import not_selected_line

        console.print(not_selected_line(only, result["not_selected"], len(result["runs"])))
    console.print(f"{len(todo)} runs in {time.perf_counter() - t0:.1f}s; results in {out_dir}")
    if failed:
        from rich.markup import escape

        from breastbench.report.names import humanize

        for run_id, why in sorted(failed.items()):
            console.print(f"[red]failed[/]: {escape(humanize(run_id))}: {escape(str(why))}")
        raise UserError(
            f"{len(failed)} of {len(todo)} runs failed (listed above; the others are complete); "
            "fix the cause and rerun the same command: completed runs are skipped"
        )
    if report:
        from breastbench.report.html import build_report

        path = build_report(
            out_dir, explain_maps=explain_maps, analyse=False, collection=collection
        )
        console.print(f"Report: {path}")
    else:
        console.print(
            f"No report written (--no-report); build it with: breastbench report {out_dir}"
        )
    return out_dir


def selected_runs(cfg: ExperimentConfig, only: list[str] | None) -> list:
    """The grid's runs that ``--only`` picks (all without it); none picked is an error."""
    runs = select(expand(cfg), only)
    if not runs:
        raise UserError(
            f"--only {' '.join(only)}: matches no run (case-insensitive glob or substring); "
            f"run ids look like {expand(cfg)[0].run_id}"
        )
    return runs


def check_external(cfg: ExperimentConfig, manifests: dict[str, pd.DataFrame]) -> None:
    """Every external test set's labels map onto its training classes (before any training)."""
    from breastbench.experiment.execute import external_targets

    for i, ext in enumerate(cfg.external):
        classes = list(manifests[ext.train].attrs["classes"])
        try:
            external_targets(manifests[ext.test], classes, ext.label_map, ext.test)
        except UserError as err:
            raise UserError(f"external[{i}].label_map: {err}") from None


def _stale_runs(cfg: ExperimentConfig, folder: RunFolder, done: list) -> list:
    """Completed runs whose recorded settings differ from the config: (spec, difference)."""
    from breastbench import jsonio
    from breastbench.experiment.execute import changed_setting, recorded_settings

    out = []
    for spec in done:
        try:
            info = jsonio.read_json(folder.info_path(spec.key))
        except (OSError, ValueError):
            continue  # unreadable: the report names it; rerunning it is the user's call
        recorded = info.get("config") or {}
        diff = changed_setting(
            recorded, recorded_settings(cfg, cfg.models[spec.model_index], spec.mode)
        )
        if diff is None and info.get("seed") not in (None, spec.seed):
            diff = ("seed", info.get("seed"), spec.seed)
        if diff is not None:
            out.append((spec, diff))
    return out


def _write_config(cfg: ExperimentConfig, folder: RunFolder) -> None:
    from breastbench import jsonio

    sets = getattr(cfg, "overrides", [])
    head = "".join(f"# --set {s}\n" for s in sets)
    head = f"# resolved with overrides:\n{head}" if sets else ""
    text = head + yaml.safe_dump(to_dict(cfg), sort_keys=False)
    jsonio.atomic_write_text(folder.config_path, text)
    folder.write_grid([r.key for r in expand(cfg)])
