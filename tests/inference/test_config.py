"""sam_annotator.config: per-user folders and the atomic settings file (used by checkpoints)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sam_annotator.config import (
    SettingsError,
    atomic_write_text,
    load_settings,
    save_settings,
    update_settings,
)


def test_missing_settings_file_reads_as_empty(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nothing" / "settings.json") == {}


def test_save_then_load_round_trips_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "settings.json"
    save_settings(path, {"checkpoint": "/x/y.pth", "autosave_s": 30, "keys": {"accept": "Return"}})
    assert load_settings(path) == {
        "checkpoint": "/x/y.pth",
        "autosave_s": 30,
        "keys": {"accept": "Return"},
    }
    assert os.listdir(path.parent) == ["settings.json"]  # no temp file left behind


def test_update_changes_and_removes_keys(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    save_settings(path, {"a": 1, "b": 2})
    assert update_settings(path, b=None, c=3) == {"a": 1, "c": 3}
    assert load_settings(path) == {"a": 1, "c": 3}


@pytest.mark.parametrize(("text", "message"), [("{oops", "not valid JSON"), ("[1]", "JSON object")])
def test_unusable_settings_file_is_an_error_and_is_not_overwritten(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        load_settings(path)
    with pytest.raises(SettingsError):
        update_settings(path, checkpoint="/x.pth")
    assert path.read_text(encoding="utf-8") == text


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "settings.json"
    path.write_text("old", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_text(path, "new")
    assert path.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["settings.json"]
