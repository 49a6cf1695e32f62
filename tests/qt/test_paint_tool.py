"""Brush and eraser in the real window, driven by real key presses and mouse drags: paint a
new mask, paint onto the model's candidate, erase from an accepted annotation (parts and
holes kept), stroke-by-stroke undo, brush size keys, and nothing lost on leaving the image."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from sam_annotator.model.commands import AddAnnotation
from sam_annotator.model.geometry import segmentation_to_mask
from sam_annotator.qt.encodings import EncodingState
from tests.qt.fakes import FakeSegmenter

W, H = 400, 300


@pytest.fixture
def app(gray_app):
    return gray_app(("a.png", "b.png"), (W, H))


def key(qtbot, app, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    app.window.view.setFocus()
    qtbot.keyClick(app.window.view, key, modifier)


def drag(qtbot, app, points, button=Qt.MouseButton.LeftButton) -> list[tuple[float, float]]:
    """A mouse drag through image points; returns the scene points the view reports."""
    view = app.window.view
    positions = [view.mapFromScene(QPointF(x, y)) for x, y in points]
    qtbot.mousePress(view.viewport(), button, pos=positions[0])
    for position in positions[1:]:
        qtbot.mouseMove(view.viewport(), pos=position)
    qtbot.mouseRelease(view.viewport(), button, pos=positions[-1])
    return [(p.x(), p.y()) for p in (view.mapToScene(q) for q in positions)]


def capsule(path, radius):
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    out = np.zeros((H, W), dtype=bool)
    for (ax, ay), (bx, by) in zip(path[:-1], path[1:], strict=True):
        dx, dy = bx - ax, by - ay
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        out |= (xs - ax - t * dx) ** 2 + (ys - ay - t * dy) ** 2 <= radius**2
    return out


def iou(a, b) -> float:
    return (a & b).sum() / max((a | b).sum(), 1)


def mask_of(app, annotation) -> np.ndarray:
    return segmentation_to_mask(annotation.segmentation, H, W)


def wait_annotations(qtbot, app, count: int) -> None:
    done = lambda: len(app.document.annotations()) == count and not app.labeling.writer.converting  # noqa: E731
    qtbot.waitUntil(done)


def test_brush_strokes_make_a_new_annotation_in_one_undoable_step(qtbot, app):
    tool, document = app.paint_tool, app.document
    key(qtbot, app, Qt.Key.Key_B)
    assert tool.active and not tool.erase and app.window.view.mode == "paint"
    first = drag(qtbot, app, [(60, 60), (200, 80), (300, 200)])
    second = drag(qtbot, app, [(50, 250), (120, 250)])
    expected = capsule(first, tool.radius) | capsule(second, tool.radius)
    np.testing.assert_array_equal(tool.painting.mask, expected)
    assert app.window.scene.has_paint_overlay()
    assert document.annotations() == ()  # nothing is written until Enter
    key(qtbot, app, Qt.Key.Key_Return)
    wait_annotations(qtbot, app, 1)
    assert not tool.active and not app.window.scene.has_paint_overlay()
    (annotation,) = document.annotations()
    assert len(annotation.polygons) == 2  # the two strokes are two parts of one object
    assert iou(mask_of(app, annotation), expected) > 0.9
    key(qtbot, app, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert document.annotations() == ()


def test_ctrl_z_removes_strokes_one_by_one_and_esc_drops_them(qtbot, app):
    tool = app.paint_tool
    key(qtbot, app, Qt.Key.Key_B)
    first = drag(qtbot, app, [(100, 100), (150, 100)])
    drag(qtbot, app, [(100, 200), (150, 220)])
    key(qtbot, app, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(tool.painting.mask, capsule(first, tool.radius))
    key(qtbot, app, Qt.Key.Key_Escape)
    assert not tool.active and app.window.view.mode == "prompt"
    assert app.document.annotations() == ()


def test_brackets_resize_the_brush_and_its_outline(qtbot, app):
    tool, scene = app.paint_tool, app.window.scene
    key(qtbot, app, Qt.Key.Key_B)
    start = tool.radius
    key(qtbot, app, Qt.Key.Key_BracketRight)
    key(qtbot, app, Qt.Key.Key_BracketRight)
    assert tool.radius == pytest.approx(start * 1.25**2)
    view = app.window.view
    qtbot.mouseMove(view.viewport(), pos=view.mapFromScene(QPointF(200, 150)))
    assert scene.brush_rect().width() == pytest.approx(2 * tool.radius)
    key(qtbot, app, Qt.Key.Key_BracketLeft)
    assert tool.radius == pytest.approx(start * 1.25)
    path = drag(qtbot, app, [(200, 150), (201, 150)])
    np.testing.assert_array_equal(tool.painting.mask, capsule(path, start * 1.25))


def test_the_eraser_cuts_an_annotation_keeping_parts_and_holes(qtbot, app):
    document, lab = app.document, app.labeling
    square = [[100.0, 50.0, 300.0, 50.0, 300.0, 250.0, 100.0, 250.0]]
    annotation = document.make_annotation(app.navigator.current, lab.current_category(), square)
    app.undo_stack.push(AddAnnotation(annotation))
    lab.select(annotation.id)
    original = mask_of(app, document.annotation(annotation.id))
    key(qtbot, app, Qt.Key.Key_E)
    assert app.paint_tool.erase
    assert app.window.scene.annotation_item(annotation.id) is None  # shown as the mask instead
    cut = drag(qtbot, app, [(90, 100), (310, 100)])  # splits the square in two parts
    dab = drag(qtbot, app, [(200, 190)])  # a hole in the lower part
    radius = app.paint_tool.radius
    expected = original & ~capsule(cut, radius) & ~capsule(dab * 2, radius)
    key(qtbot, app, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not lab.writer.converting)
    edited = document.annotation(annotation.id)
    assert len(document.annotations()) == 1  # the same annotation, a new shape
    assert len(edited.polygons) == 2
    after = mask_of(app, edited)
    assert iou(after, expected) > 0.95
    assert not after[190, 200], "the hole is kept"
    assert app.window.scene.annotation_item(annotation.id) is not None
    key(qtbot, app, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(mask_of(app, document.annotation(annotation.id)), original)


def test_painting_on_the_models_candidate_before_accepting(qtbot, app):
    segmenter = FakeSegmenter()
    app.engine.engineChanged.emit(segmenter)
    qtbot.waitUntil(lambda: app.encodings.state(app.navigator.current) is EncodingState.READY)
    view = app.window.view
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.mapFromScene(QPointF(200, 150)))  # fmt: skip
    qtbot.waitUntil(lambda: app.labeling.session.chosen is not None)
    candidate = app.labeling.session.chosen
    disc = segmenter.render(app.encodings.get(app.navigator.current), candidate, None)
    key(qtbot, app, Qt.Key.Key_B)
    assert not app.labeling.session.is_active  # the candidate went to the brush
    np.testing.assert_array_equal(app.paint_tool.painting.mask, disc)
    stripe = drag(qtbot, app, [(200, 150), (350, 150)])
    erased = drag(qtbot, app, [(200, 140)], button=Qt.MouseButton.RightButton)  # eraser
    radius = app.paint_tool.radius
    expected = (disc | capsule(stripe, radius)) & ~capsule(erased * 2, radius)
    np.testing.assert_array_equal(app.paint_tool.painting.mask, expected)
    key(qtbot, app, Qt.Key.Key_Return)
    wait_annotations(qtbot, app, 1)
    assert iou(mask_of(app, app.document.annotations()[0]), expected) > 0.95


def test_going_to_the_next_image_keeps_what_was_painted(qtbot, app):
    first_image = app.navigator.current
    key(qtbot, app, Qt.Key.Key_B)
    drag(qtbot, app, [(100, 100), (200, 120)])
    key(qtbot, app, Qt.Key.Key_D)  # next image
    wait_annotations(qtbot, app, 1)
    assert app.navigator.current != first_image
    assert app.document.annotations()[0].image_id == first_image
    assert not app.paint_tool.active and app.window.view.mode == "prompt"
