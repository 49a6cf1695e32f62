"""Helpers the format modules share: progress, image copies, masks and rings per annotation."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sam_annotator.model.document import Document, DocumentSnapshot
from sam_annotator.model.geometry import mask_to_polygons, segmentation_to_mask
from sam_annotator.model.records import Annotation, ImageRecord

Progress = Callable[[int, int], None]
"""progress(done, total): called after each image is written."""


class ExportError(ValueError):
    """An export that cannot be written as asked (the message says why)."""


def snapshot_of(document: Document | DocumentSnapshot) -> DocumentSnapshot:
    return document.snapshot() if isinstance(document, Document) else document


def annotations_by_image(snapshot: DocumentSnapshot) -> dict[int, list[Annotation]]:
    """{image id: its annotations in z-order (last on top)}."""
    grouped: dict[int, list[Annotation]] = {image.id: [] for image in snapshot.images}
    for annotation in snapshot.annotations:
        grouped[annotation.image_id].append(annotation)
    return grouped


def annotation_mask(annotation: Annotation, image: ImageRecord) -> np.ndarray:
    """The HxW bool mask pycocotools decodes from the annotation."""
    return segmentation_to_mask(annotation.segmentation, image.height, image.width)


def annotation_rings(annotation: Annotation, image: ImageRecord) -> list[list[float]]:
    """The annotation's polygons (flat [x0, y0, ...] rings in pixels); an RLE mask is
    traced to polygons first (exact: tolerance 0)."""
    if annotation.is_polygon:
        return annotation.polygons
    return mask_to_polygons(annotation_mask(annotation, image), tolerance=0).polygons


def place_image(source: Path, target: Path) -> bool:
    """Put a copy of an image at `target` (a hard link where the filesystem allows);
    False when the source file is missing. When `target` already is that file (an export
    written into the images folder), nothing is touched."""
    if not source.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        if os.path.samefile(source, target):
            return True  # unlinking it would delete the user's image
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return True


def image_source(snapshot: DocumentSnapshot, image: ImageRecord) -> Path | None:
    """Where an image's file is, or None when the document has no images folder."""
    return None if snapshot.images_root is None else Path(snapshot.images_root) / image.path


def split_names(snapshot: DocumentSnapshot, val_fraction: float, seed: int) -> dict[int, str]:
    """{image id: 'train' | 'val'}: a seeded random val_fraction of the images is 'val'."""
    if not 0 <= val_fraction < 1:
        raise ExportError(f"the val fraction must be in [0, 1), got {val_fraction}")
    ids = [image.id for image in snapshot.images]
    count = round(len(ids) * val_fraction)
    chosen = set(np.random.default_rng(seed).permutation(len(ids))[:count].tolist())
    return {image_id: ("val" if i in chosen else "train") for i, image_id in enumerate(ids)}


def unique_file_name(image: ImageRecord, folder: str, taken: dict[tuple[str, str], str]) -> str:
    """The image's file name in a flat output `folder` (sub-folders flattened); names
    whose stems clash ('a/x.jpg', 'b/x.png') get their folder path prefixed ('b__x.png').
    `taken` records the (folder, stem) pairs handed out; ExportError if no name is free."""
    name = Path(image.path).name
    if (folder, Path(name).stem) in taken:
        name = image.path.replace("/", "__")
    if (folder, Path(name).stem) in taken:
        raise ExportError(f"two images would share the file names of {image.path!r}")
    taken[(folder, Path(name).stem)] = image.path
    return name
