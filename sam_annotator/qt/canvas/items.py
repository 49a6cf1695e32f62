"""What the canvas draws: prompt points and box, accepted annotations with editable vertices.

Items only render state and report gestures; the edit itself is a document command that
the controller pushes when the scene reports `polygonsEdited`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
)

Polygons = list[list[float]]  # COCO polygons: flat [x0, y0, x1, y1, ...] lists

POSITIVE_COLOR = QColor(40, 200, 90)
NEGATIVE_COLOR = QColor(230, 60, 60)
HANDLE_SIZE = 8.0  # screen pixels


def _cosmetic_pen(color: QColor, width: float = 1.5, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(color, width, style)
    pen.setCosmetic(True)  # the same width on screen at every zoom
    return pen


class PromptPointItem(QGraphicsEllipseItem):
    """A click prompt: green for positive, red for negative, constant size on screen."""

    RADIUS = 6.0

    def __init__(self, x: float, y: float, positive: bool) -> None:
        r = self.RADIUS
        super().__init__(-r, -r, 2 * r, 2 * r)
        self.positive = positive
        self.setPos(x, y)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setBrush(QBrush(POSITIVE_COLOR if positive else NEGATIVE_COLOR))
        self.setPen(QPen(QColor("white"), 1.5))
        self.setZValue(30)


class PromptBoxItem(QGraphicsRectItem):
    """The box prompt (or the box being dragged), a dashed cosmetic rectangle."""

    def __init__(self, rect: QRectF) -> None:
        super().__init__(rect.normalized())
        self.setPen(_cosmetic_pen(QColor(255, 210, 0), 2.0, Qt.PenStyle.DashLine))
        self.setZValue(29)


def polygons_path(polygons: Polygons) -> QPainterPath:
    """COCO polygons -> one path. Winding fill: keyhole holes (reversed rings) stay empty."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.WindingFill)
    for flat in polygons:
        points = [QPointF(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)]
        if len(points) >= 3:
            path.addPolygon(QPolygonF(points))
            path.closeSubpath()
    return path


class VertexHandle(QGraphicsRectItem):
    """A draggable square on one vertex of a selected annotation (constant screen size)."""

    def __init__(self, owner: AnnotationItem, polygon_index: int, vertex_index: int) -> None:
        h = HANDLE_SIZE
        super().__init__(-h / 2, -h / 2, h, h, owner)
        self.owner = owner
        self.polygon_index = polygon_index
        self.vertex_index = vertex_index
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setBrush(QBrush(QColor("white")))
        self.setPen(QPen(owner.color.darker(150), 1.5))
        self.setCursor(Qt.CursorShape.SizeAllCursor)
        self.setZValue(1)
        self._dragging = False

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self.owner.delete_vertex(self.polygon_index, self.vertex_index)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            event.accept()
            return
        event.ignore()

    def mouseMoveEvent(self, event) -> None:
        if self._dragging:
            pos = self.owner.mapFromScene(event.scenePos())
            self.owner.move_vertex(self.polygon_index, self.vertex_index, pos, preview=True)

    def mouseReleaseEvent(self, event) -> None:
        if self._dragging:
            self._dragging = False
            pos = self.owner.mapFromScene(event.scenePos())
            self.owner.move_vertex(self.polygon_index, self.vertex_index, pos, preview=False)
            event.accept()


