"""What a running grid says while it runs: live progress, plain log lines, ``OUT/run.log``.

On a terminal (rich), a bar for the grid and one for the current run (epoch, step, running
loss, time left) move with every optimiser step, and each finished epoch and run leaves a line
above them (the demo keeps only the run lines). Without a terminal (SLURM output,
``tee``, CI) the same events are plain lines (run start, epoch, finish), with nothing that
redraws. Either way every event also goes to ``OUT/run.log`` with a UTC timestamp, appended and
flushed line by line, so ``tail -f`` on a cluster shows where a run is.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from breastbench.report.names import humanize


def stamp() -> str:
    """UTC time to the second, ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


class RunLog:
    """``OUT/run.log``: one timestamped line per event, appended and flushed at once."""

    def __init__(self, out_dir: Path):
        from breastbench.results import RunFolder

        self.path = RunFolder(out_dir).log_path
        self._file = None

    def write(self, message: str) -> None:
        """Append one line (opened lazily, so nothing is written before the folder exists)."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self._file.write(f"{stamp()} {message}\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file (a later write reopens it)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class Monitor:
    """Receives run, epoch and step events from the runner and ``execute``; shows and logs them.

    Used as a context manager around the grid loop (it owns the live display on a terminal).
    """

    def __init__(self, out_dir: Path, console: Console, total_runs: int, epoch_lines: bool = True):
        self.log = RunLog(out_dir)
        self.epoch_lines = epoch_lines  # off: epochs only in the live bar and run.log (demo)
        self.console = console
        self.live = console.is_terminal
        self.total = total_runs
        self.index = 0
        self.current: str | None = None  # run id being trained
        self.epoch = (0, 0)  # (epochs done at its start, epochs) of the current run
        self.at_epoch = 0  # 0-based epoch being trained
        self.saved: dict[str, int] = {}  # run id -> epochs held by its resume checkpoint
        self.completed = 0
        self._epoch_t0 = time.perf_counter()
        self._epoch_times: list[float] = []
        self.trackers = None  # experiment.tracking.Trackers when `tracking:` names any
        self.progress = None
        if self.live:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._grid = self.progress.add_task("runs", total=total_runs)
            self._steps = self.progress.add_task("", total=None, visible=False)

    def __enter__(self) -> Monitor:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.trackers is not None:
            self.trackers.close()
        self.log.close()

    def say(self, message: str, log: str | None = None, console: bool = True) -> None:
        """A line in run.log (``log`` there) and, with ``console``, on the console."""
        self.log.write(log or message)
        if not console:
            return
        target = self.progress.console if self.progress is not None else self.console
        # the console names runs in words; run.log keeps the ids (grep-able, folder names)
        target.print(humanize(message), markup=False, highlight=False, soft_wrap=True)

    # -- events ------------------------------------------------------------------------------
    def run_start(self, run_id: str, done_epochs: int, epochs: int, params=None) -> None:
        """A run begins, fresh or from a resume checkpoint holding ``done_epochs`` epochs."""
        if self.trackers is not None:
            self.trackers.start(run_id, params or {})
        self.index += 1
        self.current, self.epoch, self.at_epoch = run_id, (done_epochs, epochs), done_epochs
        self._epoch_t0, self._epoch_times = time.perf_counter(), []
        where = f"[{self.index}/{self.total}]"
        if done_epochs:
            self.saved[run_id] = done_epochs
            self.say(f"{where} resuming {run_id} at epoch {done_epochs + 1} of {epochs}")
        else:
            self.say(f"{where} start {run_id}", console=not self.live)  # the bar names it
        if self.progress is not None:
            self.progress.update(self._grid, description=f"run {self.index}/{self.total}")
            self.progress.update(
                self._steps,
                description=humanize(run_id)[:90],
                completed=0,
                total=None,
                visible=True,
            )

    def step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        """One optimiser step of the current run (live display only: logs get epochs)."""
        self.at_epoch = epoch
        if self.progress is None:
            return
        done, epochs = self.epoch
        self.progress.update(
            self._steps,
            description=f"epoch {epoch + 1}/{epochs} step {step}/{steps} loss {loss:.4f}",
            completed=(epoch - done) * steps + step,
            total=(epochs - done) * steps,
        )

    def epoch_end(self, epoch: int, row: dict) -> None:
        """An epoch finished: its losses, its time and the run's time left."""
        if self.trackers is not None:
            self.trackers.epoch(self.current, epoch + 1, row)
        now = time.perf_counter()
        self._epoch_times.append(now - self._epoch_t0)
        self._epoch_t0, self.at_epoch = now, epoch + 1
        epochs = self.epoch[1]
        left = (epochs - epoch - 1) * sum(self._epoch_times) / len(self._epoch_times)
        values = " ".join(
            f"{k}={row[k]:.4g}"
            for k in ("train_loss", "test_loss", "val_loss", "lr")
            if isinstance(row.get(k), float)
        )
        took = self._epoch_times[-1]
        line = f"  epoch {epoch + 1}/{epochs} {values} ({took:.1f}s, ETA {_fmt(left)})"
        self.say(line, log=f"{line} {self.current}", console=self.epoch_lines)

    def checkpoint(self, run_id: str, epochs_done: int) -> None:
        """A resume checkpoint holding ``epochs_done`` epochs was saved."""
        self.saved[run_id] = epochs_done
        self.log.write(f"  checkpoint {run_id} after epoch {epochs_done}")

    def run_end(self, run_id: str, seconds: float, metrics: dict, folder=None) -> None:
        """A run's folder is complete."""
        if self.trackers is not None:
            self.trackers.end(run_id, metrics, folder)
        self.completed += 1
        self.saved.pop(run_id, None)
        shown = ", ".join(
            f"{k} {metrics[k]:.3f}"
            for k in ("accuracy", "auc", "kappa_quadratic")
            if isinstance(metrics.get(k), float) and metrics[k] == metrics[k]
        )
        self.say(f"[{self.index}/{self.total}] finished {run_id} in {seconds:.1f}s ({shown})")
        self.current = None
        if self.progress is not None:
            self.progress.advance(self._grid)
            self.progress.update(self._steps, visible=False)

    def run_failed(self, run_id: str, why: str) -> None:
        """A run stopped with an error."""
        self.say(f"[{self.index}/{self.total}] failed {run_id}: {why}")

    def interrupted(self, out_dir: Path, resume_command: str | None) -> None:
        """Ctrl-C: say what is saved and how to go on."""
        from breastbench.results import RunFolder

        run_id = self.current
        lines = [f"interrupted: {self.completed} runs completed in this session are saved"]
        if run_id is not None:
            kept = self.saved.get(run_id)
            lines.append(
                f"{run_id} stopped in epoch {self.at_epoch + 1}; "
                + (
                    f"its checkpoint after epoch {kept} of {self.epoch[1]} is saved in "
                    f"{RunFolder(out_dir).partial_dir} and it resumes from there"
                    if kept
                    else "it had no epoch checkpoint yet and restarts from its first epoch"
                )
            )
        if resume_command:
            lines.append(f"resume with: {resume_command}")
        for line in lines:
            self.say(line)
