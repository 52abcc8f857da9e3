"""Every benchmark script runs in its smoke mode and reports what ``bench/README.md`` reads.

``bench/run_all.py --smoke`` runs each script (the GPU ones with tiny models on the CPU) in its
own process, as ``make bench`` does, with tiny sizes. Each test then checks one script: it
exited 0, printed its JSON with the fields the README's tables come from, and its own
correctness figures hold (cached and naive paths give the same numbers). A changed signature in
the code a benchmark calls therefore fails here, not in the next benchmark run.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
# one ~50 s run of every script (2 at a time), shared by the tests; in the "ray" group of
# pytest-xdist (`make test`) so that it never starts its Ray beside the Ray executor tests'
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="session")
def smoke() -> dict:
    """The JSON of ``run_all.py --smoke``: script name -> its JSON (or its error).

    Session-scoped, and the module is in the xdist group "ray": under `make test` every test
    here runs in one worker, so the smoke runs once (pytest also keeps a failure of the fixture
    and reports it to each test without running the smoke again).
    """
    env = {**os.environ, "BENCH_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--smoke", "--jobs", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=570,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"run_all.py --smoke printed no JSON:\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1])


def result(smoke: dict, name: str) -> dict:
    """One script's JSON; fails with its stderr if the script failed."""
    r = smoke[name]
    assert "error" not in r, f"{name} failed: {r['error']}\n{r.get('stderr_tail', '')}"
    assert r.get("smoke") is True, f"{name}: not in smoke mode"
    return r


def positive(*values) -> bool:
    """Every value is a finite number > 0."""
    return all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values)


def test_run_all_lists_every_script(smoke):
    spec = importlib.util.spec_from_file_location("run_all", BENCH / "run_all.py")
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    assert set(run_all.SCRIPTS + run_all.GPU_SCRIPTS) <= set(smoke)
    on_disk = {p.stem for p in BENCH.glob("*.py")} - {"common", "run_all"}
    listed = run_all.SCRIPTS + run_all.GPU_SCRIPTS + run_all.ON_DEMAND + ["gpu_throughput"]
    assert on_disk <= set(listed)
    for name in run_all.ON_DEMAND:  # left out of `make bench`, so smoke-tested on its own
        assert list(Path(__file__).parent.rglob(f"test_{name}*.py")), name


def test_linear_probe(smoke):
    r = result(smoke, "linear_probe")
    for family in ("cnn", "clip"):
        f = r[family]
        assert positive(f["naive_s"], f["cached_s"], f["speedup"]), f
        assert len(f["naive_fold_s"]) == len(f["cached_fold_s"]) == 5
        # the feature cache gives the naive path's numbers exactly
        assert f["max_prob_diff"] == 0 and f["max_metric_diff"] == 0, f


def test_data_pipeline(smoke):
    r = result(smoke, "data_pipeline")
    assert positive(
        r["model_only_img_s"],
        r["first_epoch_img_s"],
        r["later_epochs_img_s"],
        r["predict_cli_img_s"],
        r["later_over_model_only"],
        *r["transform_cpu"].values(),
    )
    assert r["first_epoch_decoded_now"] is True
    assert r["max_logit_diff_cache_vs_preloaded"] == 0


def test_vlm_lora(smoke):
    m = result(smoke, "vlm_lora")["models"]["vlm/test-smolvlm"]
    assert positive(m["epoch_s_images"], m["epoch_s_cached"], m["epoch_speedup"])
    assert m["max_prob_diff"] == 0  # training from cached vision tokens = from images
    assert 0 < m["gflop_per_image"]["vision_share_of_image_path"] < 1


def test_mfu(smoke):
    r = result(smoke, "mfu")
    assert positive(r["train_img_s"], r["train_gflop_per_img"], r["matmul_gflop_s"], r["mfu"])
    assert r["achieved_gflop_s"] == pytest.approx(r["train_img_s"] * r["train_gflop_per_img"])


def test_memory(smoke):
    rows = result(smoke, "memory")["configs"]
    assert {(r["model"], r["mode"]) for r in rows} >= {("cnn/test-resnet", "finetune")}
    for row in rows:
        assert "error" not in row, row
        assert row["peak_rss_gib"] >= row["rss_after_imports_gib"] > 0


def test_image_cache(smoke):
    r = result(smoke, "image_cache")
    assert positive(r["single_core_img_s"], r["cache_img_s"], r["target_img_s"])
    assert r["peak_rss_gib"] < r["rss_target_gib"]
    assert r["max_pixel_diff_cache_vs_decode"] == 0


def test_ray_overhead(smoke):
    r = result(smoke, "ray_overhead")
    assert positive(r["local_s"], r["ray_1_worker_s"], r["ray_1_over_local"]) and r["runs"] >= 2
    assert r["ray_1_max_prob_diff"] == 0  # Ray gives the local executor's numbers


def test_generative_zero_shot(smoke):
    models = result(smoke, "generative_zero_shot")["models"]
    for m in models.values():
        for shots in ("0_shot", "2_shot"):
            s = m[shots]
            assert positive(s["prompt_tokens"], s["cached_s_per_image"], s["full_s_per_image"])
            assert s["max_abs_logprob_diff"] <= 1e-5, s  # prefix cache = full passes
        assert m["2_shot"]["shared_prefix_tokens"] > m["0_shot"]["shared_prefix_tokens"]


def test_gpu_lora_profile_on_cpu(smoke):
    r = result(smoke, "gpu_lora_profile")
    assert positive(r["lora_dropout_0.05_img_s"], r["lora_dropout_0.0_img_s"], r["profiled_ops"])


def test_gpu_check_on_cpu_writes_the_table_the_plan_reads(smoke, tmp_path):
    from breastbench.experiment.config import load_config
    from breastbench.experiment.plan import make_plan

    r = result(smoke, "gpu_check")
    assert r["errors"] == {}
    cnn = r["cnn"]["cnn/test-resnet"]
    assert positive(cnn["finetune_train_img_s"], cnn["eval_img_s"], cnn["mfu"])
    vlm = r["vlm"]["vlm/test-smolvlm"]
    keys = ("vision_fwd_img_s", "full_fwd_img_s", "decoder_fwd_img_s")
    assert positive(*(vlm[k] for k in keys), vlm["lora_train_cached_img_s"])
    # on the CPU the probe keeps the whole batch (nothing runs out of memory)
    assert vlm["auto"]["cached"]["micro_batch"] == vlm["batch"]
    assert vlm["auto"]["cached"]["failed"] == []
    table = r["throughput_table"]
    models = table["cpu"]["models"]
    assert set(models["vlm/test-smolvlm"]) >= {"eval", "vision", "lora_cached", "auto"}
    path = tmp_path / "throughput-cpu.json"
    path.write_text(json.dumps(table))
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
    plan = make_plan(cfg, str(tmp_path / "out"), "cpu", path)
    assert "bench/gpu_throughput.py --auto" in plan["throughput_source"]
    assert plan["micro_batch_auto"]["saves_device_hours"] >= 0
