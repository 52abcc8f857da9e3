"""Expand an experiment into independent, serialisable runs.

A :class:`RunSpec` is one cell of the grid: its :class:`~breastbench.results.RunKey` (what
identifies the run and names its folder) plus what the executor needs to run it (which model
entry, the training seed, the text-context template). It holds plain data only, so any
executor (this process, a subprocess, a cluster worker) can run it from ``to_dict()``.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

from breastbench.experiment.config import ExperimentConfig
from breastbench.results import RunKey, text_tag


@dataclass(frozen=True)
class RunSpec:
    """One training + evaluation unit of the grid."""

    dataset: str
    magnification: int | None
    model: str  # the model entry's label (or registry name when it has none)
    model_index: int  # index into cfg.models (one name may appear with different options)
    mode: str
    augmentation: str
    fold: int | None  # None for external runs
    seed: int  # training seed
    external: str | None = None  # test dataset of an external-validation run
    text: str | None = None  # text-context template (None = image-only)
    shots: str | None = None  # labelled patients per class of a label-efficiency run
    draw: int | None = None  # which resampled support set
    calibration: str | None = None  # post-hoc calibration ("temperature"); None = raw scores

    @property
    def key(self) -> RunKey:
        """The run key: the seed is a replicate axis of external runs only."""
        return RunKey(
            dataset=self.dataset,
            magnification=self.magnification,
            model=self.model,
            mode=self.mode,
            augmentation=self.augmentation,
            text=text_tag(self.text),
            shots=self.shots,
            external=self.external,
            calibration=self.calibration,
            fold=self.fold,
            seed=self.seed if self.external else None,
            draw=self.draw,
        )

    @property
    def run_id(self) -> str:
        """Folder name (from the run key)."""
        return self.key.run_id

    def to_dict(self) -> dict:
        """Plain data for another executor (``calibration`` only when set, as in the key)."""
        data = asdict(self)
        if data["calibration"] is None:
            del data["calibration"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RunSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def _cv_cells(cfg: ExperimentConfig):
    """(dataset, magnification, model index, model entry, text, folds) of every CV subset.

    The loops the cross-validated, in-context and label-efficiency grids share.
    """
    for ds in cfg.datasets:
        if not ds.cross_validate:
            continue
        for mag in ds.magnifications or [None]:
            for mi, model in enumerate(cfg.models):
                for text in model.text_contexts:
                    yield ds, mag, mi, model, text, test_folds(ds, cfg.cv.k)


def _cv_spec(
    cfg, ds, mag, mi, model, mode, aug, text, fold, shots=None, draw=None, calibration=None
) -> RunSpec:
    """One cross-validated run of a cell (a label-efficiency or in-context one with shots)."""
    return RunSpec(
        ds.name,
        mag,
        model.display,
        mi,
        mode,
        aug,
        fold,
        cfg.seed,
        text=text,
        shots=shots,
        draw=draw,
        calibration=calibration,
    )


def expand(cfg: ExperimentConfig) -> list[RunSpec]:
    """All runs of the experiment, replicates innermost so a configuration finishes together."""
    runs: list[RunSpec] = []
    for ds, mag, mi, model, text, folds in _cv_cells(cfg):
        for mode in model.modes:
            if mode == "zero_shot" and 0 not in model.shots:
                continue  # in-context only (shots > 0): see _in_context
            for aug in _augs_for(cfg.augmentation, mode):
                runs += [  # a scaled run right after its raw twin: it reuses the twin's fit
                    _cv_spec(cfg, ds, mag, mi, model, mode, aug, text, f, calibration=cal)
                    for f in folds
                    for cal in calibrations(cfg)
                ]
    runs += _in_context(cfg)
    runs += _label_efficiency(cfg)
    for ext in cfg.external:
        src = cfg.dataset(ext.train)
        for mag in src.magnifications or [None]:
            for mi, model in enumerate(cfg.models):
                if ext.models and not {model.name, model.display} & set(ext.models):
                    continue
                for mode in model.modes:
                    if ext.modes and mode not in ext.modes:
                        continue
                    for aug in _augs_for(ext.augmentation or cfg.augmentation, mode):
                        for text in model.text_contexts:
                            for seed, cal in itertools.product(
                                ext.seeds or [cfg.seed], calibrations(cfg)
                            ):
                                runs.append(
                                    RunSpec(
                                        ext.train,
                                        mag,
                                        model.display,
                                        mi,
                                        mode,
                                        aug,
                                        None,
                                        seed,
                                        external=ext.test,
                                        text=text,
                                        calibration=cal,
                                    )
                                )
    return runs


def calibrations(cfg: ExperimentConfig) -> list[str | None]:
    """The calibration axis of the cross-validated and external runs (None = raw scores).

    Label-efficiency and in-context runs have no inner validation split to fit a temperature
    on, so they stay raw.
    """
    return [None if c == "none" else c for c in dict.fromkeys(cfg.calibration)]


def shot_draws(cfg: ExperimentConfig) -> int:
    """Support sets per k and fold: ``label_efficiency.draws``, else one."""
    return cfg.label_efficiency.draws if cfg.label_efficiency is not None else 1


def _in_context(cfg: ExperimentConfig) -> list[RunSpec]:
    """Generative k-shot runs: a model's ``shots`` > 0 under zero_shot, folds x draws.

    The draws are the label-efficiency support sets (``label_efficiency.draws``, else one), so
    a k-shot prompt shows the same patients as the k-shot probes of the same draw.
    """
    draws = shot_draws(cfg)
    runs = []
    for ds, mag, mi, model, text, folds in _cv_cells(cfg):
        if "zero_shot" not in model.modes:
            continue
        for k in dict.fromkeys(k for k in model.shots if k > 0):
            runs += [
                _cv_spec(cfg, ds, mag, mi, model, "zero_shot", "off", text, f, str(k), d)
                for f in folds
                for d in range(draws)
            ]
    return runs


def _label_efficiency(cfg: ExperimentConfig) -> list[RunSpec]:
    """k-shot runs: every model that can probe, each mode of the curve, shots x folds x draws."""
    le = cfg.label_efficiency
    if le is None:
        return []
    from breastbench.models import get_info

    runs = []
    for ds, mag, mi, model, text, folds in _cv_cells(cfg):
        try:
            if "linear_probe" not in get_info(model.name).modes:
                continue
        except Exception:  # noqa: BLE001 - unknown names are reported by check_models
            continue
        for mode in le.modes:
            for k in le.shots:
                draws = [0] if k == "all" else range(le.draws)
                runs += [
                    _cv_spec(cfg, ds, mag, mi, model, mode, "off", text, f, str(k), d)
                    for f in folds
                    for d in draws
                ]
    return runs


def test_folds(ds, k: int) -> list[int]:
    """The folds a dataset is tested on: all k, or a published fixed split's test fold."""
    if ds.options.get("split"):
        from breastbench.data.splits import VAL_FOLD

        return [VAL_FOLD]  # train on the split's training patients, test on its validation ones
    return list(range(k))


def _augs_for(augs: list[str], mode: str) -> list[str]:
    # Zero-shot trains nothing, so augmentation cannot change it: run it once, "off".
    return ["off"] if mode == "zero_shot" else list(dict.fromkeys(augs))


def select(runs: list[RunSpec], patterns: list[str] | None) -> list[RunSpec]:
    """Keep runs whose id matches any pattern (case-insensitive glob or substring)."""
    if not patterns:
        return runs
    return [r for r in runs if any(r.key.matches(p) for p in patterns)]
