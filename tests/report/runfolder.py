"""Hand-made run folders (the layout of docs/DESIGN.md) with known numbers, for report tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from breastbench import jsonio
from breastbench.results.folder import LAYOUT, MARKER, RunFolder
from breastbench.results.key import RunKey

BINARY = ["benign", "malignant"]
DENSITY = ["A", "B", "C", "D"]


def run_key(dataset, mag, model, mode, aug, fold=None, ext=None):
    return RunKey(
        dataset,
        mag,
        model,
        mode,
        aug,
        external=ext,
        fold=None if ext else fold,
        seed=0 if ext else None,
    )


def run_id(dataset, mag, model, mode, aug, fold=None, ext=None):
    return run_key(dataset, mag, model, mode, aug, fold, ext).run_id


def predictions(classes, fold, n, skill, seed):
    """Predictions for n images of one fold; a higher ``skill`` favours the true class."""
    rng = np.random.default_rng(seed)
    k = len(classes)
    target = np.arange(n) % k
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), target] += skill
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    df = pd.DataFrame(
        {
            "image_id": [f"img{fold}_{i}" for i in range(n)],
            "path": [f"/data/img{fold}_{i}.png" for i in range(n)],
            "patient_id": [f"p{fold}_{i // 2}" for i in range(n)],
            "fold": fold,
            "target": target,
            "label": [classes[t] for t in target],
            "pred": prob.argmax(axis=1),
        }
    )
    for i, c in enumerate(classes):
        df[f"prob_{c}"] = prob[:, i]
    return df


def write_run(root, rid, info, metrics, preds, epochs=3, loss_scale=1.0):
    """One complete run through :meth:`RunFolder.write_run` (the runner's own writer)."""
    folder = RunFolder(root)
    jsonio.write_json(folder.root / MARKER, {"layout": LAYOUT})
    hist = pd.DataFrame(
        {
            "epoch": range(1, epochs + 1),
            "train_loss": [loss_scale / e for e in range(1, epochs + 1)],
            "test_loss": [loss_scale * 1.2 / e for e in range(1, epochs + 1)],
            "lr": 1e-4,
            "seconds": 1.0,
        }
    )
    return folder.write_run(RunKey.parse(rid), info, preds, hist.to_dict("records"), metrics)


def base_info(dataset, mag, model, mode, aug, fold, classes, task, **extra):
    return {
        "dataset": dataset,
        "magnification": mag,
        "model": model,
        "mode": mode,
        "augmentation": aug,
        "fold": fold,
        "external": extra.pop("external", None),
        "task": task,
        "model_family": model.split("/")[0],
        "classes": classes,
        "seed": 0,
        "config": {},
        "versions": {"torch": "2.14.1", "breastbench": "0.1.0"},
        "git_sha": "abc1234",
        "device": "cpu",
        "timings": {"train_s": 2.0, "predict_s": 0.5},
        "synthetic": True,
        "random_weights": True,
        "n_train": 40,
        "n_test": 12,
        **extra,
    }


# known fold accuracies: mean 0.8, std(ddof=1) 0.1 for the CNN at 40x without augmentation
CNN_ACC = [0.9, 0.8, 0.7]
VLM_ACC = [0.6, 0.65, 0.7]  # mean 0.65, std 0.05


def make_run_folder(root, folds=3, density=True, external=True):
    """breakhis_x (2 mags x 2 models x aug on/off), a density dataset and one external run."""
    root = Path(root)
    models = [
        ("cnn/test_resnet", "finetune", CNN_ACC, 3.0),
        ("clip/test-biomedclip", "lora", VLM_ACC, 1.0),
    ]
    seed = 0
    for aug in ("off", "on"):
        for mag in (40, 100):
            for model, mode, accs, skill in models:
                for fold in range(folds):
                    seed += 1
                    bump = 0.0 if (mag == 40 and aug == "off") else 0.01
                    acc = accs[fold % len(accs)] + bump
                    metrics = {"accuracy": acc, "f1": acc - 0.05, "auc": min(1.0, acc + 0.05)}
                    preds = predictions(BINARY, fold, 12, skill, seed)
                    info = base_info("breakhis_x", mag, model, mode, aug, fold, BINARY, "binary")
                    write_run(
                        root,
                        run_id("breakhis_x", mag, model, mode, aug, fold),
                        info,
                        metrics,
                        preds,
                    )
    if density:
        for model, mode, skill in (
            ("cnn/test_resnet", "finetune", 3.0),
            ("clip/test-biomedclip", "zero_shot", 0.2),
        ):
            for fold in range(folds):
                seed += 1
                base = 0.7 if mode == "finetune" else 0.3
                metrics = {
                    "accuracy": base + 0.01 * fold,
                    "f1_macro": base - 0.05,
                    "kappa_quadratic": base - 0.1,
                    "auc_ovr_macro": base + 0.1,
                    "recall_A": base,
                }
                preds = predictions(DENSITY, fold, 16, skill, seed)
                info = base_info("density_demo", None, model, mode, "off", fold, DENSITY, "density")
                write_run(
                    root,
                    run_id("density_demo", None, model, mode, "off", fold),
                    info,
                    metrics,
                    preds,
                )
    if external:
        rid = run_id("breakhis_x", 40, "cnn/test_resnet", "finetune", "off", ext="bach_x")
        info = base_info(
            "breakhis_x",
            40,
            "cnn/test_resnet",
            "finetune",
            "off",
            None,
            BINARY,
            "binary",
            external="bach_x",
        )
        write_run(
            root, rid, info, {"accuracy": 0.75, "auc": 0.8}, predictions(BINARY, -1, 20, 1.0, 99)
        )
    write_manifest(root)
    return root


def write_manifest(root):
    rows = []
    for i in range(24):
        rows.append(
            {
                "path": f"/data/img{i}.png",
                "label": BINARY[i % 2],
                "target": i % 2,
                "patient_id": f"p{i // 4}",
                "dataset": "breakhis_x",
                "magnification": 40 if i < 12 else 100,
                "fold": (i // 4) % 3,
            }
        )
    df = pd.DataFrame(rows)
    (Path(root) / "manifests").mkdir(exist_ok=True)
    df.to_csv(Path(root) / "manifests" / "breakhis_x.csv", index=False)
    meta = {
        "classes": BINARY,
        "excluded": {"unreadable image": 2},
        "notes": ["synthetic fixture"],
        "folds": {"k": 3, "seed": 0},
    }
    (Path(root) / "manifests" / "breakhis_x.csv.meta.json").write_text(json.dumps(meta))


DEMO_MODELS = (
    ("TinyResNet", "cnn", ("finetune", "linear_probe"), 3.0),
    ("TinyBiomedCLIP", "clip", ("zero_shot", "linear_probe", "finetune"), 2.0),
    ("TinySmolVLM", "vlm", ("zero_shot", "linear_probe", "lora"), 1.5),
    ("TinyQwen2-VL", "vlm", ("linear_probe", "lora"), 1.0),
)


# BreakHis' eight tumour subtypes, as the demo's per-subtype breakdown groups them
SUBTYPES = ["A", "F", "PT", "TA", "DC", "LC", "MC", "PC"]


def make_demo_shaped(root, folds=5, n=20):
    """A run folder with the demo's shape (models, modes, 40x/200x, aug off/on, external).

    Scores come from :func:`predictions` (skill per model; zero-shot near chance), so the
    report's layout can be checked at the demo's size without training anything.
    """
    root = Path(root)
    seed = 1000
    for mag in (40, 200):
        for aug in ("off", "on"):
            for label, family, modes, skill in DEMO_MODELS:
                for mode in modes:
                    if mode == "zero_shot" and aug == "on":
                        continue
                    for fold in range(folds):
                        seed += 1
                        s = 0.3 if mode == "zero_shot" else skill
                        preds = predictions(BINARY, fold, n, s, seed)
                        preds["subtype"] = [SUBTYPES[i % len(SUBTYPES)] for i in range(n)]
                        acc = float((preds["pred"] == preds["target"]).mean())
                        info = base_info("breakhis", mag, label, mode, aug, fold, BINARY, "binary")
                        info["model_family"] = family
                        info["trainable"] = {
                            "trainable_params": 0 if mode == "zero_shot" else 1000 * (2 + fold % 1),
                            "total_params": 50_000,
                        }
                        metrics = {"accuracy": acc, "auc": min(1.0, 0.5 + 0.15 * s + 0.02 * fold)}
                        rid = run_id("breakhis", mag, label, mode, aug, fold)
                        write_run(root, rid, info, metrics, preds)
    for label, mode in (("TinyResNet", "finetune"), ("TinySmolVLM", "lora")):
        for mag in (40, 200):
            for s in (0, 1):
                key = RunKey("breakhis", mag, label, mode, "off", external="bach", seed=s)
                info = base_info(
                    "breakhis", mag, label, mode, "off", None, BINARY, "binary", external="bach"
                )
                info["model_family"] = "cnn" if label == "TinyResNet" else "vlm"
                preds = predictions(BINARY, -1 - s, n, 1.0, 77 + s)
                write_run(root, key.run_id, info, {"accuracy": 0.9, "auc": 0.95}, preds)
    write_manifest(root)
    (root / "experiment.yaml").write_text(
        "name: demo\ncompare: {n_boot: 100}\nanalysis: {subgroups: [subtype]}\n"
    )
    return root
