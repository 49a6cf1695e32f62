"""Objects tracked through a sequence of frames. No Qt.

- A *sequence* is the images of one folder of the dataset, in document order (file names
  in natural order: ``frame2`` before ``frame10``). A video opened in the app becomes such
  a folder of frames (io/video_import.py).
- A *track* is one object through the frames: the annotations whose
  ``extra["track_id"]`` holds the same positive integer (where COCO video exports and the
  YouTube-VIS writer keep it), at most one per frame.
- A track's annotation on a frame is a *keyframe* when a person made or edited it, and
  *propagated* when the tracker made it (``extra["propagated"]`` is true). Any edit of the
  shape makes it a keyframe (``EditPolygon`` drops the flag). Keyframes condition the
  tracker and are never overwritten by it; propagated shapes are replaced each time the
  track is propagated over them.

Frame indexes count from 0 in the sequence's order.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sam_annotator.model.natural_order import natural_key
from sam_annotator.model.records import Annotation, ImageRecord

TRACK_ID = "track_id"
PROPAGATED = "propagated"


def track_id_of(annotation: Annotation) -> int | None:
    """The annotation's track id, or None (absent, or not a positive integer)."""
    value = annotation.extra.get(TRACK_ID)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def is_propagated(annotation: Annotation) -> bool:
    """Whether the tracker made this shape (a person has not edited it since)."""
    return annotation.extra.get(PROPAGATED) is True


def without_propagated(extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` without the propagated flag (a person's shape)."""
    return {k: v for k, v in extra.items() if k != PROPAGATED}


def folder_of(image: ImageRecord) -> str:
    """The folder of an image's path (relative to the images root, POSIX); "" at the root."""
    parent = PurePosixPath(image.path).parent.as_posix()
    return "" if parent == "." else parent


def _frames(images: Sequence[ImageRecord]) -> tuple[ImageRecord, ...]:
    return tuple(sorted(images, key=lambda i: natural_key(i.path)))


def sequences_in(images: Sequence[ImageRecord]) -> list[tuple[ImageRecord, ...]]:
    """Every sequence: the images grouped by folder (folders in natural order), each in
    natural order of the names."""
    folders: dict[str, list[ImageRecord]] = {}
    for image in images:
        folders.setdefault(folder_of(image), []).append(image)
    return [_frames(folders[f]) for f in sorted(folders, key=natural_key)]


def sequence_of(images: Sequence[ImageRecord], image_id: int) -> tuple[ImageRecord, ...]:
    """The frames of the sequence holding ``image_id`` (as :func:`sequences_in` orders
    them). KeyError for an unknown id."""
    image = next((i for i in images if i.id == image_id), None)
    if image is None:
        raise KeyError(f"no image with id {image_id}")
    folder = folder_of(image)
    return _frames([i for i in images if folder_of(i) == folder])


def next_track_id(annotations: Collection[Annotation]) -> int:
    """A track id no annotation uses yet."""
    return max((track_id_of(a) or 0 for a in annotations), default=0) + 1


class FrameState(str, enum.Enum):
    """What a track has on one frame."""

    NONE = "none"
    KEYFRAME = "keyframe"
    PROPAGATED = "propagated"


@dataclass(frozen=True)
class Track:
    """One track within a sequence.

    id: the track id; category_id: the category of its latest keyframe (else of its first
    annotation); frames: frame index -> (annotation id, FrameState) for every frame where
    the track has an annotation."""

    id: int
    category_id: int
    frames: Mapping[int, tuple[int, FrameState]]

    @property
    def keyframes(self) -> list[int]:
        return sorted(i for i, (_, s) in self.frames.items() if s is FrameState.KEYFRAME)

    def state(self, frame: int) -> FrameState:
        entry = self.frames.get(frame)
        return FrameState.NONE if entry is None else entry[1]

    def annotation_on(self, frame: int) -> int | None:
        entry = self.frames.get(frame)
        return None if entry is None else entry[0]


def tracks_in(frames: Sequence[Sequence[Annotation]]) -> list[Track]:
    """The tracks of a sequence, by id, from each frame's annotations (in frame order).
    A second annotation of a track on one frame is ignored (the first is the track's)."""
    found: dict[int, dict[int, tuple[int, FrameState]]] = {}
    categories: dict[int, int] = {}
    for index, on_frame in enumerate(frames):
        for annotation in on_frame:
            track_id = track_id_of(annotation)
            if track_id is None or index in found.get(track_id, {}):
                continue
            state = FrameState.PROPAGATED if is_propagated(annotation) else FrameState.KEYFRAME
            found.setdefault(track_id, {})[index] = (annotation.id, state)
            if state is FrameState.KEYFRAME or track_id not in categories:
                categories[track_id] = annotation.category_id
    return [Track(t, categories[t], found[t]) for t in sorted(found)]


class Direction(str, enum.Enum):
    FORWARD = "forward"
    BACKWARD = "backward"
    BOTH = "both"


@dataclass(frozen=True)
class Span:
    """Frames to propagate over: from ``start`` (a keyframe) to ``stop`` (inclusive),
    backwards when ``reverse``."""

    start: int
    stop: int
    reverse: bool

    @property
    def frames(self) -> range:
        if self.reverse:
            return range(self.start, self.stop - 1, -1)
        return range(self.start, self.stop + 1)

    @property
    def length(self) -> int:
        """Frames after the start (SAM 2's ``max_frame_num_to_track``)."""
        return abs(self.stop - self.start)


def propagation_spans(
    frame_count: int, keyframes: Collection[int], start: int, direction: Direction
) -> list[Span]:
    """The frames a propagation from keyframe ``start`` recomputes: forward up to the
    frame before the next keyframe (or the last frame), backward down to the frame after
    the previous keyframe (or the first). A correction therefore re-propagates only the
    frames it affects: those up to the next frames a person fixed. Spans with no frame
    besides the start are left out. ValueError when ``start`` is not a keyframe."""
    if not 0 <= start < frame_count:
        raise ValueError(f"frame {start} is not in a {frame_count}-frame sequence")
    if start not in keyframes:
        raise ValueError(f"frame {start + 1} is not a keyframe of this track")
    spans = []
    if direction in (Direction.FORWARD, Direction.BOTH):
        stop = min((k for k in keyframes if k > start), default=frame_count) - 1
        if stop > start:
            spans.append(Span(start, stop, reverse=False))
    if direction in (Direction.BACKWARD, Direction.BOTH):
        stop = max((k for k in keyframes if k < start), default=-1) + 1
        if stop < start:
            spans.append(Span(start, stop, reverse=True))
    return spans
