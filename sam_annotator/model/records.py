"""Immutable records held by the Document: images, categories, annotations.

Records never change in place; an edit replaces a record with a new one
(`dataclasses.replace`). Undo therefore only has to keep the old record, and a snapshot
of the document is a copy of a few tuples.

Coordinates: pixel coordinates of the image as displayed (after EXIF orientation),
origin at the top-left corner of the top-left pixel (see geometry.py).
"""

from __future__ import annotations

import copy
import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from sam_annotator.model.rle import Rle, strict_int

Polygons = tuple[tuple[float, ...], ...]
"""COCO polygons, immutable: one flat (x0, y0, x1, y1, ...) tuple per ring."""
Segmentation = Polygons | Rle
BBox = tuple[float, float, float, float]
"""COCO [x, y, width, height] in image pixels."""

_COLOR = re.compile(r"^#[0-9a-f]{6}$")

PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000",
    "#aaffc3", "#808000", "#ffd8b1", "#000075", "#a9a9a9", "#ffe119",
)  # fmt: skip
"""Default category colours (Sasha Trubetskoy's 20 distinct colours), by id."""


MAX_IMAGE_SIDE = 1 << 20
"""No real image is wider or taller than this (1,048,576 px)."""
MAX_IMAGE_PIXELS = (1 << 31) - 1
"""No image of more pixels is accepted: pycocotools' polygon rasteriser and RLE counts
overflow at 2**31 / 2**32 pixels (a 65536x65536 canvas gets a wrong area), and OpenCV
arrays hold fewer than 2**31 elements."""


def default_color(category_id: int) -> str:
    """A distinct default colour for a category id, as '#rrggbb'."""
    return PALETTE[(category_id - 1) % len(PALETTE)]


def normalize_color(color: str) -> str:
    """'#RRGGBB' / '#rrggbb' -> '#rrggbb'; ValueError for anything else."""
    value = color.strip().lower() if isinstance(color, str) else color
    if not isinstance(value, str) or not _COLOR.match(value):
        raise ValueError(f"a colour must be '#rrggbb', got {color!r}")
    return value


ATTRIBUTES = "attributes"  # an annotation's per-object attributes (COCO extra field)
REVIEWED = "reviewed"  # the attribute a review pass sets


def _frozen_extra(extra: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only deep copy of extra JSON fields (values must not be mutated)."""
    if not extra:
        return MappingProxyType({})
    if not isinstance(extra, Mapping):
        raise ValueError(f"extra fields must be a mapping, got {type(extra).__name__}")
    return MappingProxyType(copy.deepcopy(dict(extra)))


def _set_int(record: Any, attribute: str, name: str, *, positive: bool = False) -> None:
    """Check that a field is an integer (numpy ones become int); positive if asked."""
    value = strict_int(getattr(record, attribute))
    if value is None:
        raise ValueError(f"{name} must be an integer, got {getattr(record, attribute)!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    object.__setattr__(record, attribute, value)


class ImageStatus(str, enum.Enum):
    """Where the user is with an image; shown by the GUI."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    DONE = "done"


def check_image_size(width: int, height: int) -> None:
    """ValueError for a size no real image has (see MAX_IMAGE_SIDE / MAX_IMAGE_PIXELS)."""
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise ValueError(
            f"size {width}x{height} cannot be a real image (a side above {MAX_IMAGE_SIDE} px)"
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"size {width}x{height} cannot be a real image "
            f"({width * height} pixels, above {MAX_IMAGE_PIXELS})"
        )


@dataclass(frozen=True)
class FileStamp:
    """What an image file was when its size was read: byte size, modification time (ns)
    and a content fingerprint (io/image_changes.py), to notice a replaced file."""

    size: int
    mtime_ns: int
    digest: str


@dataclass(frozen=True)
class ImageRecord:
    """One image: `path` is relative to the images root, in POSIX form ('sub/a.jpg').

    width/height: the displayed size, after EXIF orientation. extra: other COCO image
    fields (license, coco_url, date_captured, ...) kept for export. file_stamp: the
    file as it was when width/height were read (kept in the project file only).
    """

    id: int
    path: str
    width: int
    height: int
    status: ImageStatus = ImageStatus.NOT_STARTED
    extra: Mapping[str, Any] = field(default_factory=dict)
    file_stamp: FileStamp | None = None

    def __post_init__(self) -> None:
        _set_int(self, "id", "image id")
        if not isinstance(self.path, str) or not self.path:
            raise ValueError(f"image {self.id}: path must be a non-empty string")
        for name in ("width", "height"):
            _set_int(self, name, f"image {self.id}: {name}", positive=True)
        check_image_size(self.width, self.height)
        object.__setattr__(self, "status", ImageStatus(self.status))
        object.__setattr__(self, "extra", _frozen_extra(self.extra))
        if isinstance(self.file_stamp, Mapping):
            object.__setattr__(self, "file_stamp", FileStamp(**self.file_stamp))
        elif self.file_stamp is not None and not isinstance(self.file_stamp, FileStamp):
            raise ValueError(f"image {self.id}: file_stamp must be an object or null")


@dataclass(frozen=True)
class Category:
    """A label class. `color` is '#rrggbb'; extra: other COCO category fields."""

    id: int
    name: str
    color: str
    supercategory: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _set_int(self, "id", "category id")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"category {self.id}: the name must be a non-empty string")
        if self.supercategory is not None and not isinstance(self.supercategory, str):
            raise ValueError(f"category {self.id}: supercategory must be a string or None")
        object.__setattr__(self, "color", normalize_color(self.color))
        object.__setattr__(self, "extra", _frozen_extra(self.extra))


