"""Opening folders that real datasets contain without losing work (issue 14).

A read-only images folder, two imports in one second, orphaned temporary files from a
killed autosave, folder symlink loops and file names that are not valid UTF-8.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

import pytest

from sam_annotator.io import workspace as workspace_module
from sam_annotator.io.coco import read_coco, write_coco
from sam_annotator.io.images import list_images, scan_images
from sam_annotator.io.project import load_project, save_project
from sam_annotator.io.workspace import open_workspace
from tests.filesystems import read_only_copy

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file names and links")


@pytest.fixture
def folder(tmp_path, real_data):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(real_data / "images" / "dog.jpg", images / "dog.jpg")
    shutil.copy(real_data / "images" / "chelsea.png", images / "chelsea.png")
    return images


# -- 1: a read-only folder --------------------------------------------------------------------


def test_read_only_folder_gets_a_writable_project_file_in_the_data_dir(tmp_path, real_data):
    with read_only_copy([real_data / "images" / "dog.jpg"], tmp_path / "ro") as ok:
        if not ok:
            pytest.skip("cannot make a read-only folder here")
        data = tmp_path / "data"  # does not exist yet: nothing has created projects/
        ws = open_workspace(tmp_path / "ro", data_dir=data)
        assert ws.project_path.parent == data / "projects"
        assert ws.project_problem is None
        save_project(ws.document, ws.project_path)  # was FileNotFoundError
        assert load_project(ws.project_path).image_by_path("dog.jpg") is not None


def test_nowhere_writable_is_reported_with_the_reason(tmp_path, real_data):
    with read_only_copy([real_data / "images" / "dog.jpg"], tmp_path / "ro") as ok:
        if not ok:
            pytest.skip("cannot make a read-only folder here")
        ws = open_workspace(tmp_path / "ro", data_dir=tmp_path / "ro" / "data")
        assert ws.project_problem is not None
        assert str(ws.project_path.parent) in ws.project_problem


# -- 5: backups never overwrite each other ----------------------------------------------------


def test_two_coco_imports_in_the_same_second_keep_both_backups(tmp_path, folder, monkeypatch):
    monkeypatch.setattr(workspace_module.time, "strftime", lambda fmt, *a: "20260101-120000")
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    coco = tmp_path / "labels.json"
    write_coco(ws.document, coco)
    contents = []
    for generation in range(3):
        ws.document.info = {"generation": generation}  # each project file differs
        save_project(ws.document, ws.project_path)
        contents.append(ws.project_path.read_bytes())
        imported = open_workspace(folder, data_dir=tmp_path / "data", coco=coco)
        assert imported.backup is not None
        ws = imported
    backups = sorted(ws.project_path.parent.glob("*.backup-*.json"))
    assert len(backups) == 3
    assert sorted(b.read_bytes() for b in backups) == sorted(contents)


# -- 11: orphaned temporary files of a killed autosave ----------------------------------------


def test_orphaned_autosave_temp_files_are_removed_on_open(tmp_path, folder):
    project = open_workspace(folder, data_dir=tmp_path / "data").project_path
    old = time.time() - 3600
    orphan = project.with_name(f".{project.name}.0123abcd.tmp")
    fresh = project.with_name(f".{project.name}.89abcdef.tmp")  # maybe a live save
    foreign = project.with_name(".someone_else.json.0123abcd.tmp")
    lookalike = project.with_name(f".{project.name}.notours.tmp")
    for file in (orphan, fresh, foreign, lookalike):
        file.write_bytes(b"{" * 1000)
        os.utime(file, (old, old))
    os.utime(fresh, None)
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    assert not orphan.exists()
    assert fresh.exists() and foreign.exists() and lookalike.exists()
    assert ws.removed_temps == [orphan.name]
    # The owner of the project lock knows no save of its own is running: all go.
    ws = open_workspace(folder, data_dir=tmp_path / "data", temp_min_age_s=0)
    assert not fresh.exists() and foreign.exists()


# -- 9: symlink loops -------------------------------------------------------------------------


@posix_only
def test_a_folder_link_to_its_parent_lists_each_file_once(tmp_path, folder):
    (folder / "sub").mkdir()
    shutil.copy(folder / "dog.jpg", folder / "sub" / "puppy.jpg")
    (folder / "sub" / "up").symlink_to("..")
    (folder / "again").symlink_to(".")
    scan = scan_images(folder, recursive=True)
    names = [p.relative_to(folder).as_posix() for p in scan.paths]
    assert names == ["chelsea.png", "dog.jpg", "sub/puppy.jpg"]
    assert set(scan.skipped) == {"again", "sub/up"}
    assert all("already" in reason for reason in scan.skipped.values())
    assert list_images(folder, recursive=True) == scan.paths
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    assert len(ws.document.images()) == 3
    assert set(ws.skipped) == {"again", "sub/up"}


@posix_only
def test_links_to_one_file_and_file_link_loops_are_reported(tmp_path, folder):
    (folder / "alias.jpg").symlink_to("dog.jpg")
    (folder / "a.jpg").symlink_to("b.jpg")
    (folder / "b.jpg").symlink_to("a.jpg")
    (folder / "dangling.jpg").symlink_to("nowhere.jpg")
    scan = scan_images(folder, recursive=True)
    assert [p.name for p in scan.paths] == ["chelsea.png", "dog.jpg"]
    assert "dog.jpg" in scan.skipped["alias.jpg"]
    assert "loop" in scan.skipped["a.jpg"] and "loop" in scan.skipped["b.jpg"]
    assert "nowhere.jpg" in scan.skipped["dangling.jpg"]


# -- 6: file names that are not valid UTF-8 ---------------------------------------------------


@pytest.fixture
def latin1_name(folder):
    if sys.platform != "linux":
        pytest.skip("needs a file system that stores bytes names (Linux)")
    name = os.fsdecode(b"caf\xe9.jpg")  # 'caf\udce9.jpg': Latin-1 bytes on a UTF-8 system
    shutil.copy(folder / "dog.jpg", folder / name)
    return name


def test_a_non_utf8_name_round_trips_through_the_project_file(tmp_path, folder, latin1_name):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    assert ws.document.image_by_path(latin1_name) is not None
    save_project(ws.document, ws.project_path)  # was UnicodeEncodeError
    json.loads(ws.project_path.read_bytes().decode("utf-8"))  # strict UTF-8 JSON
    again = open_workspace(folder, data_dir=tmp_path / "data")
    image = again.document.image_by_path(latin1_name)
    assert image is not None and (folder / image.path).is_file()
    assert os.fsencode(folder / image.path).endswith(b"caf\xe9.jpg")
    assert len(again.document.images()) == 3  # not added a second time


def test_a_non_utf8_name_round_trips_through_a_coco_file(tmp_path, folder, latin1_name):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    coco = tmp_path / "labels.json"
    write_coco(ws.document, coco)
    json.loads(coco.read_bytes().decode("utf-8"))
    back = read_coco(coco, folder)
    assert back.image_by_path(latin1_name) is not None


def test_auto_labels_a_folder_with_a_non_utf8_name(tmp_path, latin1_name, tiny_checkpoint):
    """`sam-annotator auto` writes through the same io/ writers: the name does not stop it."""
    from PIL import Image

    from sam_annotator.__main__ import main

    folder = tmp_path / "images"
    for file in list(folder.iterdir()):  # small images keep the tiny model fast
        with Image.open(file) as photo:
            small = photo.convert("RGB").resize((64, 48))
        small.save(file, format="JPEG" if file.suffix == ".jpg" else "PNG")
    out = tmp_path / "proposals.json"
    fast = ["--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]
    args = ["auto", str(folder), "-o", str(out), "--checkpoint", str(tiny_checkpoint), *fast]
    assert main(args) == 0
    assert read_coco(out, folder).image_by_path(latin1_name) is not None
