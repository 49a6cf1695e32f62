"""The canvas scene: the photo, the prompt markers, the candidate overlay, the annotations.

The scene holds no labeling state of its own: the controller tells it what to show
(`set_image`, `set_prompts`, `set_candidate_overlay`, `set_annotations`, `set_selected`)
and listens to `polygonsEdited` for vertex edits made on the canvas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen, QPixmap, QTransform
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
)

from sam_annotator.qt.canvas.items import (
    AnnotationItem,
    Polygons,
    PromptBoxItem,
    PromptPointItem,
    polygons_path,
)
from sam_annotator.qt.canvas.overlay import qimage_from_array

PROPOSAL_COLOR = QColor(255, 230, 0)


@dataclass(frozen=True)
class AnnotationView:
    """What the canvas needs to draw one annotation."""

    annotation_id: int
    polygons: Polygons
    color: QColor
    visible: bool = True


class CanvasScene(QGraphicsScene):
    polygonsEdited = Signal(int, object)  # annotation id, new polygons (COCO flat lists)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackgroundBrush(QBrush(QColor(38, 38, 38)))
        self._image_item = QGraphicsPixmapItem()
        self._image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._image_item.setZValue(0)
        self.addItem(self._image_item)
        self._overlay_item = QGraphicsPixmapItem()
        self._overlay_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._overlay_item.setZValue(20)
        self.addItem(self._overlay_item)
        self._paint_item = QGraphicsPixmapItem()  # the mask under the brush
        self._paint_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._paint_item.setZValue(21)
        self.addItem(self._paint_item)
        self._brush: QGraphicsEllipseItem | None = None
        self._image_size: tuple[int, int] = (0, 0)  # (height, width)
        self._prompt_items: list = []
        self._drag_box: PromptBoxItem | None = None
        self._draft: QGraphicsPathItem | None = None
        self._annotation_items: dict[int, AnnotationItem] = {}
        self._selected: int | None = None
        self._annotations_visible = True
        self._proposal_items: list[QGraphicsPathItem] = []

    # -- image -------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray | None) -> None:
        """Show an HxWx3 uint8 RGB image (None clears the canvas)."""
        self.clear_prompts()
        self.set_candidate_overlay(None)
        self.set_paint_overlay(None)
        self.show_brush(0.0, 0.0, None)
        self.set_annotations([])
        if rgb is None:
            self._image_item.setPixmap(QPixmap())
            self._image_size = (0, 0)
            self.setSceneRect(QRectF())
            return
        self._image_item.setPixmap(QPixmap.fromImage(qimage_from_array(rgb)))
        self._image_size = (int(rgb.shape[0]), int(rgb.shape[1]))
        margin = float(max(self._image_size))  # room to pan any corner to the centre
        self.setSceneRect(self.image_rect().adjusted(-margin, -margin, margin, margin))

    def image_rect(self) -> QRectF:
        height, width = self._image_size
        return QRectF(0, 0, width, height)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the image shown, 0x0 when none."""
        return self._image_size

    def has_image(self) -> bool:
        return self._image_size != (0, 0)

    # -- prompts -----------------------------------------------------------------------
    def set_prompts(
        self,
        points: Sequence[tuple[float, float, bool]],
        box: tuple[float, float, float, float] | None,
    ) -> None:
        """Show point prompts (scene x, y, positive) and the box (scene XYXY)."""
        self.clear_prompts()
        if box is not None:
            item = PromptBoxItem(QRectF(QPointF(box[0], box[1]), QPointF(box[2], box[3])))
            self.addItem(item)
            self._prompt_items.append(item)
        for x, y, positive in points:
            item = PromptPointItem(x, y, positive)
            self.addItem(item)
            self._prompt_items.append(item)

    def clear_prompts(self) -> None:
        for item in self._prompt_items:
            self.removeItem(item)
        self._prompt_items = []

    def prompt_items(self) -> list:
        return list(self._prompt_items)

    def show_drag_box(self, rect: QRectF | None) -> None:
        """The rubber band while a box is being dragged (None hides it)."""
        if rect is None:
            if self._drag_box is not None:
                self.removeItem(self._drag_box)
                self._drag_box = None
            return
        if self._drag_box is None:
            self._drag_box = PromptBoxItem(rect)
            self.addItem(self._drag_box)
        self._drag_box.setRect(rect.normalized())

    def show_draft(self, vertices: Sequence[tuple[float, float]] | None) -> None:
        """The hand-drawn polygon so far (an open polyline, its first vertex ringed);
        None hides it."""
        if vertices is None:
            if self._draft is not None:
                self.removeItem(self._draft)
                self._draft = None
            return
        if self._draft is None:
            self._draft = QGraphicsPathItem()
            pen = QPen(QColor(255, 210, 0), 2.0)
            pen.setCosmetic(True)
            self._draft.setPen(pen)
            self._draft.setZValue(31)
            self.addItem(self._draft)
        path = QPainterPath()
        if vertices:
            path.moveTo(*vertices[0])
            for x, y in vertices[1:]:
                path.lineTo(x, y)
            path.addEllipse(QPointF(*vertices[0]), 3.0, 3.0)
        self._draft.setPath(path)

    # -- candidate overlay -------------------------------------------------------------
    def set_candidate_overlay(self, rgba: np.ndarray | None) -> None:
        """Show an HxWx4 RGBA overlay stretched over the whole image (any resolution)."""
        self._set_stretched(self._overlay_item, rgba)

    def _set_stretched(self, item: QGraphicsPixmapItem, rgba: np.ndarray | None) -> None:
        if rgba is None or not self.has_image():
            item.setPixmap(QPixmap())
            item.setVisible(False)
            return
        pixmap = QPixmap.fromImage(qimage_from_array(rgba))
        item.setPixmap(pixmap)
        height, width = self._image_size
        item.setTransform(QTransform.fromScale(width / pixmap.width(), height / pixmap.height()))
        item.setVisible(True)

    def has_candidate_overlay(self) -> bool:
        return self._overlay_item.isVisible()

    # -- brush -------------------------------------------------------------------------
    def set_paint_overlay(self, rgba: np.ndarray | None) -> None:
        """The mask being painted, as an HxWx4 RGBA stretched over the image; None hides."""
        self._set_stretched(self._paint_item, rgba)

    def has_paint_overlay(self) -> bool:
        return self._paint_item.isVisible()

    def show_brush(self, x: float, y: float, radius: float | None) -> None:
        """The brush's outline centred at scene (x, y); radius None hides it."""
        if radius is None:
            if self._brush is not None:
                self.removeItem(self._brush)
                self._brush = None
            return
        if self._brush is None:
            self._brush = QGraphicsEllipseItem()
            pen = QPen(QColor(255, 255, 255), 1.5)
            pen.setCosmetic(True)
            self._brush.setPen(pen)
            self._brush.setZValue(40)
            self.addItem(self._brush)
        self._brush.setRect(QRectF(x - radius, y - radius, 2 * radius, 2 * radius))

    def brush_rect(self) -> QRectF | None:
        return None if self._brush is None else self._brush.rect()

    # -- proposals ---------------------------------------------------------------------
    def set_proposals(self, proposals: Sequence[Polygons], current: int | None) -> None:
        """Outline automatic proposals (they never hide the image); `current` stands out."""
        for item in self._proposal_items:
            self.removeItem(item)
        self._proposal_items = []
        for index, polygons in enumerate(proposals):
            item = QGraphicsPathItem(polygons_path(polygons))
            is_current = index == current
            pen = QPen(PROPOSAL_COLOR, 2.5 if is_current else 1.0)
            pen.setCosmetic(True)
            if not is_current:
                pen.setStyle(Qt.PenStyle.DashLine)
            item.setPen(pen)
            if is_current:
                fill = QColor(PROPOSAL_COLOR)
                fill.setAlpha(60)
                item.setBrush(QBrush(fill))
            item.setZValue(25 if is_current else 15)
            self.addItem(item)
            self._proposal_items.append(item)

    def proposal_count(self) -> int:
        return len(self._proposal_items)

    # -- annotations -------------------------------------------------------------------
    def set_annotations(self, views: Iterable[AnnotationView]) -> None:
        """Replace the drawn annotations; items whose id persists are updated in place."""
        wanted = {view.annotation_id: view for view in views}
        for annotation_id in list(self._annotation_items):
            if annotation_id not in wanted:
                self.removeItem(self._annotation_items.pop(annotation_id))
        for annotation_id, view in wanted.items():
            item = self._annotation_items.get(annotation_id)
            if item is None:
                item = AnnotationItem(annotation_id, view.polygons, view.color)
                self.addItem(item)
                self._annotation_items[annotation_id] = item
            else:
                item.set_polygons(view.polygons)
                item.set_color(view.color)
            item.setVisible(view.visible and self._annotations_visible)
            item.setData(0, view.visible)
        if self._selected not in self._annotation_items:
            self._selected = None
        for annotation_id, item in self._annotation_items.items():
            if item.editing != (annotation_id == self._selected):
                item.set_editing(annotation_id == self._selected)

    def annotation_item(self, annotation_id: int) -> AnnotationItem | None:
        return self._annotation_items.get(annotation_id)

    def set_selected(self, annotation_id: int | None) -> None:
        """Show vertex handles on this annotation (None: on none)."""
        if annotation_id is not None and annotation_id not in self._annotation_items:
            annotation_id = None
        if self._selected is not None and self._selected in self._annotation_items:
            self._annotation_items[self._selected].set_editing(False)
        self._selected = annotation_id
        if annotation_id is not None:
            self._annotation_items[annotation_id].set_editing(True)

    @property
    def selected(self) -> int | None:
        return self._selected

    def set_annotations_visible(self, visible: bool) -> None:
        self._annotations_visible = visible
        for item in self._annotation_items.values():
            item.setVisible(visible and bool(item.data(0)))

    def annotation_at(self, pos: QPointF) -> int | None:
        """The topmost visible annotation containing scene point `pos`."""
        hits = [
            item
            for item in self._annotation_items.values()
            if item.isVisible() and item.path().contains(pos)
        ]
        if not hits:
            return None
        # Smallest first: a small object on top of a large one stays pickable.
        hits.sort(
            key=lambda item: (
                item.path().boundingRect().width() * item.path().boundingRect().height()
            )
        )
        return hits[0].annotation_id
