"""The hand-drawn polygon tool: click vertices, Enter (or a click on the first vertex)
closes the polygon into an annotation of the current category, Backspace (or Ctrl+Z)
removes the last vertex, Esc cancels. For what the model gets wrong: thin, transparent or
unusual objects.

While the tool is on, the view reports left clicks as vertices (``vertexPlaced``) and no
prompts; the draft is drawn by the scene. The new annotation goes through the labeling
controller's ``add_polygons`` (one undoable step, as an accepted mask).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from sam_annotator.model.polygon_draft import CLOSE_TOLERANCE_PX, PolygonDraft
from sam_annotator.qt.canvas.scene import CanvasScene
from sam_annotator.qt.canvas.view import CanvasView


class PolygonTool(QObject):
    message = Signal(str)

    def __init__(
        self,
        view: CanvasView,
        scene: CanvasScene,
        add_polygons: Callable[[list[list[float]]], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view = view
        self.scene = scene
        self._add_polygons = add_polygons
        self.draft: PolygonDraft | None = None
        view.vertexPlaced.connect(self.place)

    @property
    def active(self) -> bool:
        return self.draft is not None

    def toggle(self) -> None:
        if self.active:
            self.cancel()
        else:
            self.start()

    def start(self) -> None:
        if not self.scene.has_image():
            return
        self.draft = PolygonDraft()
        self.view.set_mode(CanvasView.POLYGON_MODE)
        self._show()
        self.message.emit(
            "Polygon: click the vertices; Enter or a click on the first vertex closes it, "
            "Backspace removes the last vertex, Esc cancels"
        )

    def cancel(self) -> None:
        if self.draft is None:
            return
        self.draft = None
        self.view.set_mode(CanvasView.PROMPT_MODE)
        self.scene.show_draft(None)

    def place(self, x: float, y: float) -> None:
        if self.draft is None:
            return
        tolerance = CLOSE_TOLERANCE_PX / max(self.view.zoom(), 1e-6)
        if self.draft.closes_at(x, y, tolerance):
            self.finish()
            return
        self.draft.add(x, y)
        self._show()

    def remove_last(self) -> None:
        if self.draft is not None and self.draft.remove_last():
            self._show()

    def finish(self) -> None:
        """Close the draft into an annotation; a draft that cannot close says why."""
        if self.draft is None:
            return
        if not self.draft.can_close:
            self.message.emit("A polygon needs three vertices that enclose an area")
            return
        if self._add_polygons([self.draft.ring()]):
            self.cancel()

    def _show(self) -> None:
        self.scene.show_draft(self.draft.vertices if self.draft is not None else None)
