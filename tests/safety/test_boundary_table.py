"""The file-system boundary as a table: output paths, permissions, signals, names, weights.

Every row runs the real CLI and asserts its exit code; when it is an error, exactly one
``error:`` line on stderr naming the path or field and no traceback; no temporary left; and
no file outside the row's output folder changed (the row snapshots the tree around it).

One tiny experiment is trained once per module (fixture ``trained``), with hostile names:
experiment ``../exp``, model label ``../../y $_$`` (a path and invalid mathtext) and classes
``../b`` and ``$m``; that fixture is itself the "names are not paths" test, and rows copy its
output folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from harness import (  # noqa: E402
    assert_unchanged,
    changes,
    command,
    env,
    one_error_line,
    run_cli,
    snapshot,
    spawn,
    temporaries,
)

from breastbench import cli  # noqa: E402
from breastbench.boundary import Terminated  # noqa: E402
from breastbench.data import synthesize  # noqa: E402

LABEL = "../../y $_$"
CLASSES = {"benign": "../b", "malignant": "$m"}


def experiment(root: Path, out: Path, **changes_) -> dict:
    """A one-configuration experiment (tiny CNN, 2 folds, 1 epoch) on the synthetic data."""
    cfg = {
        "name": "../exp",
        "output_dir": str(out),
        "seed": 0,
        "synthetic": True,
        "datasets": [
            {
                "name": "bh",
                "source": "synthetic-breakhis",
                "root": str(root / "data" / "bh"),
                "task": "binary",
                "magnifications": [200],
                "label_map": CLASSES,
            }
        ],
        "models": [{"name": "cnn/test-resnet", "label": LABEL, "modes": ["finetune"]}],
        "cv": {"k": 2, "seed": 0},
        "training": {"epochs": 1, "batch_size": 16, "save_checkpoints": "first_fold"},
    }
    cfg.update(changes_)
    return cfg


def write_yaml(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The names-are-not-paths run: every path it writes lies inside its output folder."""
    base = tmp_path_factory.mktemp("trained")
    synthesize("synthetic-breakhis", base / "data" / "bh", seed=0)
    out = base / "deep" / "nest" / "out"
    cfg = write_yaml(base / "e.yaml", experiment(base, out))
    before = snapshot(base)
    rc, _, err = run_cli(["run", cfg, "--no-explain"], cwd=base)
    assert rc == 0, err
    after = snapshot(base)
    assert_unchanged(before, after, allowed_root=out)
    written = [p for p in changes(before, after) if Path(p) not in out.parents]
    assert written and all(Path(p).resolve().is_relative_to(out.resolve()) for p in written)
    assert not (base / "y").exists() and not (base / "deep" / "y").exists()
    assert temporaries(base) == []
    return base, out


def test_names_are_not_paths(trained):
    """Label ``../../y``, experiment ``../exp``, classes ``../b`` / ``$m``: all stay inside."""
    base, out = trained
    (run,) = [p for p in (out / "runs").iterdir() if (p / "checkpoint").is_dir()]
    assert "..%2F..%2Fy" in run.name and run.parent == out / "runs"
    head = (run / "predictions.csv").read_text().splitlines()[0]
    assert "prob_../b" in head and "prob_$m" in head
    assert (out / "report" / "report.html").is_file()
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(out.resolve()), path


def test_dataset_named_like_a_path_is_refused(trained, tmp_path):
    base, _ = trained
    for i, name in enumerate(("../x", ".hidden", "a/b")):
        cfg = experiment(base, tmp_path / "out")
        cfg["datasets"][0]["name"] = name
        path = write_yaml(tmp_path / f"d{i}.yaml", cfg)
        before = snapshot(tmp_path.parent)
        rc, _, err = run_cli(["run", path], cwd=tmp_path)
        assert rc == 2
        one_error_line(err, "datasets[0].name")
        assert_unchanged(before, snapshot(tmp_path.parent))


# ------------------------------------------------------------------------------ report -o
@pytest.fixture
def copy(trained, tmp_path):
    """A private copy of the trained run folder, and the tree the row snapshots."""
    _, out = trained
    dst = tmp_path / "out"
    shutil.copytree(out, dst, symlinks=True)
    return tmp_path, dst