def freeze_segmentation(segmentation: Any) -> Segmentation:
    """Polygons (any nested sequence of numbers) -> tuple of float tuples; Rle unchanged."""
    if isinstance(segmentation, Rle):
        return segmentation
    if isinstance(segmentation, (str, bytes, Mapping)) or not isinstance(segmentation, Sequence):
        raise ValueError(f"a segmentation must be polygons or an Rle, got {segmentation!r:.60}")
    frozen = []
    for index, polygon in enumerate(segmentation):
        try:
            frozen.append(tuple(float(value) for value in polygon))
        except (TypeError, ValueError) as error:
            raise ValueError(f"polygon {index} is not a list of numbers") from error
    return tuple(frozen)


def segmentation_to_json(segmentation: Segmentation) -> list[list[float]] | dict[str, Any]:
    """A segmentation as COCO JSON: a list of flat polygons, or an RLE dict."""
    if isinstance(segmentation, Rle):
        return segmentation.to_coco()
    return [list(polygon) for polygon in segmentation]


def _describes(raw: Any, segmentation: Segmentation) -> bool:
    """Whether COCO JSON `raw` is the same segmentation (polygons or RLE)."""
    try:
        if isinstance(segmentation, Rle):
            return isinstance(raw, Mapping) and Rle.from_coco(raw) == segmentation
        return not isinstance(raw, Mapping) and freeze_segmentation(raw) == segmentation
    except ValueError:
        return False


@dataclass(frozen=True)
class Annotation:
    """One object instance on one image.

    segmentation: COCO polygons (a tuple of flat coordinate tuples; holes are keyholes)
    or an Rle (crowd regions, or masks imported as RLE). area: pixels of the mask
    pycocotools decodes from the segmentation; bbox: that mask's COCO [x, y, w, h].
    Build new annotations with `Document.make_annotation`, which computes both.
    extra: other fields (score, predicted_iou, unknown COCO fields) kept for export.
    source: the geometry fields exactly as an imported file held them ("segmentation",
    "area", "bbox": JSON values), written back unchanged while the segmentation is
    the one read; None for new annotations. A record whose segmentation is not the
    source's drops it (so `dataclasses.replace(a, segmentation=...)` forgets it, and an
    undo that restores the old record brings it back).
    """

    id: int
    image_id: int
    category_id: int
    segmentation: Segmentation
    area: int
    bbox: BBox
    iscrowd: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _set_int(self, "id", "annotation id")
        _set_int(self, "image_id", f"annotation {self.id}: image id")
        _set_int(self, "category_id", f"annotation {self.id}: category id")
        _set_int(self, "area", f"annotation {self.id}: area")
        object.__setattr__(self, "segmentation", freeze_segmentation(self.segmentation))
        bbox = tuple(float(v) for v in self.bbox)
        if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
            raise ValueError(f"annotation {self.id}: bbox must be 4 finite numbers")
        object.__setattr__(self, "bbox", bbox)
        object.__setattr__(self, "iscrowd", bool(self.iscrowd))
        object.__setattr__(self, "extra", _frozen_extra(self.extra))
        if self.source is not None:
            source = _frozen_extra(self.source)
            if not _describes(source.get("segmentation"), self.segmentation):
                source = None
            object.__setattr__(self, "source", source)

    @property
    def is_polygon(self) -> bool:
        return not isinstance(self.segmentation, Rle)

    @property
    def reviewed(self) -> bool:
        """Whether a reviewer accepted it: ``extra["attributes"]["reviewed"]`` is true.

        Kept where CVAT and other COCO tools keep per-object attributes, so the flag
        travels with the annotation through the project file, COCO and labelme."""
        attributes = self.extra.get(ATTRIBUTES)
        return isinstance(attributes, Mapping) and attributes.get(REVIEWED) is True

    def with_reviewed(self, reviewed: bool) -> Annotation:
        """A copy with the reviewed flag set or cleared (other attributes kept).
        ValueError when ``attributes`` holds something other than an object."""
        attributes = self.extra.get(ATTRIBUTES, {})
        if not isinstance(attributes, Mapping):
            raise ValueError(
                f"annotation {self.id}: its 'attributes' field is not an object, so it "
                "cannot hold the reviewed flag"
            )
        updated = {k: v for k, v in attributes.items() if k != REVIEWED}
        if reviewed:
            updated[REVIEWED] = True
        extra = {k: v for k, v in self.extra.items() if k != ATTRIBUTES}
        if updated:
            extra[ATTRIBUTES] = updated
        return replace(self, extra=extra)

    @property
    def polygons(self) -> list[list[float]]:
        """A mutable copy of the polygons (ValueError for an RLE segmentation)."""
        if isinstance(self.segmentation, Rle):
            raise ValueError(f"annotation {self.id} is an RLE mask, not polygons")
        return [list(polygon) for polygon in self.segmentation]
