"""Project file round trip, atomic replacement, and the Autosaver's guarantees."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import sam_annotator.io.project as project
from sam_annotator.io.project import (
    AutosaveError,
    Autosaver,
    ProjectFormatError,
    load_project,
    save_project,
)
from sam_annotator.model.commands import (
    AddAnnotation,
    AddCategory,
    EditPolygon,
    ReorderCategories,
    SetImageStatus,
)
from sam_annotator.model.document import Document
from sam_annotator.model.records import ImageStatus
from sam_annotator.model.rle import Rle
from sam_annotator.model.undo_stack import UndoStack
from tests.faults.autosave_worker import build_document, circle

SQUARE = [[1.0, 1.0, 9.0, 1.0, 9.0, 9.0, 1.0, 9.0]]


@pytest.fixture
def edited(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    document = Document(images)
    document.add_image("a.jpg", 20, 10, extra={"license": 2})
    document.add_image("sub/b.jpg", 20, 10)
    document.info = {"description": "kept"}
    document.extra = {"type": "instances"}
    stack = UndoStack(document)
    stack.push(AddCategory("cat", color="#112233", supercategory="animal"))
    stack.push(AddCategory("dog"))
    stack.push(ReorderCategories([2, 1]))
    stack.push(AddAnnotation(document.make_annotation(1, 1, SQUARE, extra={"score": 0.5})))
    crowd = Rle.from_coco({"size": [10, 20], "counts": [5, 10, 185]})
    stack.push(AddAnnotation(document.make_annotation(2, 2, crowd, iscrowd=True)))
    stack.push(SetImageStatus(2, ImageStatus.DONE))
    return document


def test_round_trip_restores_everything(edited, tmp_path):
    path = tmp_path / "work" / "p.samproj"
    path.parent.mkdir()
    save_project(edited, path)
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["images_root"] == "../images"  # relative
    loaded = load_project(path)
    assert loaded.snapshot() == edited.snapshot()
    assert [c.name for c in loaded.categories()] == ["dog", "cat"]
    assert loaded.image(2).status is ImageStatus.DONE
    assert loaded.category(1).color == "#112233"
    assert loaded.annotations(2)[0].segmentation.counts == (5, 10, 185)
    # new ids continue above the loaded ones
    assert loaded.make_annotation(1, 1, SQUARE).id == 3


def test_default_project_path_is_beside_the_images(tmp_path):
    assert project.default_project_path(tmp_path) == tmp_path / "sam_annotator_project.json"


def test_bad_project_files_are_named(tmp_path, edited):
    path = tmp_path / "p.samproj"
    path.write_text("{")
    with pytest.raises(ProjectFormatError, match="not valid JSON"):
        load_project(path)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ProjectFormatError, match="not a sam-annotator project"):
        load_project(path)
    save_project(edited, path)
    data = json.loads(path.read_text())
    data["version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ProjectFormatError, match="newer"):
        load_project(path)
    data["version"] = 1
    data["annotations"][1]["category_id"] = "x"
    path.write_text(json.dumps(data))
    with pytest.raises(ProjectFormatError, match=r"annotations\[1\] \(id 2\)"):
        load_project(path)


def test_readers_never_see_a_partial_file_while_saves_run(tmp_path):
    """Atomicity without a crash: a reader polling the file only ever parses whole saves."""
    document, stack = build_document(tmp_path)
    path = tmp_path / "p.samproj"
    save_project(document, path)
    stop = threading.Event()
    saves = []

    def keep_saving():
        while not stop.is_set():
            save_project(document.snapshot(), path)
            saves.append(1)

    writer = threading.Thread(target=keep_saving)
    writer.start()
    reads = 0
    try:
        while len(saves) < 20 or reads < 20:  # both sides did enough: no clock involved
            json.loads(path.read_bytes())  # raises on a partial file
            reads += 1
    finally:
        stop.set()
        writer.join()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_autosaver_debounces_a_burst_into_few_writes(tmp_path, monkeypatch):
    writes = []
    real_save = project.save_project
    monkeypatch.setattr(project, "save_project", lambda s, p: (writes.append(1), real_save(s, p)))
    document = Document(tmp_path)
    document.add_image("a.jpg", 20, 10)
    stack = UndoStack(document)
    path = tmp_path / "p.samproj"
    with Autosaver(document, path, delay_s=0.3) as saver:
        stack.push(AddCategory("c"))
        for x in range(30):
            polygon = [[1.0 + x * 0.1, 1.0, 9.0, 1.0, 9.0, 9.0]]
            stack.push(AddAnnotation(document.make_annotation(1, 1, polygon)))
        assert saver.has_unsaved_changes and not path.exists()  # still within the delay
        saver.flush()
        assert not saver.has_unsaved_changes
    assert len(writes) == 1
    assert load_project(path).annotation_count() == 30


@pytest.mark.timeout(60)
def test_autosaver_delay_is_bounded_while_edits_keep_coming(tmp_path):
    """Edits never stop, yet a save lands (a debounce that restarted at every edit would
    never save: this test would then run into its timeout)."""
    document = Document(tmp_path)
    document.add_image("a.jpg", 20, 10)
    stack = UndoStack(document)
    stack.push(AddCategory("c"))
    annotation = document.make_annotation(1, 1, SQUARE)
    stack.push(AddAnnotation(annotation))
    path = tmp_path / "p.samproj"
    saved = threading.Event()
    with Autosaver(document, path, delay_s=0.05, on_state=lambda _state: saved.set()):
        edits = 0
        while not saved.wait(0.002):  # an edit every 2 ms until the first save lands
            stack.push(
                EditPolygon(annotation.id, SQUARE if stack.index % 2 else [[0, 0, 5, 0, 5, 5]])
            )
            edits += 1
        assert path.exists() and edits > 1


def test_flush_saves_the_latest_state_and_close_stops_listening(tmp_path):
    document = Document(tmp_path)
    document.add_image("a.jpg", 64, 64)
    stack = UndoStack(document)
    path = tmp_path / "p.samproj"
    saver = Autosaver(document, path, delay_s=10)  # only flush() makes it write soon
    stack.push(AddCategory("c"))
    for i in range(5):
        stack.push(AddAnnotation(document.make_annotation(1, 1, circle(32, 32, 5 + i))))
        saver.flush(timeout=5)
        assert load_project(path).snapshot() == document.snapshot()
    saver.close()
    saver.close()  # idempotent
    stack.undo()  # the thread has stopped: a write now could only happen in this call
    assert load_project(path).annotation_count() == 5  # no longer listening


def test_flush_from_another_thread_while_editing(tmp_path):
    document = Document(tmp_path)
    document.add_image("a.jpg", 64, 64)
    stack = UndoStack(document)
    stack.push(AddCategory("c"))
    path = tmp_path / "p.samproj"
    errors = []
    with Autosaver(document, path, delay_s=0.01) as saver:

        def flusher():
            try:
                for _ in range(20):
                    saver.flush(timeout=5)
            except Exception as error:  # collected for the assertion below
                errors.append(error)

        thread = threading.Thread(target=flusher)
        thread.start()
        for i in range(40):
            stack.push(AddAnnotation(document.make_annotation(1, 1, circle(32, 32, 3 + i % 20))))
        thread.join()
    assert errors == []
    assert load_project(path).annotation_count() == 40


def test_write_errors_are_reported_and_retried(tmp_path):
    document = Document(tmp_path)
    document.add_image("a.jpg", 20, 10)
    stack = UndoStack(document)
    path = tmp_path / "missing-folder" / "p.samproj"
    reported = []
    saver = Autosaver(document, path, delay_s=0.01, on_error=reported.append)
    stack.push(AddCategory("c"))
    with pytest.raises(AutosaveError, match="failed"):
        saver.flush(timeout=5)
    assert reported and isinstance(reported[0], OSError)
    path.parent.mkdir()
    stack.push(AddCategory("d"))
    saver.flush(timeout=5)
    saver.close()
    assert [c.name for c in load_project(path).categories()] == ["c", "d"]


def test_masks_survive_the_project_file_exactly(tmp_path):
    document = Document(tmp_path)
    document.add_image("a.jpg", 40, 30)
    document.insert_category(document.make_category("c"))
    rng = np.random.default_rng(0)
    mask = rng.random((30, 40)) < 0.5
    document.insert_annotations([document.make_annotation(1, 1, Rle.from_mask(mask))])
    path = tmp_path / "p.samproj"
    save_project(document, path)
    np.testing.assert_array_equal(load_project(path).annotations()[0].segmentation.to_mask(), mask)
