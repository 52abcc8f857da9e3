"""Optional experiment trackers: MLflow's local file store and TensorBoard event files.

``tracking: [mlflow, tensorboard]`` in the experiment file (off by default) sends each run's
parameters (its key and training settings), per-epoch losses and its final metrics, plus its
``metrics.json``, ``run.json`` and ``history.csv`` (MLflow artifacts), to ``OUT/mlruns`` and
``OUT/tensorboard/<run_id>/``; at the end of the grid MLflow gets one ``summary`` run holding the
``summary/`` files. The run folder stays the record: a tracker that is not installed or fails
is reported once and switched off, and the grid goes on without it
(``pip install 'breastbench[tracking]'`` installs both).

MLflow 3 keeps its file store in maintenance mode and refuses it unless
``MLFLOW_ALLOW_FILE_STORE=true``; breastbench sets that for its own process, since a store next
to the run folder (no database, no server) is what a run folder wants. Read it back with
``MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri OUT/mlruns``.
"""

from __future__ import annotations

import os
from pathlib import Path

from breastbench.results import RunFolder
from breastbench.results.layout import HISTORY, METRICS, RUN_INFO

EXTRA = "pip install 'breastbench[tracking]'"
RUN_FILES = (METRICS, RUN_INFO, HISTORY)  # logged as artifacts of a finished run


def _flat(d: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as ``a.b`` -> string (MLflow / TensorBoard parameters)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = str(v)[:500]
    return out


def _numbers(row: dict) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in row.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and k != "epoch"
    }


class MLflowSink:
    """One MLflow run per breastbench run in ``OUT/mlruns`` (experiment = the config's name)."""

    name = "mlflow"

    def __init__(self, out_dir: Path, experiment: str):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.tracking import MlflowClient

        self.uri = RunFolder(out_dir).tracking_dir("mlflow").resolve().as_uri()
        self.client = MlflowClient(tracking_uri=self.uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (
            found.experiment_id if found else self.client.create_experiment(experiment)
        )
        self.active: dict[str, str] = {}  # breastbench run id -> MLflow run id

    def start(self, run_id: str, params: dict) -> None:
        """Open an MLflow run named after the breastbench run, with its parameters."""
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=run_id, tags={"run_id": run_id})
        self.active[run_id] = run.info.run_id
        flat = [Param(k, v) for k, v in _flat(params).items()]
        for i in range(0, len(flat), 100):  # MLflow's batch limit
            self.client.log_batch(run.info.run_id, params=flat[i : i + 100])

    def epoch(self, run_id: str, epoch: int, row: dict) -> None:
        """Per-epoch losses and learning rate, step = epoch (1-based)."""
        mlflow_id = self.active[run_id]
        for k, v in _numbers(row).items():
            self.client.log_metric(mlflow_id, k, v, step=epoch)

    def end(self, run_id: str, metrics: dict, folder: Path | None) -> None:
        """Final metrics and the run's files as artifacts; the MLflow run is closed."""
        mlflow_id = self.active.pop(run_id)
        for k, v in _numbers(metrics).items():
            self.client.log_metric(mlflow_id, k, v)
        for name in RUN_FILES if folder is not None else ():
            if (folder / name).is_file():
                self.client.log_artifact(mlflow_id, str(folder / name))
        self.client.set_terminated(mlflow_id)

    def summary(self, summary_dir: Path) -> None:
        """One ``summary`` run holding the analysis files."""
        run = self.client.create_run(self.experiment_id, run_name="summary")
        for path in sorted(summary_dir.glob("*")):
            if path.is_file():
                self.client.log_artifact(run.info.run_id, str(path))
        self.client.set_terminated(run.info.run_id)

    def close(self) -> None:
        """Nothing is held open between calls."""


