"""Document -> COCO file (see io/coco.py for the rules both directions share).

info, licenses, images, annotations, categories (in the project's order, with their
own ids, never derived from which are used), then the kept unknown top-level fields.
An annotation with a `source` (imported, segmentation not edited since) is written with
the segmentation, area and bbox the file held; others with polygons for iscrowd=0 (RLE
as it was read), area = pycocotools pixel area, bbox of the mask. A category colour
other than the palette's default is written as an extra "color": "#rrggbb" field;
supercategory when it is set. The file is written atomically.

holes_as_rle=True writes every non-crowd annotation whose mask has a hole as a
compressed RLE (area = its pixel count) instead of keyhole polygons: pycocotools reads
keyholes right, but detectron2's and mmdetection's crop augmentations keep only each
polygon's outer ring, so a ring would train as a disc.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sam_annotator.io.atomic import atomic_write_bytes, json_bytes
from sam_annotator.model.document import Document, DocumentSnapshot
from sam_annotator.model.geometry import has_holes, segmentation_to_mask
from sam_annotator.model.records import (
    Annotation,
    Category,
    ImageRecord,
    default_color,
    segmentation_to_json,
)
from sam_annotator.model.rle import Rle


def write_coco(
    document: Document | DocumentSnapshot, path: str | Path, *, holes_as_rle: bool = False
) -> None:
    """Write the document as a COCO file, atomically (see the module docstring)."""
    data = document_to_coco(document, holes_as_rle=holes_as_rle)
    atomic_write_bytes(path, json_bytes(data))  # json_bytes: names that are not UTF-8


def document_to_coco(
    document: Document | DocumentSnapshot, *, holes_as_rle: bool = False
) -> dict[str, Any]:
    """The COCO dict `write_coco` writes."""
    snapshot = document.snapshot() if isinstance(document, Document) else document
    if holes_as_rle:
        sizes = {image.id: (image.height, image.width) for image in snapshot.images}
        annotations = tuple(_holes_to_rle(a, *sizes[a.image_id]) for a in snapshot.annotations)
        snapshot = replace(snapshot, annotations=annotations)
    data: dict[str, Any] = {
        "info": dict(snapshot.info) if snapshot.info is not None else _default_info(),
        "licenses": list(snapshot.licenses) if snapshot.licenses is not None else [],
        "images": [_image_json(image) for image in snapshot.images],
        "annotations": [_annotation_json(a) for a in snapshot.annotations],
        "categories": [_category_json(c) for c in snapshot.categories],
    }
    for key, value in snapshot.extra.items():
        data.setdefault(key, value)
    return data


def _default_info() -> dict[str, Any]:
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "description": "Exported by sam-annotator",
        "version": "1.0",
        "year": now.year,
        "date_created": now.isoformat(timespec="seconds"),
    }


def _with_extra(fields: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        fields.setdefault(key, value)
    return fields


def _image_json(image: ImageRecord) -> dict[str, Any]:
    fields = {
        "id": image.id,
        "file_name": image.path,
        "width": image.width,
        "height": image.height,
    }
    return _with_extra(fields, image.extra)


def _category_json(category: Category) -> dict[str, Any]:
    fields: dict[str, Any] = {"id": category.id, "name": category.name}
    if category.supercategory is not None:
        fields["supercategory"] = category.supercategory
    # an unreadable colour from the file goes back as it was (in extra); the palette's
    # default is not written, so that an imported file without colours round-trips
    if "color" not in category.extra and category.color != default_color(category.id):
        fields["color"] = category.color
    return _with_extra(fields, category.extra)


def _holes_to_rle(annotation: Annotation, height: int, width: int) -> Annotation:
    """The annotation as an RLE mask when its polygons enclose a hole; else unchanged."""
    if annotation.iscrowd or not annotation.is_polygon:
        return annotation
    mask = segmentation_to_mask(annotation.segmentation, height, width)
    if not has_holes(mask):
        return annotation
    rle = Rle.from_mask(mask)
    return replace(annotation, segmentation=rle, area=int(mask.sum()), source=None)


def _annotation_json(annotation: Annotation) -> dict[str, Any]:
    fields = {
        "id": annotation.id,
        "image_id": annotation.image_id,
        "category_id": annotation.category_id,
        "segmentation": segmentation_to_json(annotation.segmentation),
        "area": annotation.area,
        "bbox": list(annotation.bbox),
        "iscrowd": int(annotation.iscrowd),
    }
    if annotation.source is not None:  # untouched since it was read: as it came
        fields.update(annotation.source)
    return _with_extra(fields, annotation.extra)
