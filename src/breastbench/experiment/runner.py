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

import yaml
from rich.console import Console

from breastbench.errors import UserError
from breastbench.experiment.config import ExperimentConfig
from breastbench.experiment.context import RunContext
from breastbench.experiment.execute import execute
from breastbench.experiment.grid import expand, select
from breastbench.experiment.manifests import check_external, prepare_manifests
from breastbench.experiment.provenance import resolve_device
from breastbench.experiment.schema import to_dict
from breastbench.results import RunFolder
from breastbench.results.subgroup_spec import check_subgroups


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
    preflight(cfg, skip=skip_preflight, models={r.key.model for r in runs})
    folder = RunFolder(out_dir)
    manifests, done, stale = _plan_checks(cfg, runs, out_dir, console, retrain_changed)
    ctx = RunContext(
        cfg, out_dir, dev, manifests, Path(cfg.cache_dir or folder.cache_dir), use_cache=use_cache
    )
    done, todo = _pending(folder, runs, done, stale, resume)
    console.print(
        f"[bold]{cfg.name}[/]: {len(runs)} runs, {len(done)} already complete, "
        f"{len(todo)} to run on {dev}; output {out_dir}"
    )
    t0 = time.perf_counter()
    from breastbench.experiment.monitor import Monitor

    monitor = Monitor(out_dir, console, len(todo), epoch_lines=epoch_lines)
    if cfg.tracking:
        from breastbench.experiment.tracking import Trackers

        monitor.trackers = Trackers(cfg.tracking, out_dir, cfg.name, monitor.say)
    monitor.log.write(
        f"{cfg.name}: {len(runs)} runs, {len(done)} already complete, {len(todo)} to run on "
        f"{dev} ({executor})"
    )
    if executor == "ray":
        failed = _run_on_ray(ctx, todo, monitor, address, console)
    else:
        failed = {}
        _run_local(ctx, todo, monitor, resume_command)
    monitor.log.write(f"grid finished: {len(todo) - len(failed)} of {len(todo)} runs")
    monitor.log.close()
    folder.sweep_temporaries()
    collection = _summarise(out_dir, cfg, only, monitor, console)
    console.print(f"{len(todo)} runs in {time.perf_counter() - t0:.1f}s; results in {out_dir}")
    if failed:
        _raise_failed(failed, len(todo), console)
    _report(out_dir, collection, report, explain_maps, console)
    return out_dir


def _pending(folder: RunFolder, runs: list, done: list, stale: list, resume: bool):
    """(complete runs, runs to do): stale runs removed; ``resume=False`` drops resume states."""
    folder.sweep_temporaries()
    for spec, _ in stale:
        folder.remove(spec.key)
    done = [r for r in done if r not in {s for s, _ in stale}]
    todo = [r for r in runs if r not in done]
    if not resume:
        for r in todo:  # --no-resume: drop partial epoch checkpoints, start those runs clean
            folder.partial_path(r.key).unlink(missing_ok=True)
    return done, todo


def _report(out_dir: Path, collection, report: bool | None, explain_maps: bool, console) -> None:
    """The HTML report, or the line that says how to build it later."""
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


def _plan_checks(cfg: ExperimentConfig, runs: list, out_dir: Path, console, retrain_changed):
    """Manifests, complete runs and stale runs, checked before training; writes the config.

    A mistake found here leaves no new output folder behind.
    """
    folder = RunFolder(out_dir)
    created = not out_dir.exists()
    try:
        folder.init()
        if cfg.cache_dir and Path(cfg.cache_dir).exists() and not Path(cfg.cache_dir).is_dir():
            raise UserError(f"cache_dir: {cfg.cache_dir} is a file; give a folder path")
        manifests = prepare_manifests(cfg, out_dir, console)
        check_external(cfg, manifests)
        check_subgroups(cfg.analysis, manifests)
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
    return manifests, done, stale


