"""The canvas view: zoom at the cursor, pan, fit, and mouse gestures turned into prompts.

Gestures (scene coordinates are reported; see the package docstring):
- left click: positive point; right click or Shift+left click: negative point;
- left drag: box; Ctrl+left click: pick the annotation under the cursor;
- middle drag, or Space held + left drag: pan; wheel: zoom at the cursor;
- on the selected annotation: drag a vertex handle to move it, right-click a handle to
  delete it, double-click an edge to insert a vertex;
- in polygon mode (``set_mode``), a left click places a vertex of a hand-drawn polygon;
- in paint mode, a left drag is a brush stroke and a right drag one of the opposite tool
  (``strokeStarted`` / ``strokeMoved`` / ``strokeEnded``); ``pointerMoved`` follows the
  cursor so the brush outline can be drawn.

Space is also a key of its own (accept, by default): the view delivers it on release,
and only when no Space+drag pan happened in between, so the two never collide.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QPainter
from PySide6.QtWidgets import QGraphicsView, QLabel

from sam_annotator.qt.canvas.items import VertexHandle
from sam_annotator.qt.canvas.scene import CanvasScene

DRAG_THRESHOLD = 4  # screen pixels before a press becomes a box drag
MIN_BOX = 2.0  # image pixels: smaller boxes are treated as clicks
PIXEL_ZOOM = 2.0  # from this zoom on, pixels are drawn sharp (nearest neighbour)


class CanvasView(QGraphicsView):
    PROMPT_MODE, POLYGON_MODE, PAINT_MODE = "prompt", "polygon", "paint"

    pointPrompted = Signal(float, float, bool)  # scene x, y, positive
    vertexPlaced = Signal(float, float)  # scene x, y (polygon mode's left clicks)
    boxPrompted = Signal(float, float, float, float)  # scene XYXY, clamped to the image
    strokeStarted = Signal(float, float, bool)  # scene x, y, inverted (right button)
    strokeMoved = Signal(float, float)  # scene x, y while a stroke is in progress
    strokeEnded = Signal()
    pointerMoved = Signal(float, float)  # scene x, y (paint mode, with or without a button)
    annotationPicked = Signal(object)  # annotation id, or None for empty space
    zoomChanged = Signal(float)

    def __init__(self, scene: CanvasScene, parent=None) -> None:
        super().__init__(scene, parent)
        self.canvas = scene
        self.setRenderHints(
            QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform
        )
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.space_action: QAction | None = None  # triggered on a Space tap
        self._press_pos = None
        self._press_button = None
        self._press_modifiers = Qt.KeyboardModifier.NoModifier
        self._boxing = False
        self._panning = False
        self._pan_last = None
        self._space_down = False
        self._space_panned = False
        self._fitted = True
        self._stroking = False
        self.mode = self.PROMPT_MODE
        self._busy = QLabel(self.viewport())
        self._busy.setStyleSheet(
            "QLabel { background: rgba(0, 0, 0, 160); color: white; padding: 6px 10px;"
            " border-radius: 4px; }"
        )
        self._busy.move(12, 12)
        self._busy.hide()

    # -- busy indicator -------------------------------------------------------------------
    def set_busy(self, text: str | None) -> None:
        """Show a small notice over the image (e.g. while SAM encodes it); None hides it."""
        if text:
            self._busy.setText(text)
            self._busy.adjustSize()
            self._busy.show()
            self._busy.raise_()
        else:
            self._busy.hide()

    def busy_text(self) -> str | None:
        return self._busy.text() if self._busy.isVisible() else None

    def set_mode(self, mode: str) -> None:
        """PROMPT_MODE: clicks and drags are prompts; POLYGON_MODE: left clicks are the
        vertices of a hand-drawn polygon; PAINT_MODE: drags are brush strokes (no prompts,
        no boxes in either)."""
        if mode not in (self.PROMPT_MODE, self.POLYGON_MODE, self.PAINT_MODE):
            raise ValueError(f"unknown canvas mode {mode!r}")
        if mode != self.PAINT_MODE:
            self._stroking = False
        self.mode = mode

    # -- zoom --------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        """Show the whole image."""
        if not self.canvas.has_image():
            return
        self.fitInView(self.canvas.image_rect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._after_zoom()

    def actual_size(self) -> None:
        self._set_zoom(1.0)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by `factor`, keeping the scene point under viewport position `anchor`."""
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        scene_point = self.mapToScene(anchor.toPoint())
        self._set_zoom(self.zoom() * factor)
        moved = self.mapFromScene(scene_point) - anchor.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())

    def _set_zoom(self, zoom: float) -> None:
        if not self.canvas.has_image():
            return
        height, width = self.canvas.image_size
        fit = min(self.viewport().width() / width, self.viewport().height() / height)
        zoom = min(max(zoom, min(fit, 1.0) / 4), 64.0)
        self._fitted = False
        self.setTransform(self.transform().fromScale(zoom, zoom))
        self._after_zoom()

    def _after_zoom(self) -> None:
        sharp = self.zoom() >= PIXEL_ZOOM
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not sharp)
        self.zoomChanged.emit(self.zoom())

    def bring_into_view(self, rect: QRectF) -> None:
        """Centre the view on scene `rect` (keeping the zoom), unless it is already
        wholly visible: the canvas does not move without need."""
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        if not visible.contains(rect):
            self.centerOn(rect.center())

    def display_mask_size(self) -> tuple[int, int]:
        """(h, w) at which a full-image mask looks sharp at the current zoom (<= image size)."""
        height, width = self.canvas.image_size
        scale = min(self.zoom() * self.devicePixelRatioF(), 1.0)
        return max(1, round(height * scale)), max(1, round(width * scale))

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if delta:
            self.zoom_by(1.0015**delta, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:
        """A fitted image stays fitted; one the user zoomed keeps its zoom and the scene
        point at the viewport's centre (the resize anchor)."""
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    # -- mouse -------------------------------------------------------------------------
    def _scene_point(self, event) -> QPointF:
        return self.mapToScene(event.position().toPoint())

    def _handle_at(self, event) -> VertexHandle | None:
        item = self.itemAt(event.position().toPoint())
        return item if isinstance(item, VertexHandle) else None

    def mousePressEvent(self, event) -> None:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._panning = True
            self._space_panned = self._space_down
            self._pan_last = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if self.mode == self.PAINT_MODE:
            if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
                if self.canvas.has_image():
                    point = self._scene_point(event)
                    self._stroking = True
                    self.strokeStarted.emit(
                        point.x(), point.y(), button == Qt.MouseButton.RightButton
                    )
                event.accept()
            return
        if self._handle_at(event) is not None:
            super().mousePressEvent(event)  # the handle drags or deletes its vertex
            return
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._press_pos = event.position()
            self._press_button = button
            self._press_modifiers = event.modifiers()
            self._boxing = False
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._panning:
            delta = event.position() - self._pan_last
            self._pan_last = event.position()
            self.horizontalScrollBar().setValue(
                self.horizontalScrollBar().value() - round(delta.x())
            )
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            self._fitted = False
            event.accept()
            return
        if self.mode == self.PAINT_MODE:
            point = self._scene_point(event)
            self.pointerMoved.emit(point.x(), point.y())
            if self._stroking:
                self.strokeMoved.emit(point.x(), point.y())
            event.accept()
            return
        if (
            self._press_pos is not None
            and self._press_button == Qt.MouseButton.LeftButton
            and self.mode == self.PROMPT_MODE
        ):
            moved = (event.position() - self._press_pos).manhattanLength()
            if self._boxing or moved >= DRAG_THRESHOLD:
                self._boxing = True
                start = self.mapToScene(self._press_pos.toPoint())
                self.canvas.show_drag_box(QRectF(start, self._scene_point(event)))
                event.accept()
                return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._panning and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._panning = False
            self.setCursor(Qt.CursorShape.CrossCursor)
            event.accept()
            return
        if self._stroking:
            self._stroking = False
            self.strokeEnded.emit()
            event.accept()
            return
        if self._press_pos is None or event.button() != self._press_button:
            super().mouseReleaseEvent(event)
            return
        start = self.mapToScene(self._press_pos.toPoint())
        end = self._scene_point(event)
        modifiers = self._press_modifiers
        boxing = self._boxing
        self._press_pos = None
        self._boxing = False
        self.canvas.show_drag_box(None)
        event.accept()
        if not self.canvas.has_image():
            return
        if self.mode == self.POLYGON_MODE:
            if event.button() == Qt.MouseButton.LeftButton:
                self.vertexPlaced.emit(start.x(), start.y())
        elif boxing:
            self._emit_box(start, end)
        elif modifiers & Qt.KeyboardModifier.ControlModifier:
            self.annotationPicked.emit(self.canvas.annotation_at(start))
        else:
            positive = event.button() == Qt.MouseButton.LeftButton and not (
                modifiers & Qt.KeyboardModifier.ShiftModifier
            )
            if self.canvas.image_rect().contains(start):
                self.pointPrompted.emit(start.x(), start.y(), positive)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.mode == self.PAINT_MODE:
            self.mousePressEvent(event)
            return
        selected = self.canvas.selected
        if selected is not None and event.button() == Qt.MouseButton.LeftButton:
            item = self.canvas.annotation_item(selected)
            tolerance = 6.0 / max(self.zoom(), 1e-6)
            if item is not None and item.insert_vertex_near(self._scene_point(event), tolerance):
                event.accept()
                return
        # Otherwise the second press of a double click is an ordinary press.
        self.mousePressEvent(event)

    def _emit_box(self, start: QPointF, end: QPointF) -> None:
        rect = QRectF(start, end).normalized().intersected(self.canvas.image_rect())
        if rect.width() < MIN_BOX or rect.height() < MIN_BOX:
            return
        self.boxPrompted.emit(rect.left(), rect.top(), rect.right(), rect.bottom())

    # -- keys --------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.modifiers():
            if not event.isAutoRepeat():
                self._space_down = True
                self._space_panned = False
                self.setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and self._space_down:
            if event.isAutoRepeat():
                event.accept()
                return
            self._space_down = False
            self.setCursor(Qt.CursorShape.CrossCursor)
            action = self.space_action
            if not self._space_panned and action is not None and action.isEnabled():
                action.trigger()
            self._space_panned = False
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        self._space_down = False
        super().focusOutEvent(event)
