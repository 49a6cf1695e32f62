"""The canvas turns real mouse and key events into prompts, picks and polygon edits."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QAction, QColor, QWheelEvent
from PySide6.QtWidgets import QApplication

from sam_annotator.qt.canvas.overlay import mask_overlay_rgba, qimage_from_array
from sam_annotator.qt.canvas.scene import AnnotationView, CanvasScene
from sam_annotator.qt.canvas.view import CanvasView

SQUARE = [[100.0, 100.0, 200.0, 100.0, 200.0, 200.0, 100.0, 200.0]]


@pytest.fixture
def canvas(qtbot):
    scene = CanvasScene()
    view = CanvasView(scene)
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    qtbot.waitExposed(view)
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[..., 1] = np.arange(400, dtype=np.uint8)[None, :] // 2
    scene.set_image(rgb)
    view.fit()
    return scene, view


def _viewport_point(view: CanvasView, x: float, y: float) -> QPoint:
    return view.mapFromScene(QPointF(x, y))


def test_left_click_is_a_positive_point_at_the_clicked_pixel(qtbot, canvas) -> None:
    scene, view = canvas
    with qtbot.waitSignal(view.pointPrompted) as blocker:
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=_viewport_point(view, 150, 120)
        )
    x, y, positive = blocker.args
    assert positive is True
    assert abs(x - 150) < 1.5 / view.zoom() and abs(y - 120) < 1.5 / view.zoom()


@pytest.mark.parametrize(
    ("button", "modifier"),
    [
        (Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier),
        (Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier),
    ],
)
def test_right_click_and_shift_click_are_negative(qtbot, canvas, button, modifier) -> None:
    _, view = canvas
    with qtbot.waitSignal(view.pointPrompted) as blocker:
        qtbot.mouseClick(view.viewport(), button, modifier, _viewport_point(view, 50, 60))
    assert blocker.args[2] is False


def test_click_outside_the_image_is_ignored(qtbot, canvas) -> None:
    _, view = canvas
    with qtbot.assertNotEmitted(view.pointPrompted):
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=_viewport_point(view, -10, -10)
        )


def test_left_drag_is_a_box_clamped_to_the_image(qtbot, canvas) -> None:
    scene, view = canvas
    start, end = _viewport_point(view, 350, 250), _viewport_point(view, 500, 50)
    with qtbot.waitSignal(view.boxPrompted) as blocker:
        qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(view.viewport(), pos=(start + end) / 2)
        qtbot.mouseMove(view.viewport(), pos=end)
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    x0, y0, x1, y1 = blocker.args
    tolerance = 1.5 / view.zoom()
    assert abs(x0 - 350) < tolerance and abs(y1 - 250) < tolerance
    assert abs(y0 - 50) < tolerance
    assert x1 == pytest.approx(400)  # clamped at the image's right edge
    assert scene.items()  # the rubber band is gone again:
    assert not any(type(i).__name__ == "PromptBoxItem" for i in scene.items())


def test_ctrl_click_picks_the_annotation_under_the_cursor(qtbot, canvas) -> None:
    scene, view = canvas
    scene.set_annotations([AnnotationView(7, SQUARE, QColor("red"))])
    with qtbot.waitSignal(view.annotationPicked) as blocker:
        qtbot.mouseClick(
            view.viewport(),
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.ControlModifier,
            _viewport_point(view, 150, 150),
        )
    assert blocker.args == [7]
    with qtbot.waitSignal(view.annotationPicked) as blocker:
        qtbot.mouseClick(
            view.viewport(),
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.ControlModifier,
            _viewport_point(view, 20, 20),
        )
    assert blocker.args == [None]


def test_wheel_zooms_keeping_the_point_under_the_cursor(qtbot, canvas) -> None:
    _, view = canvas
    cursor = _viewport_point(view, 100, 80)
    before = view.zoom()
    event = QWheelEvent(
        QPointF(cursor),
        QPointF(view.viewport().mapToGlobal(cursor)),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)
    assert view.zoom() > before * 1.2
    under = view.mapToScene(cursor)
    assert abs(under.x() - 100) < 2 and abs(under.y() - 80) < 2


def test_fit_shows_the_whole_image(qtbot, canvas) -> None:
    scene, view = canvas
    view.zoom_by(5)
    view.fit()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(scene.image_rect())


def test_display_mask_size_follows_zoom_and_never_exceeds_the_image(qtbot, canvas) -> None:
    _, view = canvas
    view.fit()
    h, w = view.display_mask_size()
    assert h <= 300 and w <= 400
    view.zoom_by(10)
    assert view.display_mask_size() == (300, 400)


def test_dragging_a_vertex_of_the_selected_annotation_reports_the_edit(qtbot, canvas) -> None:
    scene, view = canvas
    scene.set_annotations([AnnotationView(3, SQUARE, QColor("blue"))])
    scene.set_selected(3)
    start, end = _viewport_point(view, 200, 200), _viewport_point(view, 240, 230)
    with (
        qtbot.waitSignal(scene.polygonsEdited) as blocker,
        qtbot.assertNotEmitted(view.boxPrompted),
    ):
        qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(view.viewport(), pos=end)
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    annotation_id, polygons = blocker.args
    assert annotation_id == 3
    moved = polygons[0][4:6]
    assert abs(moved[0] - 240) < 2 / view.zoom() and abs(moved[1] - 230) < 2 / view.zoom()
    assert polygons[0][:4] == SQUARE[0][:4]


def test_right_click_on_a_handle_deletes_the_vertex(qtbot, canvas) -> None:
    scene, view = canvas
    pentagon = [[100.0, 100.0, 200.0, 100.0, 220.0, 150.0, 200.0, 200.0, 100.0, 200.0]]
    scene.set_annotations([AnnotationView(4, pentagon, QColor("blue"))])
    scene.set_selected(4)
    with (
        qtbot.waitSignal(scene.polygonsEdited) as blocker,
        qtbot.assertNotEmitted(view.pointPrompted),
    ):
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.RightButton, pos=_viewport_point(view, 220, 150)
        )
    assert blocker.args[1] == [[100.0, 100.0, 200.0, 100.0, 200.0, 200.0, 100.0, 200.0]]


def test_a_triangle_keeps_its_three_vertices(qtbot, canvas) -> None:
    scene, view = canvas
    scene.set_annotations(
        [AnnotationView(5, [[100.0, 100.0, 200.0, 100.0, 150.0, 200.0]], QColor("blue"))]
    )
    scene.set_selected(5)
    with qtbot.assertNotEmitted(scene.polygonsEdited):
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.RightButton, pos=_viewport_point(view, 150, 200)
        )


def test_double_click_on_an_edge_inserts_a_vertex(qtbot, canvas) -> None:
    scene, view = canvas
    scene.set_annotations([AnnotationView(6, SQUARE, QColor("blue"))])
    scene.set_selected(6)
    with qtbot.waitSignal(scene.polygonsEdited) as blocker:
        qtbot.mouseDClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=_viewport_point(view, 150, 100)
        )
    ring = blocker.args[1][0]
    assert len(ring) == 10
    assert abs(ring[2] - 150) < 2 and abs(ring[3] - 100) < 1e-6


def test_space_tap_triggers_its_action_and_space_drag_pans_instead(qtbot, canvas) -> None:
    _, view = canvas
    view.zoom_by(4)
    triggered = []
    action = QAction("accept", view)
    action.triggered.connect(lambda: triggered.append(True))
    view.space_action = action
    view.setFocus()
    qtbot.keyPress(view, Qt.Key.Key_Space)
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert triggered == [True]

    before = view.mapToScene(view.viewport().rect().center())
    qtbot.keyPress(view, Qt.Key.Key_Space)
    with qtbot.assertNotEmitted(view.boxPrompted), qtbot.assertNotEmitted(view.pointPrompted):
        qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(300, 200))
        qtbot.mouseMove(view.viewport(), pos=QPoint(200, 150))
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(200, 150))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    after = view.mapToScene(view.viewport().rect().center())
    assert triggered == [True]  # the pan did not accept
    assert after.x() > before.x() + 10 and after.y() > before.y() + 5


def test_mask_overlay_has_translucent_fill_and_opaque_outline() -> None:
    mask = np.zeros((20, 30), bool)
    mask[5:15, 10:25] = True
    rgba = mask_overlay_rgba(mask, (10, 20, 30), fill_alpha=100)
    assert rgba.shape == (20, 30, 4)
    assert (rgba[~mask] == 0).all()
    assert rgba[10, 17, 3] == 100  # interior
    assert rgba[5, 17, 3] == 255 and rgba[10, 10, 3] == 255  # edges
    assert tuple(rgba[10, 17, :3]) == (10, 20, 30)


def test_candidate_overlay_is_stretched_over_the_image(qtbot, canvas) -> None:
    scene, _ = canvas
    low = np.zeros((75, 100, 4), np.uint8)
    low[..., 3] = 255
    scene.set_candidate_overlay(low)
    assert scene.has_candidate_overlay()
    item = scene._overlay_item
    assert item.sceneBoundingRect() == scene.image_rect()
    scene.set_candidate_overlay(None)
    assert not scene.has_candidate_overlay()


def test_qimage_from_array_copies_pixels() -> None:
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[1, 2] = (9, 8, 7)
    image = qimage_from_array(rgb)
    rgb[1, 2] = 0
    color = image.pixelColor(2, 1)
    assert (color.red(), color.green(), color.blue()) == (9, 8, 7)
    with pytest.raises(ValueError):
        qimage_from_array(np.zeros((4, 5), np.uint8))
