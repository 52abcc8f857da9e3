"""Run the pending runs of a grid as Ray tasks, on one machine or a cluster.

Each run is one task whose resources come from the config (``resources:``, per model entry
or experiment-wide); each cache (decoded images, frozen features, vision tokens) is built once
by its own task, and the runs that read it take that task's result as an argument, so Ray
starts them only after it finished: no file lock is needed across nodes (flock is unreliable
on NFS and Lustre). Outputs go to the shared output folder through
:class:`~breastbench.results.RunFolder`, atomically; a task re-checks completeness first, so a
retried task is harmless. A failing run is reported and the grid goes on; a lost worker is
retried by Ray; Ctrl-C cancels what is outstanding and sweeps the stopped tasks' temporaries.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from breastbench import jsonio
from breastbench.errors import MissingExtraError, UserError
from breastbench.experiment.cachegroup import cache_group, image_group
from breastbench.experiment.config import ExperimentConfig
from breastbench.experiment.grid import RunSpec
from breastbench.results import RunFolder

# Fault injection for the retry test only: "<marker file>" makes the first task that finds no
# marker create it and exit the worker process abruptly (what a lost node looks like).
FAULT_ENV = "BREASTBENCH_TEST_KILL_WORKER_ONCE"


def _ray():
    try:
        import ray
    except ImportError:
        raise MissingExtraError(
            "--executor ray needs Ray: pip install 'breastbench[ray]'"
        ) from None
    return ray


def resources_of(cfg: ExperimentConfig, spec: RunSpec, gpus_available: bool) -> dict:
    """Ray resources of one run: the model entry's ``resources`` over the experiment's."""
    res = dict(cfg.resources.as_dict())
    res.update((spec.entry.resources or {}))
    gpus = res.get("gpus")
    if gpus is None:
        gpus = 1.0 if gpus_available else 0.0  # one run per GPU by default
    out = {"num_cpus": float(res.get("cpus", 1.0)), "num_gpus": float(gpus)}
    if res.get("memory_gb"):
        out["memory"] = int(float(res["memory_gb"]) * 2**30)
    return out


def task_groups(spec: RunSpec, use_cache: bool) -> tuple:
    """(image-cache group, feature / vision-token cache group or None) of one run's tasks.

    Both keys come from :mod:`breastbench.experiment.cachegroup`, as the local executor's
    input choice and ``plan``'s cache count do.
    """
    group = cache_group(spec)
    return image_group(spec), (group if use_cache and group[0] != "images" else None)


def _context(cfg_dict: dict, out_dir: str, device: str, manifests, use_cache: bool):
    import torch

    from breastbench.experiment.config import ExperimentConfig, load_mode_plugins
    from breastbench.experiment.context import RunContext
    from breastbench.experiment.schema import from_dict

    load_mode_plugins(cfg_dict)  # a worker registers the config's own modes first
    cfg = from_dict(ExperimentConfig, cfg_dict, "")
    return RunContext(
        cfg,
        Path(out_dir),
        torch.device(device),
        manifests,
        Path(cfg.cache_dir or RunFolder(out_dir).cache_dir),
        use_cache=use_cache,
    )


def _built_since(mark: int) -> list[str]:
    """Cache files this worker process wrote since ``mark`` (see images.BUILT_CACHES)."""
    from breastbench.experiment.images import BUILT_CACHES

    return list(BUILT_CACHES[mark:])


def _mark() -> int:
    from breastbench.experiment.images import BUILT_CACHES

    return len(BUILT_CACHES)


def _build_caches(
    spec_dict, cfg_dict, out_dir, device, manifests, use_cache, threads, images_only, *_deps
):
    """Task: build the caches one group of runs reads; return the cache files it created."""
    import torch

    from breastbench.experiment.build import build_model, make_source, preprocessing
    from breastbench.experiment.runsplit import split

    torch.set_num_threads(threads)
    ctx = _context(cfg_dict, out_dir, device, manifests, use_cache)
    spec = RunSpec.from_dict(spec_dict, ctx.cfg)  # the entry of this worker's config
    before = _mark()
    df, _, _, _ = split(spec, ctx)
    classes = list(ctx.manifests[spec.key.dataset].attrs["classes"])
    model = build_model(spec, classes, ctx.device)
    prep = preprocessing(ctx, spec, model)
    if images_only:
        ctx.store(df["path"].tolist(), prep).array()
    else:  # frozen features / vision tokens (their images come from the image task's cache)
        make_source(ctx, spec, model, df, df["target"].to_numpy(), prep)
    return _built_since(before)


def _run_one(spec_dict, cfg_dict, out_dir, device, manifests, use_cache, threads, *_deps):
    """Task: one run (skipped when already complete); returns (run_id, cache files created)."""
    import torch

    from breastbench.experiment.execute import execute

    torch.set_num_threads(threads)
    ctx = _context(cfg_dict, out_dir, device, manifests, use_cache)
    spec = RunSpec.from_dict(spec_dict, ctx.cfg)  # the entry of this worker's config
    marker = os.environ.get(FAULT_ENV)
    if marker and not Path(marker).exists():
        jsonio.atomic_write_text(marker, spec.run_id)
        os._exit(1)  # a worker lost mid-task: Ray must retry it
    before = _mark()
    execute(spec, ctx)
    return spec.run_id, _built_since(before)


def run_on_ray(
    cfg: ExperimentConfig,
    todo: list[RunSpec],
    out_dir: Path,
    device,
    manifests,
    use_cache: bool,
    address: str | None,
    console,
) -> dict:
    """Run ``todo`` on Ray; return {"failed": {run_id: error}, "cache_builds": n, ...}."""
    ray = _ray()
    import torch

    from breastbench.experiment.schema import to_dict

    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            ray.init(**kwargs)
        except ConnectionError as err:
            raise UserError(
                f"--address {address}: no Ray cluster answers there ({err}); start one with "
                "`ray start --head` or drop --address to start Ray locally"
            ) from None
        started = True
    try:
        return _submit(
            ray,
            cfg,
            todo,
            out_dir,
            device,
            manifests,
            use_cache,
            address,
            console,
            torch.get_num_threads(),
            to_dict(cfg),
        )
    finally:
        if started:
            ray.shutdown()


def _submit(
    ray, cfg, todo, out_dir, device, manifests, use_cache, address, console, threads, cfg_dict
) -> dict:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    total = ray.cluster_resources()
    gpus_available = total.get("GPU", 0) > 0
    dev = "cuda" if (device.type == "cuda" or (address and gpus_available)) else "cpu"
    if device.type == "cpu":
        dev = "cpu"
    requests = {s.run_id: resources_of(cfg, s, gpus_available and dev == "cuda") for s in todo}
    for run_id, req in requests.items():
        for name, key in (("num_cpus", "CPU"), ("num_gpus", "GPU"), ("memory", "memory")):
            if req.get(name, 0) > total.get(key, 0):
                raise UserError(
                    f"resources: run {run_id} asks for {name}={req[name]:g} but the Ray cluster "
                    f"has {total.get(key, 0):g} {key} in all; lower resources in the config or "
                    "add nodes"
                )
    man_ref = ray.put(manifests)
    task_threads = threads if not address else None
    build = ray.remote(max_retries=3)(_build_caches)
    run = ray.remote(max_retries=3)(_run_one)
    groups: dict[tuple, object] = {}
    refs = {}
    for spec in todo:
        req = requests[spec.run_id]
        n_threads = task_threads or max(1, int(req["num_cpus"]))
        args = (spec.to_dict(), cfg_dict, str(out_dir), dev, man_ref, use_cache, n_threads)
        ikey, fkey = task_groups(spec, use_cache)
        if ikey not in groups:
            groups[ikey] = build.options(**req).remote(*args, True)
        dep = groups[ikey]
        if fkey is not None:
            if fkey not in groups:
                groups[fkey] = build.options(**req).remote(*args, False, groups[ikey])
            dep = groups[fkey]
        deps = [dep]
        refs[
            run.options(**req).remote(
                spec.to_dict(), cfg_dict, str(out_dir), dev, man_ref, use_cache, n_threads, *deps
            )
        ] = spec
    failed: dict[str, str] = {}
    created_by_runs: list[str] = []
    pending = list(refs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            bar = progress.add_task("ray tasks", total=len(pending))
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    spec = refs[ref]
                    try:
                        _, created = ray.get(ref)
                        created_by_runs += created
                    except Exception as err:  # noqa: BLE001 - one failing run must not sink the grid
                        failed[spec.run_id] = f"{type(err).__name__}: {str(err).splitlines()[-1]}"
                    progress.advance(bar)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        for ref in groups.values():
            ray.cancel(ref, force=True)
        time.sleep(1.0)  # let the killed workers' processes go before sweeping
        RunFolder(out_dir).sweep_temporaries()
        raise
    built: list[str] = []
    for ref in groups.values():
        try:
            built += ray.get(ref)
        except Exception as err:  # noqa: BLE001 - reported through the runs that needed it
            failed.setdefault("cache build", f"{type(err).__name__}: {err}")
    return {
        "failed": failed,
        "cache_tasks": len(groups),
        "caches_built": built,
        "caches_built_by_runs": created_by_runs,
    }