class AnnotationItem(QGraphicsPathItem):
    """An accepted annotation: translucent fill, outline, vertex handles while selected.

    Edits are reported through the scene's `polygonsEdited(annotation_id, polygons)`; the
    item shows the preview while a vertex is dragged and is reset by the scene from the
    document after the command is pushed.
    """

    def __init__(self, annotation_id: int, polygons: Polygons, color: QColor) -> None:
        super().__init__()
        self.annotation_id = annotation_id
        self.color = QColor(color)
        self._polygons: Polygons = [list(map(float, p)) for p in polygons]
        self._handles: list[VertexHandle] = []
        self._editing = False
        self.setZValue(10)
        self._restyle()
        self._rebuild_path()

    @property
    def polygons(self) -> Polygons:
        return [list(p) for p in self._polygons]

    def set_polygons(self, polygons: Polygons) -> None:
        self._polygons = [list(map(float, p)) for p in polygons]
        self._rebuild_path()
        if self._editing:
            self._rebuild_handles()

    def set_color(self, color: QColor) -> None:
        self.color = QColor(color)
        self._restyle()

    def set_editing(self, editing: bool) -> None:
        """Selected for editing: thicker outline and a handle on every vertex."""
        self._editing = editing
        self._restyle()
        self._rebuild_handles()

    @property
    def editing(self) -> bool:
        return self._editing

    def handles(self) -> list[VertexHandle]:
        return list(self._handles)

    # -- edits -------------------------------------------------------------------------
    def move_vertex(self, polygon: int, vertex: int, pos: QPointF, *, preview: bool) -> None:
        flat = self._polygons[polygon]
        flat[2 * vertex] = float(pos.x())
        flat[2 * vertex + 1] = float(pos.y())
        self._rebuild_path()
        for handle in self._handles:
            if handle.polygon_index == polygon and handle.vertex_index == vertex:
                handle.setPos(pos)
        if not preview:
            self._report()

    def delete_vertex(self, polygon: int, vertex: int) -> bool:
        """Remove a vertex; a ring keeps at least 3 vertices (returns False if refused)."""
        flat = self._polygons[polygon]
        if len(flat) // 2 <= 3:
            return False
        del flat[2 * vertex : 2 * vertex + 2]
        self._rebuild_path()
        self._rebuild_handles()
        self._report()
        return True

    def insert_vertex_near(self, pos: QPointF, tolerance: float) -> bool:
        """Insert a vertex on the edge nearest to `pos` if it lies within `tolerance`."""
        best: tuple[float, int, int, QPointF] | None = None
        for p_index, flat in enumerate(self._polygons):
            n = len(flat) // 2
            for i in range(n):
                ax, ay = flat[2 * i], flat[2 * i + 1]
                bx, by = flat[2 * ((i + 1) % n)], flat[2 * ((i + 1) % n) + 1]
                dx, dy = bx - ax, by - ay
                length2 = dx * dx + dy * dy
                t = 0.0 if length2 == 0 else ((pos.x() - ax) * dx + (pos.y() - ay) * dy) / length2
                t = min(max(t, 0.0), 1.0)
                px, py = ax + t * dx, ay + t * dy
                distance = math.hypot(pos.x() - px, pos.y() - py)
                if distance <= tolerance and (best is None or distance < best[0]):
                    best = (distance, p_index, i + 1, QPointF(px, py))
        if best is None:
            return False
        _, p_index, insert_at, point = best
        self._polygons[p_index][2 * insert_at : 2 * insert_at] = [point.x(), point.y()]
        self._rebuild_path()
        self._rebuild_handles()
        self._report()
        return True

    # -- internals ---------------------------------------------------------------------
    def _report(self) -> None:
        scene = self.scene()
        signal = getattr(scene, "polygonsEdited", None)
        if signal is not None:
            signal.emit(self.annotation_id, self.polygons)

    def _restyle(self) -> None:
        fill = QColor(self.color)
        fill.setAlpha(70 if self._editing else 90)
        self.setBrush(QBrush(fill))
        self.setPen(_cosmetic_pen(self.color, 2.5 if self._editing else 1.5))

    def _rebuild_path(self) -> None:
        self.setPath(polygons_path(self._polygons))

    def _rebuild_handles(self) -> None:
        for handle in self._handles:
            handle.setParentItem(None)
            if handle.scene() is not None:
                handle.scene().removeItem(handle)
        self._handles = []
        if not self._editing:
            return
        for p_index, flat in enumerate(self._polygons):
            for v_index in range(len(flat) // 2):
                handle = VertexHandle(self, p_index, v_index)
                handle.setPos(flat[2 * v_index], flat[2 * v_index + 1])
                self._handles.append(handle)


def polygon_vertex_count(polygons: Sequence[Sequence[float]]) -> int:
    return sum(len(p) // 2 for p in polygons)
