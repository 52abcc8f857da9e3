"""Live progress with and without a terminal, run.log, and Ctrl-C that says how to resume."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import time

import pytest

from breastbench.cli import main

MODELS = [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def log_lines(out) -> list[str]:
    """run.log's lines; every one starts with a UTC timestamp."""
    lines = (out / "run.log").read_text().splitlines()
    assert lines and all(re.match(STAMP + " ", line) for line in lines)
    return lines


@pytest.mark.slow  # a trained run in a subprocess
def test_plain_epoch_lines_without_a_terminal(write_config, tmp_path, capsys):
    cfg = write_config(MODELS, k=2, epochs=2)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "\x1b[" not in err  # nothing that redraws in a log
    for fold in (0, 1):  # the console names runs in words; run.log keeps the ids
        name = f"breakhis 200×, augmentation off: cnn fine-tune, fold {fold}"
        assert f"start {name}" in err and f"finished {name}" in err
        assert "breakhis__200x" not in err
    assert len(re.findall(r"^  epoch 1/2 train_loss=\S+ test_loss=\S+ .*ETA", err, re.M)) == 2
    assert len(re.findall(r"^  epoch 2/2 ", err, re.M)) == 2
    log = "\n".join(log_lines(out))
    assert log.count(" start breakhis") == 2 and log.count(" finished breakhis") == 2
    assert len(re.findall(r"epoch \d/2 .* breakhis__200x__cnn__finetune", log)) == 4
    assert "grid finished: 2 of 2 runs" in log


def read_until(fd, proc, pattern: str, deadline: float) -> str:
    """Read a pty until ``pattern`` appears in what was read, or the process ends."""
    buf = b""
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if re.search(pattern, buf.decode(errors="replace")):
                break
        elif proc.poll() is not None:
            break
    return buf.decode(errors="replace")


@pytest.mark.slow
def test_terminal_progress_ctrl_c_and_the_printed_resume_command(
    write_config, tmp_path, capsys, monkeypatch
):
    cfg = write_config(MODELS, k=2, epochs=4, checkpoint_seconds=0)
    out = tmp_path / "out"
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="200")
    cmd = [sys.executable, "-m", "breastbench.cli", "run", str(cfg), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    try:
        # the first epoch's line, drawn above the live bars, then its resume checkpoint
        text = read_until(master, proc, r"epoch 2/4", time.time() + 240)
        assert proc.poll() is None, text[-2000:]
        assert "epoch 1/4 train_loss=" in text and "\x1b[" in text  # rich redraws here
        assert re.search(r"epoch \d/4 step \d+/\d+ loss", text), text[-2000:]
        proc.send_signal(signal.SIGINT)
        text += read_until(master, proc, r"resume with: [^\r\n]+\r?\n", time.time() + 60)
        proc.wait(timeout=60)
    finally:
        proc.kill()
        os.close(master)
    assert proc.returncode == 130
    clean = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "interrupted: 0 runs completed in this session are saved" in clean
    assert re.search(r"checkpoint after epoch [12] of 4 is saved in \S+\.partial", clean)
    command = re.search(r"resume with: (breastbench run [^\r\n]+)", clean).group(1)

    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)[1:]) == 0  # the printed command, as printed
    err = capsys.readouterr().err
    run_id = "breakhis__200x__cnn__finetune__aug-off__fold0"
    name = "breakhis 200×, augmentation off: cnn fine-tune, fold 0"
    resumed_at = int(re.search(rf"resuming {name} at epoch (\d) of 4", err).group(1))
    info = json.loads((out / "runs" / run_id / "run.json").read_text())
    assert [(r["epoch"], r["of"]) for r in info["resumes"]] == [(resumed_at, 4)]
    other = json.loads((out / "runs" / run_id.replace("fold0", "fold1") / "run.json").read_text())
    assert other["resumes"] == []
    log = "\n".join(log_lines(out))
    assert f"start {run_id}" in log and f"resuming {run_id} at epoch {resumed_at} of 4" in log
    assert "interrupted" in log and "resume with: breastbench run" in log
    assert log.count(f"finished {run_id}") == 1 and "epoch 4/4" in log
