"""Leave-one-source-out: expansion, the pooled training manifest, class checks, run -> report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from breastbench.cli import main
from breastbench.data import synthesize
from breastbench.errors import UserError
from breastbench.experiment.config import DatasetConfig, load_config
from breastbench.experiment.external import expand_external_tests
from breastbench.experiment.grid import expand
from breastbench.experiment.union import SOURCE_COLUMN, union_manifest

MODEL = {"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}


def _datasets(*names: str) -> list[dict]:
    return [{"name": n, "source": "synthetic-density", "root": f"/x/{n}"} for n in names]


def test_one_external_per_held_out_source_trained_on_the_others():
    datasets = _datasets("vindr", "rsna", "inbreast", "embed")
    entries = [
        {"train": "vindr", "test": "rsna"},
        {"leave_one_source_out": ["vindr", "rsna", "inbreast"], "seeds": [0, 1], "modes": ["lp"]},
    ]
    out = expand_external_tests(entries, datasets)
    assert out[0] == {"train": "vindr", "test": "rsna"}
    assert [(e["train"], e["test"]) for e in out[1:]] == [
        ("loso-minus-vindr", "vindr"),
        ("loso-minus-rsna", "rsna"),
        ("loso-minus-inbreast", "inbreast"),
    ]
    assert all(e["seeds"] == [0, 1] and e["modes"] == ["lp"] for e in out[1:])
    unions = {d["name"]: d for d in datasets[4:]}
    assert len(datasets) == 4 + 3  # embed is not listed: in no union, never held out
    for held in ("vindr", "rsna", "inbreast"):
        union = unions[f"loso-minus-{held}"]
        assert union["source"] == "union" and union["cross_validate"] is False
        members = union["options"]["members"]
        assert held not in members and set(members) == {"vindr", "rsna", "inbreast"} - {held}
    # a second entry over the same sources (another model subset) reuses the training sets
    again = [{"leave_one_source_out": ["inbreast", "rsna", "vindr"], "models": ["cnn"]}]
    again = expand_external_tests(again, datasets)
    assert [e["train"] for e in again] == [f"loso-minus-{s}" for s in ("inbreast", "rsna", "vindr")]
    assert len(datasets) == 7
    # over other sources, the same name would mean another training set: refused
    with pytest.raises(UserError, match=r"'loso-minus-rsna', but that name is taken"):
        expand_external_tests([{"leave_one_source_out": ["rsna", "vindr"]}], datasets)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"leave_one_source_out": ["vindr"]}, r"external\[0\].leave_one_source_out: give a list"),
        ({"leave_one_source_out": ["vindr", "x"]}, r"leave_one_source_out\[1\]: unknown dataset"),
        ({"leave_one_source_out": ["vindr", "vindr"]}, r"\[1\]: 'vindr' is listed twice"),
        (
            {"leave_one_source_out": ["vindr", "rsna"], "label_map": {"F": "A"}},
            r"external\[0\].label_map: not allowed with leave_one_source_out; map each source's "
            r"labels once, on its dataset entry \(datasets\[i\].label_map\)",
        ),
        ({"leave_one_source_out": ["vindr", "rsna"], "train": "vindr"}, r"external\[0\].train:"),
    ],
)
def test_bad_loso_entries_are_one_line_errors(entry, message):
    with pytest.raises(UserError, match=message) as err:
        expand_external_tests([entry], _datasets("vindr", "rsna"))
    assert "\n" not in str(err.value)


def test_a_dataset_already_named_like_a_training_set_is_refused():
    datasets = _datasets("vindr", "rsna", "loso-minus-vindr")
    with pytest.raises(UserError, match=r"'loso-minus-vindr', but that name is taken"):
        expand_external_tests([{"leave_one_source_out": ["vindr", "rsna"]}], datasets)


def test_config_loads_expanded_and_the_grid_names_the_training_sets(tmp_path):
    raw = {
        "datasets": [{**d, "cross_validate": False} for d in _datasets("a", "b", "c")],
        "models": [MODEL],
        "external": [{"leave_one_source_out": ["a", "b", "c"], "seeds": [0, 1, 2]}],
    }
    path = tmp_path / "loso.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    ids = sorted(r.run_id for r in expand(cfg))
    assert len(ids) == 3 * 3
    assert ids[0] == "loso-minus-a__all__cnn__finetune__aug-off__ext-a__seed0"
    union = cfg.dataset("loso-minus-b")
    assert union.root is None and union.options == {"members": ["a", "c"]}
    # the resolved form (the run folder's experiment.yaml) reads back as the same grid
    from breastbench.experiment.schema import to_dict

    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    again = load_config(path)
    assert sorted(r.run_id for r in expand(again)) == ids
    assert [d.name for d in again.datasets] == [d.name for d in cfg.datasets]


@pytest.mark.parametrize(
    ("union", "message"),
    [
        ({"options": {"members": ["a", "zz"]}}, r"datasets\[2\].options.members\[1\]: unknown"),
        ({"options": {"members": ["a", "a"]}}, r"members\[1\]: 'a' is listed twice"),
        ({"options": {"members": []}}, r"datasets\[2\].options.members: give the dataset names"),
        ({"options": {"members": ["a"], "k": 1}}, r"datasets\[2\].options: unknown option 'k'"),
        ({"options": {"members": ["a"]}, "root": "/x"}, r"datasets\[2\].root: a union"),
        ({"options": {"members": ["a"]}, "cross_validate": True}, r"cross_validate: false"),
    ],
)
def test_bad_declared_unions_are_refused_at_load(tmp_path, union, message):
    entry = {"name": "pooled", "source": "union", "cross_validate": False, **union}
    raw = {"datasets": [*_datasets("a", "b"), entry], "models": [MODEL]}
    path = tmp_path / "u.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=message):
        load_config(path)


def _manifest(name: str, patients: list[str], classes=("A", "B")) -> pd.DataFrame:
    labels = [classes[i % len(classes)] for i in range(len(patients))]
    df = pd.DataFrame(
        {
            "path": [f"/{name}/{i}.png" for i in range(len(patients))],
            "label": labels,
            "target": [list(classes).index(c) for c in labels],
            "patient_id": patients,
            "dataset": "synthetic-density",
            "fold": 0,
        }
    )
    df.attrs = {"classes": list(classes), "task": "density"}
    return df


def _union_cfg(*members: str) -> list[DatasetConfig]:
    plain = [DatasetConfig(name=m, source="synthetic-density", root="/x") for m in members]
    union = DatasetConfig(
        name="pooled", source="union", options={"members": list(members)}, cross_validate=False
    )
    return [*plain, union]


def test_same_patient_id_in_two_sources_stays_two_patients():
    manifests = {"a": _manifest("a", ["12", "12", "7"]), "b": _manifest("b", ["12", "9"])}
    df = union_manifest(_union_cfg("a", "b"), 2, manifests)
    assert df["patient_id"].tolist() == ["a:12", "a:12", "a:7", "b:12", "b:9"]
    assert df["patient_id"].nunique() == 4  # without the prefix: 3 (the two 12s merged)
    assert df[SOURCE_COLUMN].tolist() == ["a"] * 3 + ["b"] * 2
    assert "fold" not in df.columns  # members' own folds mean nothing in the pool
    assert df.attrs["classes"] == ["A", "B"] and df.attrs["members"] == ["a", "b"]
    assert (df["target"] == df["label"].map({"A": 0, "B": 1})).all()
    # grouped splits keep the two sources' patient 12 apart
    from sklearn.model_selection import GroupKFold

    for tr, te in GroupKFold(n_splits=2).split(df, groups=df["patient_id"]):
        assert not set(df["patient_id"].iloc[tr]) & set(df["patient_id"].iloc[te])


def test_members_with_other_classes_name_the_label_map_to_fix():
    manifests = {
        "a": _manifest("a", ["1", "2"], ("A", "B", "C")),
        "b": _manifest("b", ["1", "2"], ("A", "B", "C")),
        "mias": _manifest("mias", ["1", "2"], ("F", "G", "D")),
    }
    with pytest.raises(UserError) as err:
        union_manifest(_union_cfg("a", "mias", "b"), 3, manifests)
    assert str(err.value) == (
        "datasets[1].label_map: mias has classes ['F', 'G', 'D'] but a has ['A', 'B', 'C'], "
        "and pooled pools them for training with one class list; map mias's labels "
        "['F', 'G', 'D'] onto ['A', 'B', 'C'] there (e.g. F: A)"
    )
    manifests["mias"] = _manifest("mias", ["1", "2"], ("A", "B"))  # mapped, but a subset
    with pytest.raises(UserError, match=r"mias has no \['C'\]: leave it out of pooled"):
        union_manifest(_union_cfg("a", "mias", "b"), 3, manifests)


def _tiny_sources(data: Path) -> list[dict]:
    """Three density sources, 32 + 32 + 24 images.

    Two VinDr-layout trees made from the same seed (so they share every patient id) and an
    EMBED tree.
    """
    roots = [
        ("vindr", "synthetic-density", synthesize("synthetic-density", data / "v", 0, size=1)),
        ("rsna", "synthetic-density", synthesize("synthetic-density", data / "r", 0, size=1)),
        ("embed", "synthetic-embed", synthesize("synthetic-embed", data / "e", 0, size=1)),
    ]
    return [{"name": n, "source": s, "root": str(r), "cross_validate": False} for n, s, r in roots]


def _loso_config(tmp_path: Path, datasets: list[dict]) -> Path:
    raw = {
        "name": "loso",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets,
        "models": [MODEL],
        "training": {"epochs": 1, "batch_size": 16, "save_checkpoints": "none"},
        "external": [{"leave_one_source_out": [d["name"] for d in datasets], "seeds": [0, 1]}],
    }
    path = tmp_path / "loso.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_class_mismatch_stops_run_before_training(tmp_path, capsys):
    datasets = _tiny_sources(tmp_path / "data")
    datasets[2]["label_map"] = {"A": "fatty"}  # embed's A renamed: no longer the others' A-D
    path = _loso_config(tmp_path, datasets)
    capsys.readouterr()
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "datasets[2].label_map: embed has classes ['fatty', 'B', 'C', 'D']" in err
    assert "(e.g. fatty: A)" in err
    assert not (tmp_path / "out").exists()  # nothing trained, nothing half-written


def test_plan_counts_the_loso_runs_and_their_training_images(tmp_path, capsys):
    path = _loso_config(tmp_path, _tiny_sources(tmp_path / "data"))
    capsys.readouterr()
    assert main(["plan", str(path), "--json", "--skip-preflight"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["runs"] == 3 * 2 and len(plan["configurations"]) == 3
    images = {n: d["images"]["None"] for n, d in plan["datasets"].items()}  # all magnifications
    assert images == {
        "vindr": 32,
        "rsna": 32,
        "embed": 24,
        "loso-minus-vindr": 32 + 24,
        "loso-minus-rsna": 32 + 24,
        "loso-minus-embed": 32 + 32,
    }
    assert "sum of its members (vindr, rsna)" in plan["datasets"]["loso-minus-embed"]["origin"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_loso_runs_and_reports_one_row_per_held_out_source(tmp_path):
    path = _loso_config(tmp_path, _tiny_sources(tmp_path / "data"))
    out = tmp_path / "out"
    assert main(["run", str(path), "--no-report"]) == 0
    assert main(["report", str(out), "--no-explain"]) == 0
    agg = pd.read_csv(out / "summary" / "aggregate.csv")
    rows = agg[agg["metric"] == "accuracy"]
    assert sorted(zip(rows["dataset"], rows["external"])) == [
        ("loso-minus-embed", "embed"),
        ("loso-minus-rsna", "rsna"),
        ("loso-minus-vindr", "vindr"),
    ]
    assert (rows["n"] == 2).all() and (rows["unit"] == "seeds").all()
    run = json.loads(
        (
            out
            / "runs"
            / "loso-minus-embed__all__cnn__finetune__aug-off__ext-embed__seed0"
            / "run.json"
        ).read_text()
    )
    # trained on vindr + rsna (same patient ids, kept apart by the prefix), tested on embed
    assert run["n_train"] == 32 + 32 and run["n_test"] == 24
    assert run["train_members"] == ["vindr", "rsna"]
    pred = pd.read_csv(
        out
        / "runs"
        / "loso-minus-embed__all__cnn__finetune__aug-off__ext-embed__seed0"
        / "predictions.csv"
    )
    assert len(pred) == 24
    html = (out / "report" / "report.html").read_text()
    assert "External validation" in html  # the external table names each pooled training set
    assert "loso-minus-vindr: trained on rsna, embed pooled (patient ids kept apart" in html


def test_prepared_union_applies_members_label_maps_and_keeps_shared_ids_apart(tmp_path):
    from breastbench.experiment.runner import prepare_manifests

    datasets = _tiny_sources(tmp_path / "data")
    datasets[2]["label_map"] = {"A": "B", "B": "A"}  # a member's declared map reaches the pool
    cfg = load_config(_loso_config(tmp_path, datasets))
    manifests = prepare_manifests(cfg, tmp_path / "out")
    pool = manifests["loso-minus-embed"]  # vindr + rsna: the same tree, the same patient ids
    assert set(manifests["vindr"]["patient_id"]) == set(manifests["rsna"]["patient_id"])
    assert pool["patient_id"].nunique() == 2 * manifests["vindr"]["patient_id"].nunique()
    assert pool.groupby(SOURCE_COLUMN).size().to_dict() == {"rsna": 32, "vindr": 32}
    with_embed = manifests["loso-minus-vindr"]
    embed = with_embed[with_embed[SOURCE_COLUMN] == "embed"]
    assert embed["label"].value_counts()[["A", "B"]].tolist() == [7, 3]  # raw: A 3, B 7
    assert with_embed.attrs["classes"] == ["A", "B", "C", "D"]  # rsna's order, not [B, A, ..]
    assert (with_embed["target"] == with_embed["label"].map("ABCD".index)).all()
