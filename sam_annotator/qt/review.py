"""The review pass (V): step through the annotations not reviewed yet, across the
dataset, and accept, reject or fix each one with the keyboard.

For annotations that came from elsewhere (`auto` proposals, an imported COCO file,
`segment-boxes`) and for a second pair of eyes. The order is
:mod:`sam_annotator.model.review`'s: image by image, the most doubtful first. The
annotation under review is selected (vertex handles on) and centred in the view:
- Enter: accept: it is marked reviewed (undoable) and the pass moves on;
- X: reject: it is deleted (undoable) and the pass moves on;
- Tab / Shift+Tab: skip to the next / previous one without marking it;
- fix it first with R (refine with the model), B / E (brush, eraser) or its vertex
  handles, then Enter;
- Esc ends the pass.
Going to another image by hand continues the pass from that image.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRectF, Signal

from sam_annotator.model.commands import DeleteAnnotations, SetReviewed
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.records import Annotation
from sam_annotator.model.review import (
    ReviewPosition,
    next_to_review,
    review_score,
    unreviewed_count,
)
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.canvas.view import CanvasView
from sam_annotator.qt.labeling import LabelingController
from sam_annotator.qt.navigation import Navigator

KEYS = "Enter accept · X reject · R refine · B/E brush · Tab skip · Esc stop"


class ReviewPass(QObject):
    message = Signal(str)
    activeChanged = Signal(bool)

    def __init__(
        self,
        document: Document,
        undo_stack: UndoStack,
        labeling: LabelingController,
        navigator: Navigator,
        view: CanvasView,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.undo_stack = undo_stack
        self.labeling = labeling
        self.navigator = navigator
        self.view = view
        self.active = False
        self.position: ReviewPosition | None = None
        navigator.imageChanged.connect(self._on_image_changed)

    @property
    def current(self) -> int | None:
        """The annotation under review (None between two, or when the pass is off)."""
        if not self.active or self.position is None:
            return None
        annotation_id = self.position.annotation_id
        if annotation_id is None or not self.document.has_annotation(annotation_id):
            return None
        return annotation_id

    # -- keys ----------------------------------------------------------------------------
    def start(self) -> None:
        """V: start the pass at the current image (or stop it when it runs)."""
        if self.active:
            self.stop()
            return
        image_id = self.navigator.current
        self.active = True
        self.activeChanged.emit(True)
        self.position = None if image_id is None else ReviewPosition(image_id)
        self._go(next_to_review(self.document, self.position))

    def stop(self) -> None:
        if self.active:
            self.active = False
            self.position = None
            self.activeChanged.emit(False)
            left = unreviewed_count(self.document)
            self.message.emit(
                f"Review stopped ({left} not reviewed)" if left
                else "Review done: every annotation is reviewed"
            )  # fmt: skip

    def accept(self) -> None:
        """Enter: mark the annotation under review reviewed, then go to the next."""
        current = self.current
        if current is not None:
            try:
                self.undo_stack.push(SetReviewed([current]))
            except DocumentError as error:
                self.message.emit(f"Not marked: {error}")
                return
        self._go(next_to_review(self.document, self.position))

    def reject(self) -> None:
        """X: delete the annotation under review (undoable), then go to the next."""
        current = self.current
        if current is None:
            self._go(next_to_review(self.document, self.position))
            return
        following = next_to_review(self.document, self.position)
        self.undo_stack.push(DeleteAnnotations([current]))
        self.labeling.select(None)
        self._go(following)

    def skip(self, step: int) -> None:
        """Tab / Shift+Tab: the next / previous annotation, leaving this one unmarked."""
        following = next_to_review(self.document, self.position, step)
        if following is None and self.current is not None:
            self.message.emit("This is the only annotation left to review")
            return
        self._go(following)

    # -- moves ---------------------------------------------------------------------------
    def _go(self, annotation: Annotation | None) -> None:
        if annotation is None:
            self.stop()
            return
        elsewhere = annotation.image_id != self.navigator.current
        if elsewhere and not self.navigator.open(annotation.image_id):
            self.position = ReviewPosition(annotation.image_id, annotation.id)
            self.message.emit("That image cannot be read: Tab skips to the next")
            return
        self.position = ReviewPosition(annotation.image_id, annotation.id)
        self.labeling.select(annotation.id)
        self.view.bring_into_view(QRectF(*annotation.bbox))
        self._say(annotation)

    def _say(self, annotation: Annotation) -> None:
        category = self.document.category(annotation.category_id).name
        score = review_score(annotation)
        scored = f", {score[0].replace('_', ' ')} {score[1]:.2f}" if score else ""
        left = unreviewed_count(self.document)
        self.message.emit(f"Review: {category} #{annotation.id}{scored} ({left} left): {KEYS}")

    def _on_image_changed(self, image_id: int | None) -> None:
        """The labeler went to another image: the pass goes on from there."""
        if self.active and image_id is not None and (
            self.position is None or self.position.image_id != image_id
        ):  # fmt: skip
            self.position = ReviewPosition(image_id)
