"""Expand an experiment into independent, serialisable runs.

A :class:`RunSpec` is one cell of the grid: its :class:`~breastbench.results.RunKey` (what
identifies the run and names its folder), the config's model entry it runs, and the two things
the key does not hold: the training seed (the key carries a seed only as the replicate axis of
external runs) and the raw text-context template (the key carries only its tag). Another
executor (a subprocess, a cluster worker) rebuilds it from ``to_dict()`` and its own copy of the
config: the entry is found again by its label, which the key holds and the config keeps unique.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from breastbench.experiment.config import ExperimentConfig, ModelConfig
from breastbench.results import RunKey, text_tag


@dataclass(frozen=True)
class RunSpec:
    """One training + evaluation unit of the grid."""

    key: RunKey
    # The config's model entry (the object in cfg.models). Left out of == and hash: the key's
    # model label names exactly one entry (ExperimentConfig.validate keeps labels unique).
    entry: ModelConfig = field(compare=False)
    seed: int  # training seed (the key holds it only for external runs)
    text: str | None = None  # text-context template (None = image-only); the key holds its tag

    @property
    def run_id(self) -> str:
        """Folder name (from the run key)."""
        return self.key.run_id

    def to_dict(self) -> dict:
        """Plain data for another executor: the key, the training seed and the template."""
        return {"key": self.key.to_dict(), "seed": self.seed, "text": self.text}

    @classmethod
    def from_dict(cls, data: dict, cfg: ExperimentConfig) -> RunSpec:
        """Inverse of :meth:`to_dict`; the entry is ``cfg``'s entry with the key's label."""
        key = RunKey.from_dict(data["key"])
        return cls(key, model_entry(cfg, key.model), data["seed"], data["text"])

    def record(self, cfg: ExperimentConfig) -> dict:
        """The run's fields as run.json has always listed them (key, seed, template, entry)."""
        k = self.key
        data = {
            "dataset": k.dataset,
            "magnification": k.magnification,
            "model": k.model,
            # the entry's position in config.yaml's models list, for a reader of run.json
            "model_index": cfg.models.index(self.entry),
            "mode": k.mode,
            "augmentation": k.augmentation,
            "fold": k.fold,
            "seed": self.seed,
            "external": k.external,
            "text": self.text,
            "shots": k.shots,
            "draw": k.draw,
        }
        if k.calibration is not None:  # only when set, as in the key
            data["calibration"] = k.calibration
        return data


def model_entry(cfg: ExperimentConfig, label: str) -> ModelConfig:
    """The model entry whose label (``display``) is ``label``; labels are unique in a config."""
    return next(m for m in cfg.models if m.display == label)


def run_spec(
    entry: ModelConfig,
    dataset: str,
    magnification: int | None,
    mode: str,
    augmentation: str,
    seed: int,
    *,
    fold: int | None = None,
    external: str | None = None,
    text: str | None = None,
    shots: str | None = None,
    draw: int | None = None,
    calibration: str | None = None,
) -> RunSpec:
    """The spec of one grid cell; the key's seed is the replicate axis of external runs only."""
    key = RunKey(
        dataset=dataset,
        magnification=magnification,
        model=entry.display,
        mode=mode,
        augmentation=augmentation,
        text=text_tag(text),
        shots=shots,
        external=external,
        calibration=calibration,
        fold=fold,
        seed=seed if external else None,
        draw=draw,
    )
    return RunSpec(key, entry, seed, text)


def _cv_cells(cfg: ExperimentConfig):
    """(dataset, magnification, model entry, text, folds) of every CV subset.

    The loops the cross-validated, in-context and label-efficiency grids share.
    """
    for ds in cfg.datasets:
        if not ds.cross_validate:
            continue
        for mag in ds.magnifications or [None]:
            for model in cfg.models:
                for text in model.text_contexts:
                    yield ds, mag, model, text, test_folds(ds, cfg.cv.k)


def _cv_spec(
    cfg, ds, mag, model, mode, aug, text, fold, shots=None, draw=None, calibration=None
) -> RunSpec:
    """One cross-validated run of a cell (a label-efficiency or in-context one with shots)."""
    return run_spec(
        model,
        ds.name,
        mag,
        mode,
        aug,
        cfg.seed,
        fold=fold,
        text=text,
        shots=shots,
        draw=draw,
        calibration=calibration,
    )


def expand(cfg: ExperimentConfig) -> list[RunSpec]:
    """All runs of the experiment, replicates innermost so a configuration finishes together."""
    runs: list[RunSpec] = []
    for ds, mag, model, text, folds in _cv_cells(cfg):
        for mode in model.modes:
            if mode == "zero_shot" and 0 not in model.shots:
                continue  # in-context only (shots > 0): see _in_context
            for aug in _augs_for(cfg.augmentation, mode):
                runs += [  # a scaled run right after its raw twin: it reuses the twin's fit
                    _cv_spec(cfg, ds, mag, model, mode, aug, text, f, calibration=cal)
                    for f in folds
                    for cal in calibrations(cfg)
                ]
    runs += _in_context(cfg)
    runs += _label_efficiency(cfg)
    for ext in cfg.external:
        src = cfg.dataset(ext.train)
        for mag in src.magnifications or [None]:
            for model in cfg.models:
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
                                    run_spec(
                                        model,
                                        ext.train,
                                        mag,
                                        mode,
                                        aug,
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
    for ds, mag, model, text, folds in _cv_cells(cfg):
        if "zero_shot" not in model.modes:
            continue
        for k in dict.fromkeys(k for k in model.shots if k > 0):
            runs += [
                _cv_spec(cfg, ds, mag, model, "zero_shot", "off", text, f, str(k), d)
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
    for ds, mag, model, text, folds in _cv_cells(cfg):
        try:
            if "linear_probe" not in get_info(model.name).modes:
                continue
        except Exception:  # noqa: BLE001 - unknown names are reported by check_models
            continue
        for mode in le.modes:
            for k in le.shots:
                draws = [0] if k == "all" else range(le.draws)
                runs += [
                    _cv_spec(cfg, ds, mag, model, mode, "off", text, f, str(k), d)
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
