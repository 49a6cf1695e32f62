"""YouTube-VIS (one JSON file): video instance segmentation, one track per object.

The layout of the YouTube-VIS 2019/2021 annotation files, as VIS trainers (e.g.
MinVIS, Mask2Former-VIS, detectron2's ytvis loader) read them:
``videos`` (id, width, height, length, file_names), ``categories``, and
``annotations`` (one per track: id, video_id, category_id, iscrowd, and per frame of the
video a segmentation (COCO RLE with ``counts`` as a string), an area and a bbox, or None
where the object is not on that frame).

A video is the frames of one folder of the project (the images directly in it, sorted
naturally: ``frame2`` before ``frame10``); a track is the annotations of one video that
share a ``track_id`` (kept in each annotation's extra fields, as COCO video exports and
``sam-annotator`` propagation store it). An annotation without a ``track_id`` is a track
of its own. Two annotations of one track on one frame are merged (their union).
``EXPORT_NOTES.txt`` counts what was merged and tracks whose category changed over time
(the first frame's category is kept).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from sam_annotator.io.atomic import atomic_write_bytes
from sam_annotator.io.formats import NOTES_FILE
from sam_annotator.io.formats.common import Progress, annotation_mask, snapshot_of
from sam_annotator.model.document import Document, DocumentSnapshot
from sam_annotator.model.records import Annotation, ImageRecord
from sam_annotator.model.tracks import TRACK_ID, sequences_in

NAME = "ytvis"
TITLE = "YouTube-VIS JSON (video tracks)"
CAN_READ = False
CAN_WRITE = True
SOURCE_KIND = "file"
DEFAULT_FILE = "ytvis.json"
WRITE_OPTIONS: frozenset[str] = frozenset()
READ_OPTIONS: frozenset[str] = frozenset()


def write(
    document: Document | DocumentSnapshot, out: str | Path, *, progress: Progress | None = None
) -> list[Path]:
    """Write `out` (a .json path) or `out`/ytvis.json (a folder); returns the files."""
    snapshot = snapshot_of(document)
    path = Path(out)
    if path.suffix.lower() != ".json":
        path = path / DEFAULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    by_image: dict[int, list[Annotation]] = defaultdict(list)
    for annotation in snapshot.annotations:
        by_image[annotation.image_id].append(annotation)
    videos, tracks_out = [], []
    merged = recategorised = 0
    all_videos = sequences_in(snapshot.images)
    for video_id, frames in enumerate(all_videos, start=1):
        first = frames[0]
        videos.append({"id": video_id, "width": first.width, "height": first.height,
                       "length": len(frames), "file_names": [f.path for f in frames]})  # fmt: skip
        tracks: dict[object, dict[int, list[Annotation]]] = defaultdict(lambda: defaultdict(list))
        for index, frame in enumerate(frames):
            for annotation in by_image[frame.id]:
                key = annotation.extra.get(TRACK_ID, ("annotation", annotation.id))
                tracks[_hashable(key)][index].append(annotation)
        for per_frame in tracks.values():
            entry, merges, recats = _track(len(tracks_out) + 1, video_id, frames, per_frame)
            tracks_out.append(entry)
            merged, recategorised = merged + merges, recategorised + recats
        if progress is not None:
            progress(video_id, len(all_videos))
    categories = [{"id": c.id, "name": c.name, "supercategory": c.supercategory or ""}
                  for c in snapshot.categories]  # fmt: skip
    data = {"info": {"description": "exported by sam-annotator"}, "videos": videos,
            "categories": categories, "annotations": tracks_out}  # fmt: skip
    atomic_write_bytes(path, json.dumps(data).encode("utf-8"))
    written = [path]
    notes = []
    if merged:
        notes.append(f"{merged} frames held several annotations of one track: merged (union)")
    if recategorised:
        notes.append(f"{recategorised} tracks changed category: the first frame's is kept")
    if notes:
        notes_path = path.parent / NOTES_FILE
        atomic_write_bytes(notes_path, ("\n".join(notes) + "\n").encode("utf-8"))
        written.append(notes_path)
    return written


def _hashable(value: Any) -> object:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _track(
    track_id: int,
    video_id: int,
    frames: list[ImageRecord],
    per_frame: dict[int, list[Annotation]],
) -> tuple[dict[str, Any], int, int]:
    """One YouTube-VIS annotation; (entry, frames merged, 1 if the category changed)."""
    segmentations: list[Any] = [None] * len(frames)
    areas: list[Any] = [None] * len(frames)
    bboxes: list[Any] = [None] * len(frames)
    merged = 0
    categories = []
    crowd = False
    for index in sorted(per_frame):
        annotations = per_frame[index]
        frame = frames[index]
        mask = np.zeros((frame.height, frame.width), bool)
        for annotation in annotations:
            mask |= annotation_mask(annotation, frame)
            categories.append(annotation.category_id)
            crowd = crowd or annotation.iscrowd
        merged += len(annotations) > 1
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        segmentations[index] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
        areas[index] = int(mask.sum())
        bboxes[index] = [float(v) for v in mask_utils.toBbox(rle)]
    entry = {"id": track_id, "video_id": video_id, "category_id": categories[0],
             "iscrowd": int(crowd), "segmentations": segmentations, "areas": areas,
             "bboxes": bboxes}  # fmt: skip
    return entry, merged, int(len(set(categories)) > 1)
