"""The review pass in the real window, with real keys: V starts it at the most doubtful
annotation, Enter marks reviewed, X rejects (undoable), Tab skips, a brush fix then Enter,
across images; the images list filters by "has unreviewed annotations"."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, QRectF, Qt

from sam_annotator.model.commands import AddAnnotations


def square(x, y, side):
    return [[x, y, x + side, y, x + side, y + side, x, y + side]]


@pytest.fixture
def app(gray_app):
    return gray_app(("a.png", "b.png", "c.png"), (300, 200))


@pytest.fixture
def proposals(app):
    """Image a: a sure and a doubtful proposal (as `auto` stores them); b: none; c: one
    drawn by hand. Returns their ids: sure, doubtful, drawn."""
    document = app.document
    a, _b, c = (image.id for image in document.images())
    category = app.labeling.current_category()
    made = [
        document.make_annotation(a, category, square(10, 10, 50), extra={"predicted_iou": 0.95}),
        document.make_annotation(a, category, square(100, 50, 40), extra={"predicted_iou": 0.61}),
        document.make_annotation(c, category, square(150, 100, 30)),
    ]
    app.undo_stack.push(AddAnnotations(made))
    return [annotation.id for annotation in made]


def key(qtbot, app, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    app.window.view.setFocus()
    qtbot.keyClick(app.window.view, key, modifier)


def status(app) -> str:
    return app.window.statusBar().currentMessage()


def test_accept_reject_and_skip_across_images(qtbot, app, proposals):
    sure, doubtful, drawn = proposals
    document, images = app.document, [image.id for image in app.document.images()]
    view = app.window.view
    before = view.mapToScene(0, 0)
    key(qtbot, app, Qt.Key.Key_V)
    assert app.review.current == doubtful  # the lowest predicted IoU first
    assert view.mapToScene(0, 0) == before  # it is in view already: the canvas stays
    assert app.labeling.selected == doubtful
    assert "predicted iou 0.61" in status(app) and "(3 left)" in status(app)
    key(qtbot, app, Qt.Key.Key_Return)  # accept
    assert document.annotation(doubtful).reviewed
    assert app.review.current == sure
    key(qtbot, app, Qt.Key.Key_X)  # reject: deleted, and on to the next image with work
    assert not document.has_annotation(sure)
    assert app.navigator.current == images[2] and app.review.current == drawn
    key(qtbot, app, Qt.Key.Key_Tab)  # skipping the last one left keeps it
    assert app.review.current == drawn and "only annotation left" in status(app)
    key(qtbot, app, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the reject
    assert document.has_annotation(sure) and not document.annotation(sure).reviewed
    key(qtbot, app, Qt.Key.Key_Tab)
    assert app.review.current == sure and app.navigator.current == images[0]
    key(qtbot, app, Qt.Key.Key_Return)
    key(qtbot, app, Qt.Key.Key_Return)
    assert document.annotation(drawn).reviewed
    assert not app.review.active and "every annotation is reviewed" in status(app)


def test_fix_with_the_brush_then_accept(qtbot, app, proposals):
    _sure, doubtful, _drawn = proposals
    document, view = app.document, app.window.view
    key(qtbot, app, Qt.Key.Key_V)
    before = document.annotation(doubtful).area
    key(qtbot, app, Qt.Key.Key_B)  # paints on the annotation under review
    start, end = view.mapFromScene(QPointF(120, 70)), view.mapFromScene(QPointF(250, 70))
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view.viewport(), pos=end)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    key(qtbot, app, Qt.Key.Key_Return)  # Enter ends the brush: the shape is replaced
    qtbot.waitUntil(lambda: document.annotation(doubtful).area > before)
    assert app.review.current == doubtful and not document.annotation(doubtful).reviewed
    key(qtbot, app, Qt.Key.Key_Return)  # and now accepts the fixed annotation
    assert document.annotation(doubtful).reviewed
    key(qtbot, app, Qt.Key.Key_Escape)
    assert not app.review.active


def test_the_images_list_filters_by_unreviewed_annotations(qtbot, app, proposals):
    dock, images = app.images, [image.id for image in app.document.images()]
    dock.status_filter.setCurrentText("Has unreviewed annotations")
    assert dock.visible_images() == [images[0], images[2]]
    key(qtbot, app, Qt.Key.Key_V)
    for _ in range(2):
        key(qtbot, app, Qt.Key.Key_Return)  # both of image a
    assert dock.visible_images() == [images[2]]
    dock.status_filter.setCurrentText("To do")
    assert images[1] in dock.visible_images()


def test_an_annotation_out_of_view_is_brought_into_view(qtbot, app, proposals):
    _sure, doubtful, _drawn = proposals
    view = app.window.view
    view.zoom_by(3.0, QPointF(view.mapFromScene(QPointF(0, 0))))  # the top-left corner only
    zoom = view.zoom()
    key(qtbot, app, Qt.Key.Key_V)
    assert app.review.current == doubtful
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(QRectF(*app.document.annotation(doubtful).bbox))
    assert view.zoom() == zoom
