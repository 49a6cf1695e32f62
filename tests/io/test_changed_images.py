"""An image file replaced or re-rotated since the project was saved (issue 14, item 4).

The project remembers each file's size, modification time and a content fingerprint;
opening the folder again notices a changed file, takes its real width/height, and says
what happened to the annotations drawn on the old picture (kept, re-measured, listed).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from PIL import Image

from sam_annotator.io.coco import document_to_coco
from sam_annotator.io.image_changes import refresh_changed_images
from sam_annotator.io.images import image_size
from sam_annotator.io.project import load_project, save_project
from sam_annotator.io.workspace import open_workspace

SQUARE = [[10.0, 10.0, 60.0, 10.0, 60.0, 60.0, 10.0, 60.0]]


@pytest.fixture
def folder(tmp_path, real_data):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(real_data / "images" / "dog.jpg", images / "dog.jpg")  # 800x534
    shutil.copy(real_data / "images" / "chelsea.png", images / "chelsea.png")
    return images


def annotate(ws, path):
    document = ws.document
    image = document.image_by_path(path)
    category = document.categories()[0].id
    document.insert_annotations([document.make_annotation(image.id, category, SQUARE)])
    save_project(document, ws.project_path)
    return image


def rotate_in_place(file):
    """The same photo saved again turned a quarter (a new file with other dimensions)."""
    with Image.open(file) as photo:
        turned = photo.transpose(Image.Transpose.ROTATE_90)
    turned.save(file, format="JPEG", quality=90)


def test_a_re_rotated_image_gets_its_real_size_and_the_user_is_told(tmp_path, folder):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    dog = annotate(ws, "dog.jpg")
    assert (dog.width, dog.height) == (800, 534)
    rotate_in_place(folder / "dog.jpg")
    assert image_size(folder / "dog.jpg") == (534, 800)

    again = open_workspace(folder, data_dir=tmp_path / "data")
    record = again.document.image_by_path("dog.jpg")
    assert (record.width, record.height) == (534, 800)
    (change,) = again.changed
    assert change.path == "dog.jpg"
    assert (change.old_size, change.new_size, change.annotations) == ((800, 534), (534, 800), 1)
    assert "1 annotation" in change.describe() and "534x800" in change.describe()
    (annotation,) = again.document.annotations(record.id)  # kept, measured on the new size
    assert annotation.area == 2500 and annotation.bbox == (10.0, 10.0, 50.0, 50.0)
    coco = document_to_coco(again.document)
    (exported,) = [i for i in coco["images"] if i["file_name"] == "dog.jpg"]
    assert (exported["width"], exported["height"]) == (534, 800)
    # New annotations on the new picture are measured in its frame, not clipped to 0.
    far = [[500.0, 700.0, 530.0, 700.0, 530.0, 790.0]]
    new = again.document.make_annotation(record.id, annotation.category_id, far)
    assert new.area > 0


def test_an_unchanged_folder_reports_nothing_and_a_touch_is_not_a_change(tmp_path, folder):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    annotate(ws, "dog.jpg")
    assert open_workspace(folder, data_dir=tmp_path / "data").changed == []
    os.utime(folder / "dog.jpg", (1, 1))  # same bytes, another time: not a change
    assert open_workspace(folder, data_dir=tmp_path / "data").changed == []


def test_same_size_other_pixels_is_listed(tmp_path, folder):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    annotate(ws, "dog.jpg")
    with Image.open(folder / "dog.jpg") as photo:
        photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "dog.jpg", quality=90)
    (change,) = open_workspace(folder, data_dir=tmp_path / "data").changed
    assert change.old_size == change.new_size == (800, 534)
    assert "content changed" in change.describe()


def test_the_fingerprints_are_kept_in_the_project_file_not_in_coco(tmp_path, folder):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    save_project(ws.document, ws.project_path)
    stored = json.loads(ws.project_path.read_text())["images"]
    assert all(entry["file_stamp"]["size"] > 0 for entry in stored)
    assert load_project(ws.project_path).image_by_path("dog.jpg").file_stamp is not None
    assert all("file_stamp" not in i for i in document_to_coco(ws.document)["images"])


def test_a_file_changed_during_the_session_is_caught_before_export(tmp_path, folder):
    ws = open_workspace(folder, data_dir=tmp_path / "data")
    annotate(ws, "dog.jpg")
    rotate_in_place(folder / "dog.jpg")
    (change,) = refresh_changed_images(ws.document, folder)
    assert change.new_size == (534, 800)
    assert refresh_changed_images(ws.document, folder) == []
