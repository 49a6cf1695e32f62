"""Segment everything on the current image, and the keyboard review of the proposals.

`G` asks the engine to propose everything (``Segmenter.propose_all``: SAM's automatic mask
generator) on a worker (progress in the status bar; `Esc` cancels), reusing the image's
encoding when it is ready. The proposals are drawn as outlines that do not hide the
image; proposals overlapping existing annotations are hidden. While proposals are under
review and no object is being prompted: `Enter` accepts the current one (into the current
category, undoable), `X` rejects it, `Tab` / `Shift+Tab` move, `Ctrl+Shift+Enter`
accepts every proposal at or above the IoU threshold, `Esc` ends the review.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from sam_annotator.inference.segmenter import (
    EncodedImage,
    ProposalsCancelledError,
    Segmenter,
    UnsupportedOperationError,
)
from sam_annotator.model.commands import AddAnnotations, MacroCommand, SetImageStatus
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.proposals import Proposal, ProposalReview
from sam_annotator.model.records import ImageStatus
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.main_window import MainWindow
from sam_annotator.qt.workers import BackgroundWorker, describe

DEFAULT_ACCEPT_THRESHOLD = 0.9


@dataclass(frozen=True)
class GenerationResult:
    image_id: int
    proposals: list[Proposal]


class ProposalsController(QObject):
    progress = Signal(int, int)  # done, total (emitted from the worker thread)
    reviewChanged = Signal()
    message = Signal(str)

    def __init__(
        self,
        window: MainWindow,
        document: Document,
        undo_stack: UndoStack,
        *,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window = window
        self.document = document
        self.undo_stack = undo_stack
        self.accept_threshold = DEFAULT_ACCEPT_THRESHOLD
        self.review: ProposalReview | None = None
        self._cancel = threading.Event()
        self._running_for: int | None = None
        self.worker = BackgroundWorker("everything", self)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.progress.connect(self._on_progress)

    @property
    def active(self) -> bool:
        """True while proposals are under review or being generated."""
        return self.review is not None or self._running_for is not None

    # -- generation ----------------------------------------------------------------------
    def start(
        self,
        image_id: int | None,
        image: np.ndarray | None,
        segmenter: Segmenter | None,
        encoded: EncodedImage | None = None,
    ) -> None:
        """Propose everything on ``image`` (HxWx3 RGB) with ``segmenter`` on the worker;
        ``encoded`` is its encoding when ready (else the job encodes it first)."""
        if image_id is None or image is None or segmenter is None:
            return
        self.end_review()
        self._cancel.clear()
        self._running_for = image_id
        cancel, progress = self._cancel, self.progress.emit

        def job() -> GenerationResult:
            encoding = encoded if encoded is not None else segmenter.encode(image)
            proposals = segmenter.propose_all(encoding, image, progress=progress, cancel=cancel)
            return GenerationResult(image_id, proposals)

        self.window.show_progress("Segment everything", 0)
        self.message.emit("Segmenting everything… (Esc cancels)")
        self.worker.submit("everything", job)

    def cancel(self) -> None:
        if self._running_for is not None:
            self._cancel.set()

    def _on_progress(self, done: int, total: int) -> None:
        if self._running_for is not None:
            self.window.show_progress("Segment everything", done, max(total, 1))

    def _on_finished(self, _key, result) -> None:
        image_id, self._running_for = self._running_for, None
        self.window.hide_progress()
        if not isinstance(result, GenerationResult) or result.image_id != image_id:
            return
        image = self.document.image(image_id)
        self.review = ProposalReview(
            image_id,
            result.proposals,
            image_size=(image.height, image.width),
            existing=self.document.annotations(image_id),
        )
        hidden = self.review.hidden_count
        note = f", {hidden} hidden (already labeled)" if hidden else ""
        self.message.emit(
            f"{len(result.proposals)} proposals{note}: Enter accepts, X rejects, Tab moves"
        )
        self._show()

    def _on_failed(self, _key, error: Exception) -> None:
        self._running_for = None
        self.window.hide_progress()
        if isinstance(error, ProposalsCancelledError):
            self.message.emit("Segment everything cancelled.")
        elif isinstance(error, UnsupportedOperationError):
            self.message.emit(str(error))
        else:
            self.message.emit(f"Segment everything failed: {describe(error)}")
        self.reviewChanged.emit()

    # -- review --------------------------------------------------------------------------
    def accept(self, category_id: int) -> bool:
        if self.review is None:
            return False
        proposal = self.review.accept_current()
        if proposal is not None:
            self._add([proposal], category_id, "Accept proposal")
        self._show()
        return proposal is not None

    def reject(self) -> bool:
        if self.review is None:
            return False
        rejected = self.review.reject_current() is not None
        self._show()
        return rejected

    def accept_all(self, category_id: int) -> int:
        if self.review is None:
            return 0
        accepted = self.review.accept_all(self.accept_threshold)
        if accepted:
            self._add(accepted, category_id, f"Accept {len(accepted)} proposals")
        self.message.emit(
            f"Accepted {len(accepted)} proposals with predicted IoU >= {self.accept_threshold}"
        )
        self._show()
        return len(accepted)

    def step(self, direction: int) -> None:
        if self.review is not None:
            self.review.step(direction)
            self._show()

    def end_review(self) -> None:
        self.review = None
        self.window.scene.set_proposals([], None)
        self.reviewChanged.emit()

    def image_changed(self) -> None:
        self.cancel()
        self.end_review()

    def _add(self, proposals: list[Proposal], category_id: int, text: str) -> None:
        review = self.review
        try:
            annotations = [
                self.document.make_annotation(
                    review.image_id, category_id, p.polygons, extra=p.extra
                )
                for p in proposals
            ]
        except DocumentError as error:
            self.message.emit(f"Not accepted: {error}")
            return
        commands = [AddAnnotations(annotations)]
        if self.document.image(review.image_id).status is ImageStatus.NOT_STARTED:
            commands.append(SetImageStatus(review.image_id, ImageStatus.IN_PROGRESS))
        self.undo_stack.push(MacroCommand(text, commands))

    def _show(self) -> None:
        review = self.review
        if review is None:
            self.window.scene.set_proposals([], None)
        else:
            indexes = review.open_indexes()
            polygons = [review.proposals[i].polygons for i in indexes]
            current = indexes.index(review.current) if review.current in indexes else None
            self.window.scene.set_proposals(polygons, current)
            if review.is_finished:
                self.message.emit("All proposals reviewed.")
                self.review = None
                self.window.scene.set_proposals([], None)
        self.reviewChanged.emit()
