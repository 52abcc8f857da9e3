"""``micro_batch_size: auto``: back-off on out-of-memory, reuse, and equality with a fixed value.

There is no GPU here, so the out-of-memory error is injected: the probe's real training step
(forward, backward, AdamW on the run's own images) raises ``torch.cuda.OutOfMemoryError`` above
a chosen size, as a too-small GPU would.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from breastbench.cli import main
from breastbench.errors import UserError
from breastbench.experiment import microbatch

FAMILIES = [
    {"name": "cnn/test-resnet", "modes": ["finetune"]},
    {"name": "clip/test-biomedclip", "modes": ["finetune"]},
    {"name": "vlm/test-smolvlm", "modes": ["lora"]},
]


def _oom_above(limit: int, real=None):
    def step(n: int) -> None:
        if n > limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected, {n} > {limit})")
        if real is not None:
            real(n)

    return step


def test_back_off_halves_until_it_fits():
    tried = []

    def step(n):
        tried.append(n)
        _oom_above(5)(n)

    assert microbatch.largest_fitting(step, 64) == (4, [64, 32, 16, 8])
    assert tried == [64, 32, 16, 8, 4]
    # cuDNN's plain RuntimeError counts as out-of-memory too; other errors are not swallowed
    assert microbatch.is_oom(RuntimeError("CUDA error: out of memory"))
    with pytest.raises(ValueError):
        microbatch.largest_fitting(lambda n: (_ for _ in ()).throw(ValueError("bug")), 8)
    with pytest.raises(UserError, match="even one image per step"):
        microbatch.largest_fitting(_oom_above(0), 4, "models[0].")


def test_probe_leaves_model_and_generators_untouched(monkeypatch):
    from breastbench.experiment.train import TensorSource
    from breastbench.models import create

    torch.manual_seed(0)
    model = create("cnn/test-resnet", 2, None).set_mode("finetune")
    x, y = torch.randn(12, 3, 64, 64), np.arange(12) % 2
    source = TensorSource(x, y, torch.device("cpu"), lambda m, b: m(b))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    real = microbatch.training_step
    monkeypatch.setattr(microbatch, "training_step", lambda *a: _oom_above(4, real(*a)))
    torch.manual_seed(1)
    expected_draw = torch.rand(3)
    torch.manual_seed(1)
    chosen, failed = microbatch.probe(model, source, np.arange(12), 16, torch.device("cpu"), "off")
    assert (chosen, failed) == (4, [16, 8])
    assert torch.equal(torch.rand(3), expected_draw)  # RNG restored
    for k, v in model.state_dict().items():  # weights and BatchNorm statistics restored
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.slow  # 2 to 4 trained runs per family
@pytest.mark.parametrize("model", FAMILIES, ids=lambda m: m["name"].split("/")[0])
def test_auto_equals_the_fixed_micro_batch_it_chose(
    model, write_config, load_runs, tmp_path, monkeypatch
):
    runs = {}
    # forced probe, out of memory above 4 -> auto chooses 4 -> equal to a fixed 4; and (one
    # family is enough: the same code path) on the CPU auto is the batch size -> equal to 16
    variants = [("probe", "auto", True), ("m4", 4, False)]
    if model["name"].startswith("vlm"):
        variants += [("auto", "auto", False), ("m16", 16, False)]
    real = microbatch.training_step
    for label, micro, probe in variants:
        with monkeypatch.context() as mp:
            if probe:
                mp.setattr(microbatch, "needs_probe", lambda device: True)
                mp.setattr(microbatch, "training_step", lambda *a: _oom_above(4, real(*a)))
            cfg = write_config([{**model, "micro_batch_size": micro}], name=label, k=2, epochs=2)
            out = tmp_path / label
            assert main(["run", "--no-report", str(cfg), "--out", str(out)]) == 0
        runs[label] = load_runs(out)
    assert len(runs["probe"]) == 2
    records = {k: [r["run"]["micro_batch"] for r in v.values()] for k, v in runs.items()}
    if "auto" in records:
        assert [(r["chosen"], r["how"]) for r in records["auto"]] == [(16, "cpu")] * 2
    # the first fold probes (16 and 8 ran out of memory), the second reuses its answer
    assert [(r["chosen"], r["how"], r["failed"]) for r in records["probe"]] == [
        (4, "probe", [16, 8]),
        (4, "cached probe", []),
    ]
    assert "device=cpu" in records["probe"][0]["key"]
    assert [r["chosen"] for r in records["m4"]] == [4, 4]
    for auto, fixed in (("auto", "m16"), ("probe", "m4")):
        if auto not in runs:
            continue
        for a, b in zip(runs[auto].values(), runs[fixed].values(), strict=True):
            cols = [c for c in a["predictions"].columns if c.startswith("prob_")]
            np.testing.assert_allclose(
                a["predictions"][cols].to_numpy(),
                b["predictions"][cols].to_numpy(),
                rtol=0,
                atol=1e-6,
            )
            assert a["metrics"]["auc"] == pytest.approx(b["metrics"]["auc"], abs=1e-6)


def test_auto_is_accepted_and_other_words_are_not(write_config, tmp_path, capsys):
    cfg = write_config([{"name": "cnn/test-resnet", "micro_batch_size": "max"}])
    assert main(["run", "--no-report", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "models[0].micro_batch_size" in err and "'auto'" in err
