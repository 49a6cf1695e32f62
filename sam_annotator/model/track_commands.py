"""Undoable edits of tracks (see tracks.py for what tracks, keyframes and propagated shapes
are). Push them on an UndoStack.

- `StartTrack`: an annotation becomes the first keyframe of a new track.
- `PropagatedShape`: the tracker's answer on one frame. It adds, replaces or (the object
  is absent there) deletes the track's propagated annotation on that frame, and leaves a
  keyframe alone. The frames of one propagation run merge into one undo step.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace

from sam_annotator.model.commands import SetImageStatus
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.records import (
    Annotation,
    ImageStatus,
    Segmentation,
    freeze_segmentation,
)
from sam_annotator.model.tracks import (
    PROPAGATED,
    TRACK_ID,
    is_propagated,
    track_id_of,
    without_propagated,
)
from sam_annotator.model.undo_stack import Command


class StartTrack(Command):
    """Give an annotation a new track id (it becomes the track's keyframe)."""

    def __init__(self, annotation_id: int, track_id: int) -> None:
        if isinstance(track_id, bool) or not isinstance(track_id, int) or track_id <= 0:
            raise ValueError(f"a track id is a positive integer, not {track_id!r}")
        self.annotation_id = annotation_id
        self.track_id = track_id
        self.text = f"Start track {track_id}"
        self._old: Annotation | None = None

    def redo(self, document: Document) -> None:
        if not document.has_annotation(self.annotation_id):
            raise DocumentError(f"no annotation with id {self.annotation_id}")
        self._old = document.annotation(self.annotation_id)
        extra = without_propagated(self._old.extra) | {TRACK_ID: self.track_id}
        document.replace_annotations([replace(self._old, extra=extra)])

    def undo(self, document: Document) -> None:
        if self._old is not None:
            document.replace_annotations([self._old])


@dataclass
class _FrameChange:
    """What one frame's answer did: ``old`` (with its z-order index) removed or replaced,
    ``new`` added or put in its place (either may be None); ``started``: the image marked
    in progress when a shape is added to a not-started one (as when a person adds one)."""

    old: Annotation | None
    index: int | None
    new: Annotation | None
    started: SetImageStatus | None = None


def _track_annotation(document: Document, image_id: int, track_id: int) -> Annotation | None:
    return next((a for a in document.annotations(image_id) if track_id_of(a) == track_id), None)


class PropagatedShape(Command):
    """The tracker's shape of track ``track_id`` on image ``image_id`` (``segmentation``
    None: the object is absent there). A keyframe on that frame is left unchanged.

    run: consecutive commands with the same run (one propagation) merge into one undo
    step. The first frame fixes the ids, so redo brings back the same annotations."""

    def __init__(
        self,
        image_id: int,
        track_id: int,
        category_id: int,
        segmentation: Segmentation | list[list[float]] | None,
        run: Hashable,
    ) -> None:
        self.image_id = image_id
        self.track_id = track_id
        self.category_id = category_id
        self.segmentation = None if segmentation is None else freeze_segmentation(segmentation)
        self.run = run
        self.text = f"Propagate track {track_id}"
        self._changes: list[_FrameChange] = []
        self._frames = 0
        self._prepared = False

    def redo(self, document: Document) -> None:
        if not self._prepared:
            self._prepare(document)
        for change in self._changes:
            if change.old is not None and change.new is not None:
                document.replace_annotations([change.new])
            elif change.old is not None:
                document.remove_annotations([change.old.id])
            elif change.new is not None:
                document.insert_annotations([change.new])
            if change.started is not None:
                change.started.redo(document)

    def undo(self, document: Document) -> None:
        for change in reversed(self._changes):
            if change.started is not None:
                change.started.undo(document)
            if change.old is not None and change.new is not None:
                document.replace_annotations([change.old])
            elif change.old is not None:
                document.insert_annotations([change.old], [change.index])
            elif change.new is not None:
                document.remove_annotations([change.new.id])

    def _prepare(self, document: Document) -> None:
        """Decide what this frame's answer does (validating before anything changes)."""
        self._prepared = True
        self._frames = 1
        old = _track_annotation(document, self.image_id, self.track_id)
        if old is not None and not is_propagated(old):
            return  # a person's shape: the tracker never overwrites it
        new = None
        if self.segmentation is not None:
            if old is None:
                extra = {TRACK_ID: self.track_id, PROPAGATED: True}
                new = document.make_annotation(
                    self.image_id, self.category_id, self.segmentation, extra=extra
                )
            else:
                area, bbox = document.measure(self.image_id, self.segmentation)
                new = replace(
                    old, segmentation=self.segmentation, area=area, bbox=bbox,
                    category_id=self.category_id,
                )  # fmt: skip
        if old is None and new is None:
            return
        index = None
        if old is not None and new is None:
            index = [a.id for a in document.annotations(self.image_id)].index(old.id)
        started = None
        if old is None and document.image(self.image_id).status is ImageStatus.NOT_STARTED:
            started = SetImageStatus(self.image_id, ImageStatus.IN_PROGRESS)
        self._changes.append(_FrameChange(old, index, new, started))

    @property
    def frames(self) -> int:
        """Frames this (merged) step covers."""
        return self._frames

    def merge(self, newer: Command) -> bool:
        if isinstance(newer, PropagatedShape) and newer.run == self.run:
            self._changes.extend(newer._changes)
            self._frames += newer._frames
            self.text = f"Propagate track {self.track_id} ({self._frames} frames)"
            return True
        return False
