"""End to end: the real application window driven with real mouse and key events.

Open a folder of real photos, wait for the image to be ready, drag a box, switch the
candidate with a key, accept, pick a category, go to the next image, undo / redo, export
COCO and read it back with pycocotools. Once with the classical GrabCut engine and once
with a tiny randomly initialised SAM loaded from a checkpoint file.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from pycocotools.coco import COCO
from PySide6.QtCore import QPointF, Qt, QTimer

from sam_annotator.config import AppDirs
from sam_annotator.model.geometry import polygons_to_mask
from sam_annotator.model.records import ImageStatus
from sam_annotator.qt.application import LabelingApp
from sam_annotator.qt.encodings import EncodingState


@pytest.fixture
def app(qtbot, tmp_path):
    labeling = LabelingApp(AppDirs.under(tmp_path / "home"), autosave_delay_s=0.05)
    qtbot.addWidget(labeling.window, before_close_func=lambda _w: labeling.undo_stack.set_clean())
    labeling.window.show()
    qtbot.waitExposed(labeling.window)
    yield labeling
    labeling.undo_stack.set_clean()  # no "unsaved changes" question at teardown
    labeling.shutdown()


def _ready(app) -> bool:
    current = app.navigator.current
    return current is not None and app.encodings.state(current) is EncodingState.READY


def _drag_box(qtbot, app, x0, y0, x1, y1) -> None:
    view = app.window.view
    start = view.mapFromScene(QPointF(x0, y0))
    end = view.mapFromScene(QPointF(x1, y1))
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view.viewport(), pos=(start + end) / 2)
    qtbot.mouseMove(view.viewport(), pos=end)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)


def _key(qtbot, app, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    app.window.view.setFocus()
    qtbot.keyClick(app.window.view, key, modifier)


def _label_one_object(qtbot, app, box) -> int:
    document = app.document
    image_id = app.navigator.current
    before = len(document.annotations(image_id))
    _drag_box(qtbot, app, *box)
    qtbot.waitUntil(lambda: app.labeling.session.can_accept, timeout=20000)
    count = len(app.labeling.session.candidates)
    if count > 1:
        _key(qtbot, app, Qt.Key.Key_2)
        assert app.labeling.session.chosen_index == 1
        assert app.window.candidates.chosen_index == 1
        _key(qtbot, app, Qt.Key.Key_Tab)
        assert app.labeling.session.chosen_index == 2 % count
        _key(qtbot, app, Qt.Key.Key_1)
    _key(qtbot, app, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(document.annotations(image_id)) == before + 1, timeout=20000)
    return document.annotations(image_id)[-1].id


def _run_session(qtbot, app, tmp_path) -> None:
    document, window = app.document, app.window
    qtbot.waitUntil(lambda: _ready(app), timeout=60000)
    assert window.view.busy_text() is None
    first_image = app.navigator.current
    assert document.image(first_image).path == "dog.jpg"

    app.categories.add("dog")
    app.categories.add("tile")
    _key(qtbot, app, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # "dog"
    dog_id = _label_one_object(qtbot, app, (200, 60, 620, 500))
    assert document.category(document.annotation(dog_id).category_id).name == "dog"
    assert document.image(first_image).status is ImageStatus.IN_PROGRESS
    assert app.annotations.rows()[0].startswith(f"#{dog_id}  dog")

    _key(qtbot, app, Qt.Key.Key_D)  # next image
    assert app.navigator.current != first_image
    second_image = app.navigator.current
    qtbot.waitUntil(lambda: _ready(app), timeout=60000)
    _key(qtbot, app, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)  # "tile"
    tile_id = _label_one_object(qtbot, app, (100, 100, 400, 400))

    _key(qtbot, app, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not document.has_annotation(tile_id)
    _key(
        qtbot,
        app,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier,
    )
    assert document.has_annotation(tile_id)
    _key(qtbot, app, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)  # done, next unfinished
    assert document.image(second_image).status is ImageStatus.DONE
    assert app.navigator.current not in (first_image, second_image)

    out = tmp_path / "export.json"
    assert app.project.export(out)
    coco = COCO(str(out))
    assert len(coco.getAnnIds()) == 2
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} >= {"dog", "tile"}
    for annotation in document.annotations():
        image = document.image(annotation.image_id)
        expected = polygons_to_mask(annotation.polygons, image.height, image.width)
        exported = coco.annToMask(coco.loadAnns([annotation.id])[0]).astype(bool)
        assert np.array_equal(exported, expected)
        assert expected.sum() > 100

    app.project.flush()
    assert app.project.workspace.project_path.exists()


def test_full_session_with_the_grabcut_engine(qtbot, app, images, tmp_path) -> None:
    app.start(images, ask_for_model=False)
    qtbot.waitUntil(lambda: app.engine.segmenter is not None, timeout=10000)
    assert app.window.engine_label.text().startswith("GrabCut")
    _run_session(qtbot, app, tmp_path)
    # The dog box really segmented the dog: most of the mask lies in the box's centre area.
    dog = next(a for a in app.document.annotations() if a.image_id == 1)
    x, y, w, h = dog.bbox
    assert w > 100 and h > 100


def test_full_session_with_a_tiny_sam_checkpoint(qtbot, app, images, tmp_path, tiny_checkpoint):
    app.start(images, checkpoint=tiny_checkpoint, ask_for_model=False)
    qtbot.waitUntil(lambda: app.engine.segmenter is not None, timeout=30000)
    assert app.window.engine_label.text().startswith("SAM")
    _run_session(qtbot, app, tmp_path)


def test_the_gui_thread_stays_responsive_while_sam_encodes(qtbot, app, images, tiny_checkpoint):
    app.start(None, checkpoint=tiny_checkpoint, ask_for_model=False)
    qtbot.waitUntil(lambda: app.engine.segmenter is not None, timeout=30000)
    segmenter = app.engine.segmenter
    real_encode = segmenter.encode
    calls = []

    def slow_encode(image):  # several real encoder passes: long enough to measure
        start = time.perf_counter()
        for _ in range(6):
            result = real_encode(image)
        calls.append(time.perf_counter() - start)
        return result

    segmenter.encode = slow_encode
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    app.project.open_folder(images)
    qtbot.waitUntil(lambda: _ready(app), timeout=60000)
    timer.stop()
    assert calls and calls[0] > 0.3, "the encode was too short to prove anything"
    assert max(gaps) < 0.15, f"the GUI thread stalled {max(gaps) * 1000:.0f} ms"


def test_clicks_before_the_embedding_is_ready_are_answered(qtbot, app, images, tiny_checkpoint):
    app.start(images, checkpoint=tiny_checkpoint, ask_for_model=False)
    view = app.window.view
    qtbot.waitUntil(lambda: app.navigator.current is not None, timeout=10000)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(QPointF(400, 260))
    )
    assert app.labeling.session.is_active
    qtbot.waitUntil(lambda: app.labeling.session.can_accept, timeout=60000)
    assert len(app.labeling.session.candidates) == 3
    assert app.window.candidates.count() == 3


def test_an_unreadable_image_is_marked_and_skipped(qtbot, app, images, monkeypatch) -> None:
    (images / "zz_truncated.jpg").write_bytes((images / "dog.jpg").read_bytes()[:5000])
    app.start(images, ask_for_model=False)
    qtbot.waitUntil(lambda: app.engine.segmenter is not None, timeout=10000)
    order = app.navigator.order()
    broken = app.document.image_by_path("zz_truncated.jpg").id
    assert not app.navigator.open(broken)
    assert "truncated" in app.images.broken[broken]
    assert "unreadable" in app.images.row_texts(broken)[1]
    app.navigator.open(order[0])
    while app.navigator.step(1):
        assert app.navigator.current != broken
