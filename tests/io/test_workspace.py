"""Opening a folder as a workspace: new, restored from the autosave, or from a COCO file."""

from __future__ import annotations

import json
import shutil

import pytest

from sam_annotator.io import workspace as workspace_module
from sam_annotator.io.coco import CocoFormatError, write_coco
from sam_annotator.io.project import default_project_path, save_project
from sam_annotator.io.workspace import open_workspace, project_path_for


@pytest.fixture
def folder(tmp_path, real_data):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    shutil.copy(real_data / "images" / "dog.jpg", images / "dog.jpg")
    shutil.copy(real_data / "images" / "leaf_flies_exif6.jpeg", images / "sub" / "leaf.jpeg")
    (images / "broken.jpg").write_bytes(b"this is not a jpeg")
    return images


def test_new_folder_lists_images_with_displayed_sizes_and_reports_unreadable(tmp_path, folder):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    paths = {image.path: (image.width, image.height) for image in ws.document.images()}
    assert paths == {"dog.jpg": (800, 534), "sub/leaf.jpeg": (2592, 3888)}  # EXIF applied
    assert set(ws.unreadable) == {"broken.jpg"}
    assert "not an image" in ws.unreadable["broken.jpg"]
    assert [c.name for c in ws.document.categories()] == ["object"]
    assert ws.project_path == default_project_path(folder.resolve())


def test_reopening_restores_the_autosaved_state_and_adds_new_files(tmp_path, folder, real_data):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    document = ws.document
    dog = document.image_by_path("dog.jpg")
    square = [[10.0, 10.0, 60.0, 10.0, 60.0, 60.0, 10.0, 60.0]]
    category = document.categories()[0].id
    document.insert_annotations([document.make_annotation(dog.id, category, square)])
    save_project(document, ws.project_path)
    shutil.copy(real_data / "images" / "chelsea.png", folder / "chelsea.png")
    (folder / "dog.jpg").rename(folder / "dog_moved.jpg")

    again = open_workspace(folder, data_dir=tmp_path / "data")
    restored = again.document.image_by_path("dog.jpg")
    assert restored is not None and restored.id == dog.id
    (annotation,) = again.document.annotations(dog.id)
    assert annotation.area == 2500
    assert again.document.image_by_path("chelsea.png") is not None
    assert again.missing == ["dog.jpg"]


def test_a_coco_file_replaces_the_state_and_the_old_project_is_kept(tmp_path, folder):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    save_project(ws.document, ws.project_path)
    coco = tmp_path / "labels.json"
    write_coco(ws.document, coco)
    data = json.loads(coco.read_text())
    data["categories"] = [{"id": 7, "name": "tree", "supercategory": "plant"}]
    coco.write_text(json.dumps(data))

    imported = open_workspace(folder, data_dir=tmp_path / "data", coco=coco)
    assert [(c.id, c.name) for c in imported.document.categories()] == [(7, "tree")]
    assert imported.backup is not None and imported.backup.exists()
    assert not ws.project_path.exists()  # moved to the backup, rewritten by the autosave


def test_a_malformed_coco_file_changes_nothing(tmp_path, folder):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    save_project(ws.document, ws.project_path)
    before = ws.project_path.read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [], "annotations": [{"id": 1}], "categories": []}')
    with pytest.raises(CocoFormatError, match="annotations"):
        open_workspace(folder, data_dir=tmp_path / "data", coco=bad)
    assert ws.project_path.read_bytes() == before


def test_read_only_folder_keeps_its_project_in_the_data_dir(tmp_path, folder, monkeypatch):
    monkeypatch.setattr(workspace_module.os, "access", lambda path, mode: False)
    path = project_path_for(folder, tmp_path / "data")
    assert path.parent == tmp_path / "data" / "projects"
    assert path.name.startswith("images-") and path != project_path_for(
        tmp_path / "other", tmp_path / "data"
    )


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        open_workspace(tmp_path / "nope", data_dir=tmp_path / "data")
