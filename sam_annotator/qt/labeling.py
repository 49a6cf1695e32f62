"""The labeling loop on the current image: prompts -> candidates -> annotation.

`LabelingController` owns the PromptSession of the object being segmented and the
decode worker. Clicks and boxes from the canvas edit the session; each edit is decoded
on the worker (never on the GUI thread) with the current image's encoding, or kept until
that encoding is ready. Answers to superseded prompts are dropped. The chosen candidate
is drawn at display resolution; accepting renders it once at full resolution (also on
the worker), converts it to polygons and pushes an undoable command.

Ctrl+Z removes the last prompt while an object is being prompted, and undoes the last
document edit otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor

from sam_annotator.inference.segmenter import EncodedImage, Segmenter
from sam_annotator.model.commands import (
    DeleteAnnotations,
    EditPolygon,
    SetAnnotationCategory,
)
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.geometry import (
    segmentation_to_mask,
)
from sam_annotator.model.prompt_types import Candidate
from sam_annotator.model.prompts import DecodeRequest, PromptSession
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.canvas.overlay import mask_overlay_rgba
from sam_annotator.qt.canvas.scene import AnnotationView, CanvasScene
from sam_annotator.qt.canvas.view import CanvasView
from sam_annotator.qt.docks.candidates import CandidatePreview, CandidateStrip, candidate_previews
from sam_annotator.qt.mask_writer import MaskWriter
from sam_annotator.qt.workers import BackgroundWorker, describe

HIGHLIGHT = QColor(30, 144, 255)
PREVIEW_BASE = 640  # long side of the downscaled photo the previews are cut from


@dataclass(frozen=True)
class DecodeAnswer:
    generation: int
    image_id: int
    candidates: list[Candidate]
    overlay: np.ndarray | None  # RGBA of candidates[0] at display size
    previews: list[np.ndarray]  # RGB thumbnails, one per candidate


def downscaled(rgb: np.ndarray, long_side: int = PREVIEW_BASE) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def render_overlay(
    segmenter: Segmenter, encoded: EncodedImage, candidate: Candidate, size, color: QColor
) -> np.ndarray:
    return mask_overlay_rgba(segmenter.render(encoded, candidate, size), color)


class LabelingController(QObject):
    message = Signal(str)  # for the status bar
    selectionChanged = Signal(object)  # annotation id or None

    def __init__(
        self,
        view: CanvasView,
        scene: CanvasScene,
        candidates: CandidateStrip,
        document: Document,
        undo_stack: UndoStack,
        encoding_for: Callable[[int], EncodedImage | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view = view
        self.scene = scene
        self.candidates = candidates
        self.document = document
        self.undo_stack = undo_stack
        self._encoding_for = encoding_for
        self.segmenter: Segmenter | None = None
        self.session = PromptSession()
        self.image_id: int | None = None
        self.category_id: int | None = None
        self.selected: int | None = None
        self.hidden: set[int] = set()
        self._preview_base: np.ndarray | None = None
        self._accept_pending = False
        self._overlay_cache: dict[int, np.ndarray] = {}
        self._after_answer: list[Callable[[], object]] = []  # keys pressed while waiting
        self.painting: int | None = None  # an annotation under the brush: not drawn
        self._previews: list[np.ndarray] = []
        self.worker = BackgroundWorker("decode", self)
        self.worker.finished.connect(self._on_worker_finished)
        self.worker.failed.connect(self._on_worker_failed)
        # Accepted masks are converted on the same worker: a decode never overtakes them.
        self.writer = MaskWriter(document, undo_stack, self.worker, self.current_category, self)
        self.writer.message.connect(self.message)
        view.pointPrompted.connect(self.add_point)
        view.boxPrompted.connect(self.set_box)
        view.annotationPicked.connect(self.select)
        view.zoomChanged.connect(lambda _zoom: self._refresh_overlay())
        scene.polygonsEdited.connect(self.edit_polygons)
        candidates.chosen.connect(self.choose)
        document.events.changed.connect(self._on_document_changed)
        # Another folder replaced the contents: image ids now name other images.
        document.events.reset.connect(lambda: self.set_image(None, None))

    # -- image -------------------------------------------------------------------------
    def set_image(self, image_id: int | None, rgb: np.ndarray | None) -> None:
        """Show another image: prompts are forgotten, the selection cleared."""
        self._forget_object()
        self.image_id = image_id
        self.selected = None
        self.hidden.clear()
        self._preview_base = None if rgb is None else downscaled(rgb)
        self.scene.set_image(rgb)
        self.view.fit()
        self._refresh_annotations()
        self._show_session()
        self.selectionChanged.emit(None)

    def set_segmenter(self, segmenter: Segmenter | None) -> None:
        """Use another engine. Prompts made before the first engine was loaded are kept
        (answered once the image is encoded); another engine's candidates are dropped."""
        if self.segmenter is not None:
            self._forget_object()
        self.segmenter = segmenter
        self._show_session()

    def encoding_ready(self, image_id: int) -> None:
        """The current image's encoding arrived: answer the prompts made meanwhile."""
        if image_id == self.image_id and self.session.is_waiting:
            request = self.session.request_again()
            if request is not None:
                self._submit(request)

    def _forget_object(self) -> None:
        """Drop the object being prompted, with the keys waiting for its answer."""
        self.session.clear()
        self._accept_pending = False
        self._after_answer = []

    # -- prompts -----------------------------------------------------------------------
    def add_point(self, x: float, y: float, positive: bool) -> None:
        if self.image_id is None:
            return
        self._submit(self.session.add_point(x, y, positive))

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        if self.image_id is None:
            return
        self._submit(self.session.set_box((x0, y0, x1, y1)))

    def clear_prompts(self) -> None:
        """Esc: forget the object; with no object, deselect."""
        if self.session.is_active:
            self._forget_object()
            self._show_session()
        elif self.selected is not None:
            self.select(None)

    def set_no_overlap(self, enabled: bool) -> None:
        """With it on, an accepted mask loses the pixels of the image's other annotations,
        so touching objects are not counted twice."""
        self.writer.no_overlap = enabled

    def set_use_previous_mask(self, enabled: bool) -> None:
        self.session.use_previous_mask = enabled

    def choose(self, index: int) -> None:
        """Keys 1-4: show candidate `index`; while an answer is on its way, the key is
        kept and applied to the new candidates."""
        if self.session.is_waiting:
            self._after_answer.append(lambda: self.session.choose(index))
            self.message.emit(f"Candidate {index + 1} is chosen as soon as the answer arrives")
        elif self.session.choose(index):
            self._show_session()

    def cycle(self, step: int) -> None:
        """Tab / Shift+Tab (kept like ``choose`` while an answer is on its way)."""
        if self.session.is_waiting:
            self._after_answer.append(lambda: self.session.cycle(step))
            self.message.emit("Tab applies to the new candidates as soon as they arrive")
        elif self.session.cycle(step):
            self._show_session()

    def _submit(self, request: DecodeRequest | None) -> None:
        self._show_session()
        if request is None or self.segmenter is None or self.image_id is None:
            return
        encoded = self._encoding_for(self.image_id)
        if encoded is None:
            self.message.emit("Prompt kept: it is answered as soon as the image is encoded.")
            return
        if self.writer.converting:
            self.message.emit("Segmenting once the accepted mask is converted…")
        segmenter, image_id, base = self.segmenter, self.image_id, self._preview_base
        size = self.view.display_mask_size()
        color = self.color()

        def job() -> DecodeAnswer:
            candidates = segmenter.decode(encoded, request.prompts, with_single=request.with_single)
            overlay = None
            previews = []
            if candidates:
                overlay = render_overlay(segmenter, encoded, candidates[0], size, color)
                if base is not None:
                    masks = [segmenter.render(encoded, c, base.shape[:2]) for c in candidates]
                    rgb = (color.red(), color.green(), color.blue())
                    previews = candidate_previews(base, masks, rgb)
            return DecodeAnswer(request.generation, image_id, candidates, overlay, previews)

        self.worker.submit("decode", job)

    # -- accept ------------------------------------------------------------------------
    def accept(self) -> None:
        """Turn the chosen candidate into an annotation (waits for a pending answer)."""
        if not self.session.is_active or self.segmenter is None or self.image_id is None:
            if self.writer.converting:
                self.message.emit(
                    f"Still converting {self.writer.converting} accepted mask(s) to polygons…"
                )
            return
        if not self.session.can_accept:
            self._accept_pending = True  # accepted as soon as the answer arrives
            self.message.emit("Accept queued: it happens as soon as the mask is ready")
            return
        encoded = self._encoding_for(self.image_id)
        candidate = self.session.chosen
        if encoded is None or candidate is None:
            return
        segmenter, replaces = self.segmenter, self.session.refining
        self._forget_object()
        self._show_session()
        render = lambda: segmenter.render(encoded, candidate, None)  # noqa: E731 (on the worker)
        self.writer.convert(self.image_id, render, replaces)

    def take_candidate_mask(self) -> tuple[np.ndarray, int | None] | None:
        """The chosen candidate at full resolution (HxW bool, image pixels) and the
        annotation it refines (or None), taking it out of the prompt session; None when
        no candidate is shown."""
        if self.segmenter is None or self.image_id is None or self.session.chosen is None:
            return None
        encoded = self._encoding_for(self.image_id)
        if encoded is None:
            return None
        mask = self.segmenter.render(encoded, self.session.chosen, None)
        replaces = self.session.refining
        self._forget_object()
        self._show_session()
        return mask, replaces

    def accept_mask(self, image_id: int, mask: np.ndarray, replaces: int | None) -> None:
        """Add an HxW bool mask of image `image_id` as an annotation of the current
        category, or make it the new shape of annotation `replaces`: one undoable step,
        through the same polygon conversion (and "do not overlap" rule) as a candidate."""
        self.writer.convert(image_id, lambda: mask, replaces)

    def add_polygons(self, polygons: list[list[float]]) -> bool:
        """Add polygons drawn by hand (image pixels) as an annotation of the current
        category on the current image, in one undoable step; False (with the reason in a
        message) when they cannot be."""
        return self.image_id is not None and self.writer.add(self.image_id, polygons, "")

    def refine_selected(self) -> None:
        """Prompt the model again on the selected annotation: its mask becomes the mask
        prompt of the next clicks, and Enter replaces the annotation."""
        annotation_id = self.selected
        if annotation_id is None or not self.document.has_annotation(annotation_id):
            self.message.emit("Select an annotation to refine first (click it or pick it)")
            return
        if self.segmenter is None or self.image_id is None:
            return
        encoded = self._encoding_for(self.image_id)
        if encoded is None:
            self.message.emit("The image is not ready yet: refine once it is encoded")
            return
        annotation = self.document.annotation(annotation_id)
        image = self.document.image(annotation.image_id)
        mask_input = None
        if self.segmenter.mask_input_supported:
            mask = segmentation_to_mask(annotation.segmentation, image.height, image.width)
            mask_input = self.segmenter.mask_input_from_mask(encoded, mask)
        self._forget_object()
        self.session.refine(annotation_id, mask_input)
        self._show_session()
        how = "" if mask_input is not None else f" ({self.segmenter.name} takes no mask prompt)"
        self.message.emit(
            f"Refining #{annotation_id}{how}: click to add or remove parts, "
            "Enter replaces it, Esc cancels"
        )

    # -- document edits ----------------------------------------------------------------
    def undo(self) -> None:
        """The last prompt of the object being segmented, else the newest accept still
        being converted (when it lands), else the last document edit."""
        if self.session.is_active:
            self._submit(self.session.undo())
            self._show_session()
        elif self.writer.converting:
            self.writer.undo_on_arrival()
        elif self.undo_stack.can_undo:
            self.undo_stack.undo()

    def redo(self) -> None:
        if self.writer.cancel_undo_on_arrival():
            return
        if self.undo_stack.can_redo:
            self.undo_stack.redo()

    def delete_selected(self) -> None:
        if self.selected is not None and self.document.has_annotation(self.selected):
            self.undo_stack.push(DeleteAnnotations([self.selected]))
            self.select(None)

    def edit_polygons(self, annotation_id: int, polygons: list[list[float]]) -> None:
        try:
            self.undo_stack.push(EditPolygon(annotation_id, polygons))
        except (DocumentError, ValueError) as error:
            self.message.emit(f"Edit refused: {error}")
            self._refresh_annotations()

    def select(self, annotation_id: int | None) -> None:
        if annotation_id is not None and not self.document.has_annotation(annotation_id):
            annotation_id = None
        self.selected = annotation_id
        self.scene.set_selected(annotation_id)
        self.selectionChanged.emit(annotation_id)

    def set_category(self, category_id: int) -> None:
        """Use this category for new annotations, and for the selected one."""
        self.category_id = category_id
        if self.selected is not None:
            annotation = self.document.annotation(self.selected)
            if annotation.category_id != category_id:
                self.undo_stack.push(SetAnnotationCategory([self.selected], category_id))
        self.message.emit(f"Category: {self.document.category(category_id).name}")
        self._refresh_overlay()

    def set_hidden(self, annotation_id: int, hidden: bool) -> None:
        (self.hidden.add if hidden else self.hidden.discard)(annotation_id)
        self._refresh_annotations()

    # -- display -----------------------------------------------------------------------
    def _on_worker_failed(self, key, error: BaseException) -> None:
        if not MaskWriter.owns(key):
            self.message.emit(f"Segmentation failed: {describe(error)}")

    def _on_worker_finished(self, key, result) -> None:
        if (
            isinstance(result, DecodeAnswer)
            and result.image_id == self.image_id
            and self.session.receive(result.generation, result.candidates)
        ):
            self._overlay_cache = {0: result.overlay} if result.overlay is not None else {}
            self._previews = result.previews
            keys, self._after_answer = self._after_answer, []
            for key in keys:
                key()
            self._show_session(new_answer=True)
            if self._accept_pending:
                self.accept()

    def _show_session(self, new_answer: bool = False) -> None:
        scene, session = self.scene, self.session
        prompts = session.prompts
        points = [
            (x, y, label == 1) for (x, y), label in zip(prompts.points, prompts.labels, strict=True)
        ]
        scene.set_prompts(points, prompts.box)
        if not new_answer:
            self._overlay_cache = {}
        if not session.candidates:
            self._previews = []
        previews = [
            CandidatePreview(p, c.score, c.description)
            for p, c in zip(self._previews, session.candidates, strict=False)
        ]
        score_name = "score" if self.segmenter is None else self.segmenter.score_name
        self.candidates.set_candidates(previews, session.chosen_index, score_name)
        self._refresh_overlay()
        waiting = session.is_waiting
        self.view.viewport().setCursor(
            Qt.CursorShape.BusyCursor if waiting else Qt.CursorShape.CrossCursor
        )

    def _refresh_overlay(self) -> None:
        chosen, index = self.session.chosen, self.session.chosen_index
        encoded = None if self.image_id is None else self._encoding_for(self.image_id)
        if chosen is None or encoded is None or self.segmenter is None:
            self.scene.set_candidate_overlay(None)
            return
        overlay = self._overlay_cache.get(index)
        size = self.view.display_mask_size()
        if overlay is None or overlay.shape[:2] != size:
            overlay = render_overlay(self.segmenter, encoded, chosen, size, self.color())
            self._overlay_cache[index] = overlay
        self.scene.set_candidate_overlay(overlay)

    def set_painting(self, annotation_id: int | None) -> None:
        """Do not draw this annotation: the brush shows its mask instead (None: draw all)."""
        self.painting = annotation_id
        self._refresh_annotations()

    def color(self) -> QColor:
        """The current category's colour (what new masks are drawn in)."""
        if self.category_id is not None and self._has_category(self.category_id):
            return QColor(self.document.category(self.category_id).color)
        return HIGHLIGHT

    def _has_category(self, category_id: int) -> bool:
        return any(c.id == category_id for c in self.document.categories())

    def current_category(self) -> int:
        if self.category_id is not None and self._has_category(self.category_id):
            return self.category_id
        categories = self.document.categories()
        if categories:
            self.category_id = categories[0].id
            return self.category_id
        raise DocumentError("there is no category: add one first (Ctrl+N)")

    def _on_document_changed(self) -> None:
        if self.selected is not None and not self.document.has_annotation(self.selected):
            self.select(None)
        self._refresh_annotations()

    def _refresh_annotations(self) -> None:
        if self.image_id is None:
            self.scene.set_annotations([])
            return
        views = []
        for annotation in self.document.annotations(self.image_id):
            if not annotation.is_polygon or annotation.id == self.painting:
                continue  # crowd RLE regions are not drawn as editable polygons
            color = QColor(self.document.category(annotation.category_id).color)
            visible = annotation.id not in self.hidden
            views.append(AnnotationView(annotation.id, annotation.polygons, color, visible))
        self.scene.set_annotations(views)
        self.scene.set_selected(self.selected)
