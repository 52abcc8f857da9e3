"""The one atomic write: all or nothing, and its errors name the user's file."""

from __future__ import annotations

import errno

import pytest

from breastbench import jsonio


def test_a_failed_write_names_the_target_and_leaves_nothing(tmp_path):
    target = tmp_path / "predictions.csv"
    target.write_text("old\n")

    def full(tmp):
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError) as info:
        jsonio.atomic_write(target, full)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_text() == "old\n"  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv"]  # no temporary


def test_an_error_naming_another_file_is_kept(tmp_path):
    def other(tmp):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/elsewhere/x")

    with pytest.raises(FileNotFoundError) as info:
        jsonio.atomic_write(tmp_path / "a.txt", other)
    assert info.value.filename == "/elsewhere/x"
    assert list(tmp_path.iterdir()) == []


def test_success_replaces_whole(tmp_path):
    path = jsonio.write_json(tmp_path / "r.json", {"auc": float("nan")})
    assert path.read_text() == '{\n  "auc": null\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