def _run_local(ctx: RunContext, todo: list, monitor, resume_command: str | None) -> None:
    """The pending runs one after another in this process; the first failure stops the grid."""
    ctx.monitor = monitor
    with monitor:
        for spec in todo:
            try:
                execute(spec, ctx)
            except KeyboardInterrupt:
                monitor.interrupted(ctx.out_dir, resume_command)
                raise
            except Exception as err:
                monitor.run_failed(spec.run_id, str(err).splitlines()[0] if str(err) else "")
                raise


def _run_on_ray(ctx: RunContext, todo: list, monitor, address, console) -> dict[str, str]:
    """The pending runs as Ray tasks; failures are collected (run id -> why), not raised."""
    from breastbench.experiment.ray_executor import run_on_ray

    cfg, folder = ctx.cfg, ctx.folder
    result = run_on_ray(
        cfg, todo, ctx.out_dir, ctx.device, ctx.manifests, ctx.use_cache, address, console
    )
    failed = result["failed"]
    built = result["caches_built"]
    console.print(
        f"ray: {result['cache_tasks']} cache tasks built {len(built)} cache files "
        f"({len(set(built))} distinct); runs built {len(result['caches_built_by_runs'])}"
    )
    for run_id, why in sorted(failed.items()):
        monitor.log.write(f"failed {run_id}: {why}")
    if monitor.trackers is not None:  # trained in Ray tasks: fed from their files
        from breastbench.experiment.settings import recorded_settings

        for spec in todo:
            if spec.run_id not in failed and folder.is_complete(spec.key):
                settings = recorded_settings(cfg, spec.entry, spec.key.mode)
                params = {"key": spec.key.to_dict(), **settings}
                monitor.trackers.replay(folder, spec.key, params)
    return failed


def _summarise(out_dir: Path, cfg: ExperimentConfig, only, monitor, console):
    """The analysis (``summary/``), the trackers' summary and the results table on screen."""
    from breastbench.report.collect import collect_runs
    from breastbench.report.terminal import results_view, write_table
    from breastbench.results.analysis import write_summary

    result = write_summary(out_dir, cfg.compare, only=only)
    if monitor.trackers is not None:
        monitor.trackers.summary(RunFolder(out_dir).summary_dir)
        monitor.trackers.close()
    collection = collect_runs(out_dir, (result["runs"], result["problems"]))
    console.print(results_view(console, out_dir, collection))
    table_file = write_table(out_dir, collection, RunFolder(out_dir).summary_path("table", ".txt"))
    console.print(f"whole table: {table_file}", soft_wrap=True, highlight=False)
    if only:
        from breastbench.results.scope import not_selected_line

        console.print(not_selected_line(only, result["not_selected"], len(result["runs"])))
    return collection


def _raise_failed(failed: dict[str, str], n_todo: int, console) -> None:
    """List the failed runs and stop with one line (the others are complete)."""
    from rich.markup import escape

    from breastbench.report.names import humanize

    for run_id, why in sorted(failed.items()):
        console.print(f"[red]failed[/]: {escape(humanize(run_id))}: {escape(str(why))}")
    raise UserError(
        f"{len(failed)} of {n_todo} runs failed (listed above; the others are complete); "
        "fix the cause and rerun the same command: completed runs are skipped"
    )


def selected_runs(cfg: ExperimentConfig, only: list[str] | None) -> list:
    """The grid's runs that ``--only`` picks (all without it); none picked is an error."""
    runs = select(expand(cfg), only)
    if not runs:
        raise UserError(
            f"--only {' '.join(only)}: matches no run (case-insensitive glob or substring); "
            f"run ids look like {expand(cfg)[0].run_id}"
        )
    return runs


def _stale_runs(cfg: ExperimentConfig, folder: RunFolder, done: list) -> list:
    """Completed runs whose recorded settings differ from the config: (spec, difference)."""
    from breastbench import jsonio
    from breastbench.experiment.settings import changed_setting, recorded_settings

    out = []
    for spec in done:
        try:
            info = jsonio.read_json(folder.info_path(spec.key))
        except (OSError, ValueError):
            continue  # unreadable: the report names it; rerunning it is the user's call
        recorded = info.get("config") or {}
        diff = changed_setting(recorded, recorded_settings(cfg, spec.entry, spec.key.mode))
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
