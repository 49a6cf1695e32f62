"""Propagating an object through a sequence of frames (model/tracks.py says what sequences,
tracks and keyframes are).

`T` (both ways), `.` (forward) and `,` (backward) propagate the selected annotation (else
the frame's newest one) from the current frame: it becomes a keyframe of its track (a new
track if it had none), every keyframe of the track conditions the tracker
(``Segmenter.track``, on this controller's own worker), and the frames up to the next
keyframes each way are recomputed, so a correction re-propagates only the frames it
affects. Each answer becomes that frame's propagated shape as it arrives (converted to
polygons on the worker), the whole run one undo step; progress shows in the status bar
and `Esc` cancels (what arrived is kept). Another object asked for during a run waits
its turn.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal

from sam_annotator.inference.segmenter import (
    Segmenter,
    TrackingCancelledError,
    TrackingError,
    TrackRequest,
    UnsupportedOperationError,
)
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.geometry import mask_to_polygons, segmentation_to_mask
from sam_annotator.model.records import ImageRecord
from sam_annotator.model.track_commands import PropagatedShape, StartTrack
from sam_annotator.model.tracks import (
    Direction,
    is_propagated,
    next_track_id,
    propagation_spans,
    sequence_of,
    track_id_of,
    tracks_in,
)
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.main_window import MainWindow
from sam_annotator.qt.workers import BackgroundWorker, describe

MIN_PART_AREA = 20  # pixels: specks of a propagated mask dropped, as for accepted masks


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"


@dataclass(frozen=True)
class _Run:
    """One propagation: its track, its frames (in sequence order), its size in frames,
    what it asks the engine and its own cancel flag."""

    id: int
    track_id: int
    category_id: int
    frames: tuple[ImageRecord, ...]
    total: int
    request: TrackRequest
    cancel: threading.Event = field(default_factory=threading.Event)


class TrackingController(QObject):
    message = Signal(str)
    runChanged = Signal(bool)  # running
    progress = Signal(int, int)  # frames done, total
    _answered = Signal(int, int, object)  # run id, frame index, polygons or None (worker)

    def __init__(
        self,
        window: MainWindow,
        document: Document,
        undo_stack: UndoStack,
        path_of: Callable[[int], object],
        segmenter_of: Callable[[], Segmenter | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window = window
        self.document = document
        self.undo_stack = undo_stack
        self.path_of = path_of
        self.segmenter_of = segmenter_of
        self.min_part_area = MIN_PART_AREA
        self.worker = BackgroundWorker("tracking", self)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self._answered.connect(self._on_answer)
        self.progress.connect(lambda done, total: window.show_progress("Propagating", done, total))
        document.events.reset.connect(self._on_reset)
        self._runs = itertools.count(1)
        self._run: _Run | None = None
        self._queue: deque[_Run] = deque()  # runs asked for while one was going
        self._done = 0

    @property
    def running(self) -> bool:
        return self._run is not None

    def propagate(
        self, image_id: int | None, annotation_id: int | None, direction: Direction
    ) -> bool:
        """Propagate ``annotation_id`` (on ``image_id``; None: the frame's newest
        annotation, so `Enter` then `T` propagates what was just accepted) ``direction``;
        False, with the reason in a message, when it cannot start."""
        if annotation_id is None and image_id is not None:
            on_frame = self.document.annotations(image_id)
            annotation_id = max((a.id for a in on_frame), default=None)
        frames = () if image_id is None else sequence_of(self.document.images(), image_id)
        why = self._refusal(image_id, annotation_id, frames)
        if why:
            self.message.emit(why)
            return False
        assert image_id is not None and annotation_id is not None
        annotation = self.document.annotation(annotation_id)
        track_id = track_id_of(annotation)
        if any(r.track_id == track_id for r in (self._run, *self._queue) if r is not None):
            self.message.emit(f"Track {track_id} is being propagated already")
            return False
        if track_id is None or is_propagated(annotation):  # the person's shape now
            new_id = track_id or next_track_id(self.document.annotations())
            self.undo_stack.push(StartTrack(annotation_id, new_id))
            track_id = new_id
        track = next(t for t in tracks_in([self.document.annotations(f.id) for f in frames])
                     if t.id == track_id)  # fmt: skip
        start = next(i for i, f in enumerate(frames) if f.id == image_id)
        if track.annotation_on(start) != annotation_id:
            self.message.emit(f"Frame {start + 1} holds two annotations of track {track_id}: "
                              "delete one, then propagate")  # fmt: skip
            return False
        spans = propagation_spans(len(frames), track.keyframes, start, direction)
        if not spans:
            self.message.emit(f"Track {track_id}: no frames to propagate to {direction.value} "
                              "(the next frames are keyframes, or the sequence ends)")  # fmt: skip
            return False
        keyframes = {}
        for index in track.keyframes:
            frame = frames[index]
            shape = self.document.annotation(track.annotation_on(index)).segmentation
            keyframes[index] = segmentation_to_mask(shape, frame.height, frame.width)
        paths = tuple(self.path_of(f.id) for f in frames)
        request = TrackRequest(paths, keyframes, tuple(spans))
        run = _Run(next(self._runs), track_id, annotation.category_id, frames,
                   sum(s.length for s in spans), request)  # fmt: skip
        if self._run is None:
            self._start(run)
        else:
            self._queue.append(run)
            self.message.emit(f"Track {track_id} will be propagated next "
                              f"({len(self._queue)} waiting; Esc cancels all)")  # fmt: skip
        return True

    def cancel(self) -> None:
        """Stop the running propagation (what arrived is kept) and drop the waiting ones."""
        self._queue.clear()
        if self._run is not None:
            self._run.cancel.set()

    def shutdown(self) -> None:
        self.cancel()
        self.worker.shutdown(timeout=5.0)

    # -- the run -------------------------------------------------------------------------
    def _refusal(
        self, image_id: int | None, annotation_id: int | None, frames: tuple[ImageRecord, ...]
    ) -> str:
        if image_id is None:
            return "Open a sequence of frames first"
        if annotation_id is None or not self.document.has_annotation(annotation_id):
            return "Label the object on this frame first (or Ctrl+click one to propagate)"
        if self.document.annotation(annotation_id).image_id != image_id:
            return "Select the object to propagate on this frame (Ctrl+click it)"
        if len(frames) < 2:
            return "This image is alone in its folder: propagation needs a folder of frames"
        first, size = frames[0], (frames[0].width, frames[0].height)
        other = next((f for f in frames if (f.width, f.height) != size), None)
        if other is not None:
            return (
                f"Not a video: {other.path} is {other.width}x{other.height}, {first.path} "
                f"{first.width}x{first.height} (propagation needs frames of one size)"
            )
        segmenter = self.segmenter_of()
        if segmenter is None:
            return "No model is loaded yet"
        if not segmenter.tracking_supported:
            return f"{segmenter.name} cannot propagate through frames: load a SAM 2.1 model"
        return ""

    def _start(self, run: _Run) -> None:
        segmenter = self.segmenter_of()
        if segmenter is None:
            self._end("Not propagated: the model was unloaded")
            return
        request, cancel = run.request, run.cancel
        answered, min_area = self._answered.emit, self.min_part_area

        def on_frame(index: int, mask: np.ndarray | None) -> None:
            polygons = None if mask is None else mask_to_polygons(mask, min_area=min_area).polygons
            answered(run.id, index, polygons or None)

        def job() -> int:
            segmenter.track(request, on_frame, cancel=cancel)
            return run.id

        self._run, self._done = run, 0
        self.runChanged.emit(True)
        self.progress.emit(0, run.total)
        self.message.emit(f"Propagating track {run.track_id}… (Esc cancels)")
        self.worker.submit(("track", run.id), job)

    def _on_answer(self, run_id: int, index: int, polygons: list | None) -> None:
        run = self._run
        if run is None or run.id != run_id:
            return
        try:
            self.undo_stack.push(PropagatedShape(
                run.frames[index].id, run.track_id, run.category_id, polygons, run=run.id,
            ))  # fmt: skip
        except (DocumentError, KeyError) as error:
            self.message.emit(f"Propagation stopped: {error}")
            run.cancel.set()
            return
        self._done += 1
        self.progress.emit(self._done, run.total)

    def _end(self, text: str) -> None:
        """The run is over: say so, then start the next waiting one."""
        self._run = None
        self.message.emit(text)
        if self._queue:
            self._start(self._queue.popleft())
            return
        self.window.hide_progress()
        self.runChanged.emit(False)

    def _on_reset(self) -> None:
        """Another dataset was opened: its image ids mean other images, so the run's
        remaining answers are dropped and the waiting runs forgotten."""
        if self._run is not None:
            self.cancel()
            self._end("Propagation stopped: another dataset was opened")

    def _on_finished(self, _key, run_id) -> None:
        run = self._run
        if run is not None and run.id == run_id:
            self._end(f"Propagated track {run.track_id} over {_frames(self._done)}")

    def _on_failed(self, key, error: BaseException) -> None:
        run = self._run
        if run is None or key != ("track", run.id):
            return
        if isinstance(error, TrackingCancelledError):
            self._end(f"Propagation cancelled: {_frames(self._done)} kept")
        elif isinstance(error, (UnsupportedOperationError, TrackingError, ValueError)):
            kept = f" ({_frames(self._done)} kept)" if self._done else ""
            self._end(f"Propagation stopped: {error}{kept}")
        else:
            self._end(f"Propagation failed: {describe(error)}")