def _report_row(tmp, argv, rc_expected, needles=(), allowed=None, home=None, monkeypatch=None):
    before = snapshot(tmp)
    rc, out, err = run_cli(["report", *argv, "--no-explain"], cwd=tmp)
    after = snapshot(tmp)
    assert rc == rc_expected, err
    if rc_expected:
        one_error_line(err, *needles)
    assert_unchanged(before, after, allowed)
    assert temporaries(tmp) == []
    return out, err


def test_report_into_the_run_folder_itself_deletes_nothing(copy):
    tmp, out = copy
    _report_row(tmp, [out, "-o", out], 2, ("-o", "run folder"))
    assert (out / "runs").is_dir() and (out / "manifests").is_dir()


def test_report_into_a_folder_with_files_deletes_nothing(copy):
    tmp, out = copy
    (tmp / "mine").mkdir()
    (tmp / "mine" / "keep.txt").write_text("keep")
    _report_row(tmp, [out, "-o", tmp / "mine"], 2, ("keep.txt", "did not write"))
    assert (tmp / "mine" / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize("inside", ["runs", "summary", "manifests", "cache", "runs/new"])
def test_report_into_the_run_folders_own_files_is_refused(copy, inside):
    tmp, out = copy
    _report_row(tmp, [out, "-o", out / inside], 2, ("-o", "run folder"))


def test_report_onto_a_file_is_refused(copy):
    tmp, out = copy
    (tmp / "f").write_text("x")
    _report_row(tmp, [out, "-o", tmp / "f"], 2, ("is a file",))
    _report_row(tmp, [out, "-o", tmp / "f" / "sub"], 2, ("is a file, not a folder",))


@pytest.mark.parametrize("where", ["new/deeper", "empty"])
def test_report_into_a_new_or_empty_folder(copy, where):
    tmp, out = copy
    (tmp / "empty").mkdir()
    dest = tmp / where
    _report_row(tmp, [out, "-o", dest], 0, allowed=[dest, tmp / "new", out / "summary"])
    record = json.loads((dest / "breastbench-report.json").read_text())
    assert "report.html" in record["files"]


def test_report_rebuilt_in_place_twice(copy):
    tmp, out = copy
    for _ in range(2):
        _report_row(tmp, [out], 0, allowed=[out / "report", out / "summary"])


def test_report_with_a_users_file_in_the_report_folder_is_refused(copy):
    tmp, out = copy
    (out / "report" / "notes.txt").write_text("mine")
    _report_row(tmp, [out], 2, ("notes.txt",))


def test_symlinked_report_folder_is_written_where_it_points(copy):
    tmp, out = copy
    target = tmp / "elsewhere"
    shutil.move(out / "report", target)
    (out / "report").symlink_to(target)
    _report_row(tmp, [out], 0, allowed=[target, out / "summary"])
    assert (out / "report").is_symlink() and os.readlink(out / "report") == str(target)
    assert [p.name for p in tmp.iterdir() if p.name.startswith(".")] == []
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_report_out_expands_home(copy, monkeypatch):
    tmp, out = copy
    monkeypatch.setenv("HOME", str(tmp / "home"))
    (tmp / "home").mkdir()
    _report_row(tmp, [out, "-o", "~/rep"], 0, allowed=[tmp / "home", out / "summary"])
    assert (tmp / "home" / "rep" / "report.html").is_file() and not (tmp / "~").exists()


def test_report_on_a_wrong_folder_writes_nothing(tmp_path):
    (tmp_path / "notrun").mkdir()
    (tmp_path / "notrun" / "a.txt").write_text("x")
    _report_row(tmp_path, [tmp_path / "notrun"], 2, ("not a breastbench run folder",))
    _report_row(tmp_path, [tmp_path / "nope"], 2, ("nope",))
    assert not (tmp_path / "notrun" / "summary").exists()


# ------------------------------------------------------------------------------ run --out
def _run_row(tmp, cfg_path, argv, needles, allowed=None):
    before = snapshot(tmp)
    rc, _, err = run_cli(["run", cfg_path, *argv], cwd=tmp)
    assert rc == 2, err
    one_error_line(err, *needles)
    assert_unchanged(before, snapshot(tmp), allowed)
    assert temporaries(tmp) == []


@pytest.fixture
def cfg_path(trained, tmp_path):
    base, _ = trained
    return write_yaml(tmp_path / "e.yaml", experiment(base, tmp_path / "fresh"))


def test_run_out_with_files_is_refused(cfg_path, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("keep")
    _run_row(tmp_path, cfg_path, ["--out", tmp_path / "mine"], ("--out", "keep.txt"))


def test_run_out_is_a_file_or_below_one(cfg_path, tmp_path):
    (tmp_path / "f").write_text("x")
    _run_row(tmp_path, cfg_path, ["--out", tmp_path / "f"], ("is a file",))
    _run_row(tmp_path, cfg_path, ["--out", tmp_path / "f" / "o"], ("not a folder",))


def test_run_out_inside_a_run_folder_or_report_is_refused(copy, cfg_path):
    tmp, out = copy
    _run_row(tmp, cfg_path, ["--out", out / "runs" / "x"], ("inside run folder",))
    _run_row(tmp, cfg_path, ["--out", out / "report"], ("inside run folder",))
    (tmp / "rep").mkdir()
    (tmp / "rep" / "breastbench-report.json").write_text("{}")
    _run_row(tmp, cfg_path, ["--out", tmp / "rep"], ("report folder",))


def test_run_cache_dir_that_is_a_file(trained, tmp_path):
    base, _ = trained
    (tmp_path / "cachefile").write_text("x")
    cfg = experiment(base, tmp_path / "o", cache_dir=str(tmp_path / "cachefile"))
    _run_row(tmp_path, write_yaml(tmp_path / "c.yaml", cfg), [], ("cache_dir", "cachefile"))
    assert not (tmp_path / "o").exists()


def test_rerun_into_home_folder_skips_done_runs(trained, tmp_path, monkeypatch):
    base, out = trained
    home = tmp_path / "home"
    shutil.copytree(out, home / "x", symlinks=True)
    monkeypatch.setenv("HOME", str(home))
    cfg = write_yaml(tmp_path / "e.yaml", experiment(base, tmp_path / "unused"))
    before = snapshot(tmp_path)
    rc, _, err = run_cli(["run", cfg, "--out", "~/x", "--no-report"], cwd=tmp_path)
    assert rc == 0, err
    assert "2 already complete" in err
    assert_unchanged(before, snapshot(tmp_path), home / "x")
    assert temporaries(tmp_path) == [] and not (tmp_path / "~").exists()


# ------------------------------------------------------------------------------ predict
@pytest.fixture
def ckpt(trained):
    _, out = trained
    (run,) = [p for p in (out / "runs").iterdir() if (p / "checkpoint").is_dir()]
    return run / "checkpoint"


@pytest.fixture
def images(trained, tmp_path):
    base, _ = trained
    src = sorted((base / "data" / "bh").rglob("*.png"))[:3]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in src:
        shutil.copy(p, folder / p.name)
    return folder


def _predict_row(tmp, argv, rc_expected, needles=(), allowed=None):
    before = snapshot(tmp)
    rc, _, err = run_cli(["predict", *argv, "--device", "cpu"], cwd=tmp)
    assert rc == rc_expected, err
    if rc_expected:
        one_error_line(err, *needles)
    assert_unchanged(before, snapshot(tmp), allowed)
    assert temporaries(tmp) == []


def test_predict_into_a_directory(ckpt, images, tmp_path):
    (tmp_path / "d").mkdir()
    _predict_row(tmp_path, [ckpt, images, "-o", tmp_path / "d"], 2, ("-o", "is a folder"))


def test_predict_below_a_file(ckpt, images, tmp_path):
    (tmp_path / "f").write_text("x")
    _predict_row(tmp_path, [ckpt, images, "-o", tmp_path / "f" / "p.csv"], 2, ("not a folder",))


def test_predict_home_and_dirs_named_like_images(ckpt, images, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (images / "folder.png").mkdir()
    _predict_row(tmp_path, [ckpt, images, "-o", "~/p.csv"], 0, allowed=tmp_path / "home")
    lines = (tmp_path / "home" / "p.csv").read_text().splitlines()
    assert len(lines) == 4 and "prob_../b" in lines[0]


def test_predict_symlink_loop_named_png(ckpt, images, tmp_path):
    (images / "loop.png").symlink_to(images / "loop.png")
    _predict_row(tmp_path, [ckpt, images / "loop.png"], 2, ("loop.png", "symbolic link loop"))


def test_predict_non_utf8_file_name(ckpt, images, tmp_path):
    first = sorted(images.iterdir())[0]
    os.rename(first, os.path.join(os.fsencode(images), b"bad\xff.png"))
    _predict_row(tmp_path, [ckpt, images, "-o", tmp_path / "p.csv"], 2, ("UTF-8", "bad"))


def test_predict_corrupt_checkpoint(ckpt, images, tmp_path):
    bad = tmp_path / "ck"
    shutil.copytree(ckpt, bad)
    (bad / "model.safetensors").write_bytes(b"\x10\x00garbage")
    _predict_row(tmp_path, [bad, images, "-o", tmp_path / "p.csv"], 2, ("model.safetensors",))


# ------------------------------------------------------------------------------ data
@pytest.fixture
def folder_ds(tmp_path):
    from PIL import Image

    rng = __import__("numpy").random.default_rng(0)
    for c in ("benign", "malignant"):
        (tmp_path / "fds" / c).mkdir(parents=True)
        for i in range(4):
            arr = (rng.random((16, 16, 3)) * 255).astype("uint8")
            Image.fromarray(arr).save(tmp_path / "fds" / c / f"p{i}.png")
    return tmp_path / "fds"


def _data_row(tmp, argv, rc_expected, needles=(), allowed=None, as_user=None):
    before = snapshot(tmp)
    rc, _, err = run_cli(["data", *argv], cwd=tmp, as_user=as_user)
    assert rc == rc_expected, err
    if rc_expected:
        one_error_line(err, *needles)
    assert_unchanged(before, snapshot(tmp), allowed)
    assert temporaries(tmp) == []


def test_data_symlink_loop_named_png(folder_ds, tmp_path):
    (folder_ds / "benign" / "x.png").symlink_to(folder_ds / "benign" / "x.png")
    _data_row(tmp_path, ["inspect", "folder", folder_ds], 2, ("x.png", "symbolic link loop"))


def test_data_folder_named_like_an_image_is_not_an_image(folder_ds, tmp_path):
    (folder_ds / "benign" / "d.png").mkdir()
    _data_row(tmp_path, ["inspect", "folder", folder_ds], 0)


def test_data_non_utf8_file_name(folder_ds, tmp_path):
    shutil.copy(folder_ds / "benign" / "p0.png", os.fsencode(folder_ds / "benign") + b"/\xfe.png")
    _data_row(tmp_path, ["inspect", "folder", folder_ds], 2, ("UTF-8",))


def test_data_folds_output_expands_home(folder_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    argv = ["folds", "folder", folder_ds, "--k", "2", "-o", "~/m.csv"]
    _data_row(tmp_path, argv, 0, allowed=tmp_path / "home")
    assert (tmp_path / "home" / "m.csv").is_file()


# ------------------------------------------------------------------------------ weights
@pytest.mark.parametrize(
    "name, payload",
    [
        ("bad.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage"),
        ("short.safetensors", b"\x05"),
        ("text.pth", b"hello, not a pickle"),
        ("empty.pth", b""),
    ],
)
def test_weights_file_that_is_not_one(tmp_path, name, payload):
    (tmp_path / name).write_bytes(payload)
    argv = ["models", "info", "cnn/test-resnet", "--weights", tmp_path / name]
    before = snapshot(tmp_path)
    rc, _, err = run_cli(argv, cwd=tmp_path)
    assert rc == 2
    line = one_error_line(err, name, "not a weights file")
    assert "2.6" not in line
    assert_unchanged(before, snapshot(tmp_path))


def test_pickle_of_objects_is_not_a_weights_file(tmp_path):
    import torch

    torch.save({"model": Path("x")}, tmp_path / "obj.pth")
    argv = ["models", "info", "cnn/test-resnet", "--weights", tmp_path / "obj.pth"]
    rc, _, err = run_cli(argv, cwd=tmp_path)
    assert rc == 2
    line = one_error_line(err, "obj.pth", "not a weights file")
    assert "weights_only" not in line and "2.6" not in line


# ------------------------------------------------------------------------------ permissions
def _chmod(path: Path, mode: int):
    path.chmod(mode)
    return path


def test_unreadable_dataset_folder(folder_ds, tmp_path):
    _chmod(folder_ds / "benign", 0)
    try:
        _data_row(tmp_path, ["inspect", "folder", folder_ds], 2, ("benign",), as_user="nobody")
    finally:
        _chmod(folder_ds / "benign", 0o755)


def test_unreadable_experiment_file(cfg_path, tmp_path):
    _chmod(cfg_path, 0)
    try:
        rc, _, err = run_cli(["run", cfg_path], cwd=tmp_path, as_user="nobody")
        assert rc == 2
        one_error_line(err, "e.yaml")
    finally:
        _chmod(cfg_path, 0o644)


def test_run_out_in_a_read_only_folder(trained, tmp_path):
    base, _ = trained
    # the data handed to the user with the folder (the preflight checks it is readable first)
    shutil.copytree(base / "data", tmp_path / "data")
    cfg_path = write_yaml(tmp_path / "e.yaml", experiment(tmp_path, tmp_path / "fresh"))
    ro = tmp_path / "ro"
    ro.mkdir()
    _chmod(ro, 0o555)
    try:
        before = snapshot(tmp_path)
        rc, _, err = run_cli(["run", cfg_path, "--out", ro / "o"], cwd=tmp_path, as_user="nobody")
        assert rc == 2
        one_error_line(err, "ro/o")
        assert_unchanged(before, snapshot(tmp_path))
    finally:
        _chmod(ro, 0o755)


def test_report_of_a_read_only_run_folder(copy):
    tmp, out = copy
    _chmod(out, 0o555)
    try:
        before = snapshot(tmp)
        rc, _, err = run_cli(["report", out, "--no-explain"], cwd=tmp, as_user="nobody")
        assert rc == 2
        one_error_line(err, str(out))
        assert_unchanged(before, snapshot(tmp), out / "summary")  # the analysis may refresh
        assert temporaries(tmp) == []
    finally:
        _chmod(out, 0o755)


def test_unreadable_runs_folder(copy):
    tmp, out = copy
    _chmod(out / "runs", 0)
    try:
        rc, _, err = run_cli(["report", out, "--no-explain"], cwd=tmp, as_user="nobody")
        assert rc == 2
        one_error_line(err, "runs")
        assert temporaries(tmp) == []
    finally:
        _chmod(out / "runs", 0o755)


def test_unreadable_weights_file(tmp_path):
    w = tmp_path / "w.safetensors"
    w.write_bytes(b"x")
    _chmod(w, 0)
    argv = ["models", "info", "cnn/test-resnet", "--weights", w]
    rc, _, err = run_cli(argv, cwd=tmp_path, as_user="nobody")
    assert rc == 2
    one_error_line(err, "w.safetensors")


def test_predict_into_an_unwritable_folder(ckpt, images, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    _chmod(ro, 0o555)
    try:
        before = snapshot(tmp_path)
        argv = ["predict", ckpt, images, "-o", ro / "p.csv", "--device", "cpu"]
        rc, _, err = run_cli(argv, cwd=tmp_path, as_user="nobody")
        assert rc == 2
        one_error_line(err, "ro")
        assert_unchanged(before, snapshot(tmp_path))
    finally:
        _chmod(ro, 0o755)


# ------------------------------------------------------------------------------ full / RO disk
def _in_mount(tmp: Path, mount: Path, options: str, argv: list, fill: bool = False):
    """Run the CLI with a fresh tmpfs at ``mount`` (private mount namespace); skip if none."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("no unshare/root: cannot mount a read-only or full file system")
    mount.mkdir(exist_ok=True)
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", f"mount -t tmpfs -o {options} none {mount}"],
        capture_output=True,
    )
    if probe.returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    prep = f"head -c 1000000 /dev/zero > {mount}/fill 2>/dev/null; " if fill else ""
    script = f'mount -t tmpfs -o {options} none {mount} && {prep}exec "$@"'
    proc = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", *command(argv)],
        cwd=tmp,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stderr


def test_read_only_file_system(copy):
    tmp, out = copy
    rc, err = _in_mount(tmp, tmp / "ro", "ro,size=1m", ["report", out, "-o", tmp / "ro" / "r"])
    assert rc == 2
    one_error_line(err, "read-only file system", "ro")
    assert temporaries(tmp) == []


def test_no_space_left(ckpt, images, tmp_path):
    argv = ["predict", ckpt, images, "-o", tmp_path / "full" / "p.csv", "--device", "cpu"]
    rc, err = _in_mount(tmp_path, tmp_path / "full", "size=64k", argv, fill=True)
    assert rc == 2
    one_error_line(err, "no space left")


# ------------------------------------------------------------------------------ signals
def _wait_for(predicate, proc, timeout=120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_report_leaves_no_temporary(copy, sig, code):
    tmp, out = copy
    proc = spawn(["report", out, "--no-explain"], cwd=tmp)
    seen = _wait_for(lambda: any(p.name.startswith(".tmp-report-") for p in out.iterdir()), proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if seen:
        assert proc.returncode == code, err
        assert "Traceback" not in err
    assert temporaries(tmp) == []
    rc, _, err = run_cli(["report", out, "--no-explain"], cwd=tmp)
    assert rc == 0, err
    assert temporaries(tmp) == []


def _cli_with_one_command(monkeypatch, command) -> None:
    """The CLI with one sub-command, ``boom``, that runs ``command``.

    Registered the way every command group is: a module in ``cli.COMMAND_MODULES`` with
    ``register(subparsers)``.
    """
    module = types.ModuleType("boom_commands")
    module.register = lambda sub: sub.add_parser("boom").set_defaults(func=command)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(cli, "COMMAND_MODULES", (module.__name__,))


@pytest.mark.parametrize(
    "stop, code, line", [(KeyboardInterrupt, 130, "interrupted"), (Terminated, 143, "terminated")]
)
def test_a_signal_inside_an_extension_import_is_still_a_stop(monkeypatch, capsys, stop, code, line):
    """A stop raised inside an extension's import is still a stop (exit 130/143, one line).

    CI once sent SIGINT while matplotlib's Agg extension initialised: the interpreter raised
    ``ImportError: initialization failed`` from the KeyboardInterrupt and the CLI crashed with
    exit 1 and a traceback.
    """

    def command_raising(_args):
        try:
            raise stop()
        except KeyboardInterrupt as signal_:
            raise ImportError("initialization failed") from signal_

    _cli_with_one_command(monkeypatch, command_raising)
    assert cli.main(["boom"]) == code
    assert capsys.readouterr().err.strip() == line


def test_an_ordinary_exception_is_not_mistaken_for_a_stop(monkeypatch):
    def command_raising(_args):
        raise RuntimeError("a real bug")

    _cli_with_one_command(monkeypatch, command_raising)
    with pytest.raises(RuntimeError, match="a real bug"):
        cli.main(["boom"])


@pytest.mark.slow
def test_sigterm_during_run_then_clean_rerun(trained, tmp_path):
    base, _ = trained
    out = tmp_path / "o"
    cfg = write_yaml(tmp_path / "e.yaml", experiment(base, out))
    proc = spawn(["run", cfg, "--no-report"], cwd=tmp_path)
    runs = out / "runs"
    first = _wait_for(lambda: runs.is_dir() and any(runs.glob("*/metrics.json")), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if first and proc.returncode != 0:
        assert proc.returncode == 143 and "Traceback" not in err, err
    assert temporaries(tmp_path) == []
    rc, _, err = run_cli(["run", cfg, "--no-report"], cwd=tmp_path)
    assert rc == 0, err
    assert len(list(runs.glob("*/metrics.json"))) == 2
    assert temporaries(tmp_path) == []


def _catches(pid: int, sig: int) -> bool:
    """True when process ``pid`` has a handler for ``sig`` (``SigCgt`` in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt:")), "0")
    return bool(int(mask, 16) >> (sig - 1) & 1)


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143)])  # Ctrl-C: the progress tests
def test_signal_during_predict_leaves_no_half_file(ckpt, images, tmp_path, sig, code):
    """A killed ``predict -o``: the CSV is whole or absent, no temporary, and a rerun works."""
    many = tmp_path / "many"
    many.mkdir()
    for i in range(150):  # enough images that the signal lands while predicting
        for p in images.iterdir():
            shutil.copy(p, many / f"{i}_{p.name}")
    target = tmp_path / "p.csv"
    argv = ["predict", ckpt, many, "-o", target, "--device", "cpu"]
    proc = spawn(argv, cwd=tmp_path)
    # the command's boundary is in place once the process catches SIGTERM (SigCgt, bit 15)
    started = _wait_for(lambda: _catches(proc.pid, signal.SIGTERM), proc)
    time.sleep(1.0)  # into loading the checkpoint and predicting
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if started and proc.returncode != 0:
        assert proc.returncode == code and "Traceback" not in err, err
        assert not target.exists()  # nothing half-written
    assert temporaries(tmp_path) == []
    rc, _, err = run_cli(argv, cwd=tmp_path)
    assert rc == 0, err
    assert len(target.read_text().splitlines()) == 1 + 150 * 3
    assert temporaries(tmp_path) == []
