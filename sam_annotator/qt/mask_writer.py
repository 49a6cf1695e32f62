"""Masks and hand-drawn polygons into the document, each as one undoable step.

An accepted candidate or a painted mask (HxW bool, image pixels) is converted to COCO
polygons on a background worker (a large mask can take seconds): trimmed first by the
image's other annotations when "do not overlap" is on, parts smaller than
``min_part_area`` dropped. On arrival it becomes a new annotation of the current category
(the image marked in progress), or the new shape of the annotation it ``replaces``.
``converting`` counts the masks still on their way, so the labeling loop can say so.

Ctrl+Z pressed while masks are still on their way means "undo that accept", not the
step before it (an annotation of another image, perhaps): :meth:`undo_on_arrival`
remembers it, and the newest accepts are undone as they land (so Ctrl+Shift+Z brings
them back); :meth:`cancel_undo_on_arrival` takes such a request back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from sam_annotator.model.commands import AddAnnotation, EditPolygon, MacroCommand, SetImageStatus
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.geometry import (
    ACCEPT_MIN_PART_AREA,
    mask_to_polygons,
    segmentation_to_mask,
)
from sam_annotator.model.records import ImageStatus
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.workers import BackgroundWorker, describe

_KEY = "accept"  # worker keys of conversions: (_KEY, n)


@dataclass(frozen=True)
class ConvertedMask:
    image_id: int
    polygons: list[list[float]]
    dropped_parts: int
    replaces: int | None = None  # the annotation whose shape these polygons become


class MaskWriter(QObject):
    message = Signal(str)

    def __init__(
        self,
        document: Document,
        undo_stack: UndoStack,
        worker: BackgroundWorker,
        current_category: Callable[[], int],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.undo_stack = undo_stack
        self.worker = worker
        self._current_category = current_category  # raises DocumentError when none
        self.min_part_area: float = ACCEPT_MIN_PART_AREA  # pixels; parts below are dropped
        self.no_overlap = False  # new masks keep out of the image's other annotations
        self._converting = 0
        self._undo_on_arrival = 0  # how many of the newest conversions to undo on arrival
        self._keys = itertools.count()
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    @staticmethod
    def owns(key: Hashable) -> bool:
        """Whether a worker key is one of this writer's conversions."""
        return isinstance(key, tuple) and len(key) == 2 and key[0] == _KEY

    @property
    def converting(self) -> int:
        """Masks still being converted to polygons (queued or running)."""
        return self._converting

    def undo_on_arrival(self) -> None:
        """Undo the newest accept still being converted, as soon as it lands (the
        caller checked :attr:`converting`)."""
        self._undo_on_arrival = min(self._undo_on_arrival + 1, self._converting)
        self.message.emit("Undo: the accepted mask is undone as soon as it is converted")

    def cancel_undo_on_arrival(self) -> bool:
        """Take back the newest :meth:`undo_on_arrival` request; False if none."""
        if not self._undo_on_arrival:
            return False
        self._undo_on_arrival -= 1
        self.message.emit("Redo: the accepted mask is kept")
        return True

    def convert(
        self, image_id: int, make_mask: Callable[[], np.ndarray], replaces: int | None
    ) -> None:
        """On the worker: ``make_mask()`` (HxW bool of image `image_id`), trimmed when
        "do not overlap" is on, to polygons; added (or replacing) on arrival."""
        min_area = self.min_part_area
        image = self.document.image(image_id)
        taken = [  # what the new mask may not cover ("do not overlap")
            a.segmentation for a in self.document.annotations(image_id) if a.id != replaces
        ] if self.no_overlap else []  # fmt: skip

        def job() -> ConvertedMask:
            mask = np.array(make_mask(), dtype=bool)
            for segmentation in taken:
                mask &= ~segmentation_to_mask(segmentation, image.height, image.width)
            # Traced exactly when trimmed: a simplified outline could re-cover a pixel.
            tolerance = {"tolerance": 0.0} if taken else {}
            conversion = mask_to_polygons(mask, min_area=min_area, **tolerance)
            dropped = len(conversion.dropped_parts)
            return ConvertedMask(image_id, conversion.polygons, dropped, replaces)

        self._converting += 1
        if self._converting > 1 or self.worker.is_busy():
            self.message.emit(f"Converting the mask to polygons… ({self._converting} waiting)")
        self.worker.submit((_KEY, next(self._keys)), job)

    def add(self, image_id: int, polygons: list[list[float]], extra: str) -> bool:
        """Add `polygons` (image pixels) as an annotation of the current category, in one
        undoable step; False (with the reason in a message) when they cannot be."""
        try:
            category_id = self._current_category()
            annotation = self.document.make_annotation(image_id, category_id, polygons)
        except DocumentError as error:
            self.message.emit(f"Not accepted: {error}")
            return False
        commands = [AddAnnotation(annotation)]
        if self.document.image(image_id).status is ImageStatus.NOT_STARTED:
            commands.append(SetImageStatus(image_id, ImageStatus.IN_PROGRESS))
        self.undo_stack.push(MacroCommand("Add annotation", commands))
        name = self.document.category(category_id).name
        self.message.emit(f"Added {name} #{annotation.id}{extra}")
        return True

    def _on_finished(self, key: Hashable, result: object) -> None:
        if not self.owns(key) or not isinstance(result, ConvertedMask):
            return
        undo = self._arrived()
        if not result.polygons:
            self.message.emit("Nothing to accept: the mask is empty.")
            return
        extra = f" ({result.dropped_parts} tiny parts dropped)" if result.dropped_parts else ""
        if result.replaces is None:
            landed = self.add(result.image_id, result.polygons, extra)
        else:
            landed = self._replace(result.replaces, result.polygons, extra)
        if landed and undo:
            text = self.undo_stack.undo_text
            self.undo_stack.undo()
            self.message.emit(f"Undid {text.lower()}")

    def _on_failed(self, key: Hashable, error: BaseException) -> None:
        if self.owns(key):
            self._arrived()
            self.message.emit(f"Not accepted: {describe(error)}")

    def _arrived(self) -> bool:
        """One conversion is back: whether it is among the newest ones to undo."""
        self._converting -= 1
        if self._undo_on_arrival > self._converting:
            self._undo_on_arrival -= 1
            return True
        return False

    def _replace(self, annotation_id: int, polygons: list[list[float]], extra: str) -> bool:
        """A refined or painted mask becomes its annotation's shape: one undoable step
        (False, with the reason in a message, when it cannot)."""
        if not self.document.has_annotation(annotation_id):
            self.message.emit(f"Not refined: #{annotation_id} was deleted meanwhile")
            return False
        try:
            self.undo_stack.push(EditPolygon(annotation_id, polygons))
        except DocumentError as error:
            self.message.emit(f"Not refined: {error}")
            return False
        self.message.emit(f"Refined #{annotation_id}{extra}")
        return True