class TensorBoardSink:
    """Event files per run under ``OUT/tensorboard/<run_id>/`` (torch's SummaryWriter)."""

    name = "tensorboard"

    def __init__(self, out_dir: Path, experiment: str):
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self.root = RunFolder(out_dir).tracking_dir("tensorboard")
        self._writer_cls = SummaryWriter
        self.writers: dict = {}
        self.params: dict[str, dict] = {}

    def start(self, run_id: str, params: dict) -> None:
        """Open the run's event file; parameters go in as text (and hparams at the end)."""
        writer = self._writer_cls(log_dir=str(self.root / run_id))
        self.writers[run_id] = writer
        self.params[run_id] = _flat(params)
        table = "\n".join(f"| {k} | {v} |" for k, v in self.params[run_id].items())
        writer.add_text("params", "| parameter | value |\n|---|---|\n" + table, 0)

    def epoch(self, run_id: str, epoch: int, row: dict) -> None:
        """Scalars per epoch, flushed so TensorBoard shows a run while it trains."""
        writer = self.writers[run_id]
        for k, v in _numbers(row).items():
            writer.add_scalar(k, v, epoch)
        writer.flush()

    def end(self, run_id: str, metrics: dict, folder: Path | None) -> None:
        """Final metrics as ``final/<metric>`` scalars; the event file is closed."""
        writer = self.writers.pop(run_id)
        for k, v in _numbers(metrics).items():
            writer.add_scalar(f"final/{k}", v, 0)
        writer.close()

    def summary(self, summary_dir: Path) -> None:
        """The analysis lives in summary/ and the report; nothing more to write here."""

    def close(self) -> None:
        """Close any event file a stopped run left open."""
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


SINKS = {"mlflow": MLflowSink, "tensorboard": TensorBoardSink}


class Trackers:
    """The configured sinks; every call is guarded so a tracker can never stop the grid."""

    def __init__(self, names: list[str], out_dir: Path, experiment: str, say):
        self.say = say
        self.sinks = []
        for name in dict.fromkeys(names):
            try:
                self.sinks.append(SINKS[name](out_dir, experiment))
            except ImportError as err:
                say(f"tracking: {name} is not installed ({err.name}; {EXTRA}); going on without it")
            except Exception as err:  # noqa: BLE001 - the run never depends on a tracker
                say(f"tracking: {name} could not start ({type(err).__name__}: {err}); going on")

    def _call(self, method: str, *args) -> None:
        for sink in list(self.sinks):
            try:
                getattr(sink, method)(*args)
            except Exception as err:  # noqa: BLE001 - switched off, the grid goes on
                self.sinks.remove(sink)
                first = str(err).splitlines()[0] if str(err) else ""
                self.say(
                    f"tracking: {sink.name} failed in {method} ({type(err).__name__}: "
                    f"{first[:200]}); switched off, the run goes on"
                )

    def start(self, run_id: str, params: dict) -> None:
        """A run began."""
        self._call("start", run_id, params)

    def epoch(self, run_id: str, epoch: int, row: dict) -> None:
        """An epoch ended (1-based ``epoch``)."""
        self._call("epoch", run_id, epoch, row)

    def end(self, run_id: str, metrics: dict, folder: Path | None) -> None:
        """A run's folder is complete."""
        self._call("end", run_id, metrics, folder)

    def replay(self, folder, key, params: dict) -> None:
        """Feed a finished run from its files (runs that trained elsewhere, e.g. on Ray).

        ``folder`` is the :class:`breastbench.results.RunFolder`, ``key`` the run's key.
        """
        import json

        import pandas as pd

        run_id = key.run_id
        self.start(run_id, params)
        if folder.history_path(key).is_file():
            for row in pd.read_csv(folder.history_path(key)).to_dict("records"):
                self.epoch(run_id, int(row["epoch"]), row)
        self.end(run_id, json.loads(folder.metrics_path(key).read_text()), folder.path(key))

    def summary(self, summary_dir: Path) -> None:
        """The grid's analysis is written."""
        self._call("summary", summary_dir)

    def close(self) -> None:
        """Close what stopped runs left open."""
        self._call("close")
