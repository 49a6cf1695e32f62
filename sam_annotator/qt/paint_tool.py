"""Brush (B) and eraser (E): paint pixels in or out of one object's mask.

What is painted, chosen when the tool starts:
- the chosen candidate, when the model shows one (it leaves the prompt session; a
  candidate of a refinement keeps replacing its annotation);
- else the selected annotation (its shape is replaced);
- else nothing yet: the strokes make a new annotation.

A left drag paints with the current tool, a right drag with the other one; ``[`` / ``]``
shrink and grow the brush. Ctrl+Z removes the last stroke. Enter (or leaving the tool
with its key, or going to another image) turns the mask into polygons through the same
path as an accepted candidate, in one undoable step; Esc drops the strokes.

The mask is kept at the image's full resolution (:class:`MaskPainting`); the canvas shows
it downscaled to the view's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from sam_annotator.model.geometry import segmentation_to_mask
from sam_annotator.model.mask_paint import (
    DEFAULT_RADIUS,
    MaskPainting,
    clamp_radius,
    downsample_mask,
)
from sam_annotator.qt.canvas.overlay import mask_overlay_rgba
from sam_annotator.qt.canvas.scene import CanvasScene
from sam_annotator.qt.canvas.view import CanvasView
from sam_annotator.qt.labeling import LabelingController

RADIUS_STEP = 1.25  # [ and ] divide / multiply the radius by this


@dataclass
class _Target:
    image_id: int
    painting: MaskPainting
    replaces: int | None  # the annotation whose shape the mask becomes, or None (new)
    what: str  # for messages


class PaintTool(QObject):
    message = Signal(str)
    activeChanged = Signal(bool)

    def __init__(
        self,
        view: CanvasView,
        scene: CanvasScene,
        labeling: LabelingController,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view = view
        self.scene = scene
        self.labeling = labeling
        self.radius = DEFAULT_RADIUS  # image pixels
        self.erase = False
        self.target: _Target | None = None
        self._pointer: tuple[float, float] | None = None
        view.strokeStarted.connect(self._stroke_started)
        view.strokeMoved.connect(self._stroke_moved)
        view.strokeEnded.connect(self._stroke_ended)
        view.pointerMoved.connect(self._pointer_moved)
        view.zoomChanged.connect(lambda _zoom: self._show())

    @property
    def active(self) -> bool:
        return self.target is not None

    @property
    def painting(self) -> MaskPainting | None:
        return None if self.target is None else self.target.painting

    # -- tool keys -----------------------------------------------------------------------
    def use(self, erase: bool) -> None:
        """B (erase=False) / E (erase=True): start painting with that tool, switch to it,
        or (pressed again) finish."""
        if self.target is not None and self.erase == erase:
            self.finish()
            return
        self.erase = erase
        if self.target is None and not self._start():
            return
        self._say_tool()
        self._show()

    def resize(self, grow: bool) -> None:
        """] (grow) / [ (shrink) the brush."""
        factor = RADIUS_STEP if grow else 1 / RADIUS_STEP
        self.radius = clamp_radius(self.radius * factor)
        self.message.emit(f"Brush radius: {self.radius:.1f} px")
        self._show()

    def undo_stroke(self) -> None:
        if self.target is None:
            return
        if self.target.painting.undo_stroke():
            self._show()
        else:
            self.message.emit("No stroke to undo (Esc leaves the brush)")

    def finish(self) -> None:
        """Turn the painted mask into polygons: a new annotation or the target's shape."""
        target = self.target
        if target is None:
            return
        self._end()
        if not target.painting.mask.any():
            self.message.emit(
                "Nothing painted" if target.replaces is None
                else f"#{target.replaces} kept: an empty mask would delete it (use Delete)"
            )  # fmt: skip
            return
        self.labeling.accept_mask(target.image_id, target.painting.mask, target.replaces)

    def cancel(self) -> None:
        """Drop the strokes (the target annotation keeps its shape)."""
        if self.target is not None:
            self._end()
            self.message.emit("Brush strokes dropped")

    def leave_image(self) -> None:
        """The labeler went to another image: what was painted is kept."""
        if self.target is not None and self.target.painting.stroke_count:
            self.finish()
        else:
            self._end()

    # -- start / end ---------------------------------------------------------------------
    def _start(self) -> bool:
        lab = self.labeling
        image_id = lab.image_id
        if image_id is None or not self.scene.has_image():
            return False
        taken = lab.take_candidate_mask()
        if taken is not None:
            mask, replaces = taken
            what = "the candidate" if replaces is None else f"the refinement of #{replaces}"
            self.target = _Target(image_id, MaskPainting(mask), replaces, what)
        elif lab.selected is not None and lab.document.has_annotation(lab.selected):
            annotation = lab.document.annotation(lab.selected)
            image = lab.document.image(image_id)
            mask = segmentation_to_mask(annotation.segmentation, image.height, image.width)
            self.target = _Target(image_id, MaskPainting(mask), annotation.id, f"#{annotation.id}")
            lab.set_painting(annotation.id)
        else:
            height, width = self.scene.image_size
            self.target = _Target(image_id, MaskPainting.empty(height, width), None, "a new mask")
        self.view.set_mode(CanvasView.PAINT_MODE)
        self.activeChanged.emit(True)
        return True

    def _end(self) -> None:
        self.target = None
        self.labeling.set_painting(None)
        self.view.set_mode(CanvasView.PROMPT_MODE)
        self.scene.set_paint_overlay(None)
        self.scene.show_brush(0.0, 0.0, None)
        self.activeChanged.emit(False)

    def _say_tool(self) -> None:
        assert self.target is not None
        tool = "Eraser" if self.erase else "Brush"
        self.message.emit(
            f"{tool} on {self.target.what}: drag to paint (right drag: the other tool), "
            "[ ] size, Ctrl+Z last stroke, Enter keeps it, Esc drops it"
        )

    # -- strokes -------------------------------------------------------------------------
    def _stroke_started(self, x: float, y: float, inverted: bool) -> None:
        if self.target is None:
            return
        self.target.painting.begin_stroke(x, y, self.radius, erase=self.erase != inverted)
        self._show()

    def _stroke_moved(self, x: float, y: float) -> None:
        if self.target is not None:
            self.target.painting.extend_stroke(x, y)
            self._show()

    def _stroke_ended(self) -> None:
        if self.target is not None:
            self.target.painting.end_stroke()

    def _pointer_moved(self, x: float, y: float) -> None:
        self._pointer = (x, y)
        if self.target is not None:
            self.scene.show_brush(x, y, self.radius)

    def _show(self) -> None:
        if self.target is None:
            return
        small = downsample_mask(self.target.painting.mask, self.view.display_mask_size())
        self.scene.set_paint_overlay(mask_overlay_rgba(small, self.labeling.color()))
        if self._pointer is not None:
            self.scene.show_brush(*self._pointer, self.radius)
