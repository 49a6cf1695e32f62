"""The reviewed flag survives the project file, COCO and labelme: it is the annotation's
``attributes.reviewed``, where CVAT and other COCO tools keep per-object attributes."""

from __future__ import annotations

import json

from sam_annotator.io.coco import read_coco
from sam_annotator.io.coco_writer import write_coco
from sam_annotator.io.formats import format_module
from sam_annotator.io.project import load_project, save_project
from sam_annotator.model.commands import AddAnnotation, SetReviewed
from sam_annotator.model.document import Document
from sam_annotator.model.undo_stack import UndoStack

SQUARE = [[10.0, 10.0, 40.0, 10.0, 40.0, 30.0, 10.0, 30.0]]


def reviewed_document(root) -> tuple[Document, int, int]:
    document = Document(str(root))
    image = document.add_image("a.png", 64, 48)
    document.insert_category(document.make_category("thing"))
    stack = UndoStack(document)
    category = document.categories()[0].id
    done = document.make_annotation(image.id, category, SQUARE, extra={"attributes": {"x": 1}})
    todo = document.make_annotation(image.id, category, SQUARE)
    stack.push(AddAnnotation(done))
    stack.push(AddAnnotation(todo))
    stack.push(SetReviewed([done.id]))
    return document, done.id, todo.id


def test_project_and_coco_keep_the_flag(tmp_path):
    document, done, todo = reviewed_document(tmp_path)
    save_project(document, tmp_path / "project.json")
    loaded = load_project(tmp_path / "project.json")
    assert loaded.annotation(done).reviewed and not loaded.annotation(todo).reviewed
    write_coco(document, tmp_path / "coco.json")
    entries = {a["id"]: a for a in json.loads((tmp_path / "coco.json").read_text())["annotations"]}
    assert entries[done]["attributes"] == {"x": 1, "reviewed": True}
    assert "attributes" not in entries[todo]
    again = read_coco(tmp_path / "coco.json", tmp_path)
    assert again.annotation(done).reviewed and not again.annotation(todo).reviewed


def test_labelme_export_and_import_keep_the_flag(tmp_path):
    from PIL import Image

    document, done, todo = reviewed_document(tmp_path)
    Image.new("RGB", (64, 48)).save(tmp_path / "a.png")
    labelme = format_module("labelme")
    out = tmp_path / "labelme"
    labelme.write(document, out)
    shapes = json.loads((out / "a.json").read_text())["shapes"]
    assert sorted(bool(s.get("attributes", {}).get("reviewed")) for s in shapes) == [False, True]
    back, _report = labelme.read(out)
    assert sorted(a.reviewed for a in back.annotations()) == [False, True]


def test_the_masks_index_says_which_instances_were_reviewed(tmp_path):
    document, done, todo = reviewed_document(tmp_path)
    format_module("masks").write(document, tmp_path / "masks")
    index = json.loads((tmp_path / "masks" / "instances.json").read_text())
    flags = {i["annotation_id"]: i["reviewed"] for e in index["images"] for i in e["instances"]}
    assert flags == {done: True, todo: False}
