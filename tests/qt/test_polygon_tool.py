"""The hand-drawn polygon tool, driven by real mouse clicks on the canvas and the keys of
the action table: vertices, Backspace, closing by Enter or on the first vertex, Esc."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from sam_annotator.model.polygon_draft import PolygonDraft


@pytest.fixture
def app(gray_app):
    return gray_app(("a.png",), (400, 300))


def click(qtbot, app, x: float, y: float) -> tuple[float, float]:
    """A left click at image point (x, y); returns the scene point the view reports."""
    view = app.window.view
    position = view.mapFromScene(x, y)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=position)
    point = view.mapToScene(position)
    return point.x(), point.y()


def trigger(app, action_id: str) -> None:
    app.window.actions[action_id].trigger()


def test_a_polygon_drawn_by_clicks_becomes_one_undoable_annotation(qtbot, app):
    tool, document = app.polygon_tool, app.document
    trigger(app, "tool.polygon")
    assert tool.active
    placed = [click(qtbot, app, x, y) for x, y in ((50, 50), (250, 60), (300, 200), (60, 220))]
    assert app.labeling.session.is_active is False  # clicks were vertices, not prompts
    trigger(app, "tool.remove_vertex")
    assert tool.draft.vertices == placed[:3]
    placed[3] = click(qtbot, app, 70, 225)
    trigger(app, "edit.undo")  # Ctrl+Z removes a vertex too while drawing
    assert tool.draft.vertices == placed[:3]
    placed[3] = click(qtbot, app, 80, 230)
    trigger(app, "segment.accept")
    assert not tool.active
    (annotation,) = document.annotations()
    assert annotation.polygons == [[v for point in placed for v in point]]
    assert document.category(annotation.category_id).name == "object"
    app.labeling.undo()
    assert document.annotations() == ()


def test_a_click_on_the_first_vertex_closes_and_esc_cancels(qtbot, app):
    tool, document = app.polygon_tool, app.document
    trigger(app, "tool.polygon")
    for x, y in ((100, 100), (200, 100), (150, 180)):
        click(qtbot, app, x, y)
    click(qtbot, app, 101, 101)  # on the first vertex
    assert not tool.active and len(document.annotations()) == 1
    trigger(app, "tool.polygon")
    click(qtbot, app, 10, 10)
    trigger(app, "segment.clear")  # Esc
    assert not tool.active and len(document.annotations()) == 1
    assert app.window.view.mode == app.window.view.PROMPT_MODE


def test_a_draft_without_area_does_not_close(qtbot, app):
    messages = []
    app.polygon_tool.message.connect(messages.append)
    trigger(app, "tool.polygon")
    for x, y in ((10, 10), (20, 20), (30, 30)):  # collinear
        click(qtbot, app, x, y)
    trigger(app, "segment.accept")
    assert app.polygon_tool.active and app.document.annotations() == ()
    assert "enclose an area" in messages[-1]


def test_draft_geometry_rules():
    draft = PolygonDraft()
    for point in ((0, 0), (0, 0), (4, 0)):
        draft.add(*point)
    assert draft.vertices == [(0.0, 0.0), (4.0, 0.0)] and not draft.can_close
    draft.add(4, 3)
    assert draft.can_close and draft.signed_area() == pytest.approx(6.0)
    assert draft.closes_at(0.5, 0.5, 1.0) and not draft.closes_at(3, 3, 1.0)
    assert draft.ring() == [0.0, 0.0, 4.0, 0.0, 4.0, 3.0]
    assert draft.remove_last() and len(draft.vertices) == 2
