"""COCO instance-segmentation files <-> Document.

Reading (`read_coco`, `read_coco_with_report`):
- polygons, compressed and uncompressed RLE, crowd annotations, images without
  annotations, category ids as they come (0-based or with gaps: kept exactly), ids
  beyond 2**32;
- every entry is validated; a bad one raises CocoFormatError naming it, e.g.
  "annotations[7] (id 42): polygon 1 has 5 coordinates (odd)", or, in best-effort mode
  (strict=False), is skipped and reported as a SkippedEntry;
- a file_name that escapes the images root (absolute, '..') is refused; '\\' is read as
  a separator; width/height must be positive integers;
- image and annotation ids below 1 (labelme2coco starts at 0, and COCOeval treats
  annotation id 0 as "unmatched") get fresh ids above the largest; the result lists them;
- area and bbox are recomputed from the segmentation (pycocotools pixel area and the
  decoded mask's box): the values in the file are not trusted;
- unknown fields (top level, image, category, annotation) and info/licenses are kept.

Writing (`write_coco`): info, licenses, images, annotations, categories (in the
project's order, with their own ids, never derived from which are used), then the kept
unknown top-level fields; polygons for iscrowd=0, RLE kept as it was read (compressed
or not); area = pycocotools pixel area, bbox of the mask. The file is written
atomically. Category colours are written as an extra "color": "#rrggbb" field.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from sam_annotator.io.atomic import atomic_write_bytes, json_bytes
from sam_annotator.model.document import Document, DocumentSnapshot
from sam_annotator.model.geometry import segmentation_area_bbox, validate_polygons
from sam_annotator.model.records import (
    Annotation,
    Category,
    ImageRecord,
    default_color,
    normalize_color,
    segmentation_to_json,
)
from sam_annotator.model.rle import Rle

log = logging.getLogger(__name__)

_IMAGE_KEYS = ("id", "file_name", "width", "height")
_CATEGORY_KEYS = ("id", "name", "supercategory", "color")
_ANNOTATION_KEYS = ("id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd")
_TOP_KEYS = ("info", "licenses", "images", "annotations", "categories")


class CocoFormatError(ValueError):
    """A COCO file that cannot be read; the message names the file and the entry."""


@dataclass(frozen=True)
class SkippedEntry:
    """An entry left out in best-effort mode: section ('images', ...), index, id, why."""

    section: str
    index: int
    entry_id: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.section}[{self.index}] (id {self.entry_id}): {self.reason}"


@dataclass(frozen=True)
class CocoReadResult:
    """What `read_coco_with_report` read.

    skipped: entries left out (best-effort mode only). new_image_ids /
    new_annotation_ids: {id in the file: id in the document} for ids that were < 1.
    """

    document: Document
    skipped: tuple[SkippedEntry, ...] = ()
    new_image_ids: Mapping[int, int] | None = None
    new_annotation_ids: Mapping[int, int] | None = None


def read_coco(path: str | Path, images_root: str | Path, *, strict: bool = True) -> Document:
    """Read a COCO file into a new Document whose images are relative to `images_root`.

    strict=True: the first bad entry raises CocoFormatError. strict=False: bad entries
    are skipped and logged as warnings; use `read_coco_with_report` to get them as data.
    """
    result = read_coco_with_report(path, images_root, strict=strict)
    for entry in result.skipped:
        log.warning("%s: skipped %s", path, entry)
    return result.document


def read_coco_with_report(
    path: str | Path, images_root: str | Path, *, strict: bool = False
) -> CocoReadResult:
    """Like `read_coco`, but best-effort by default and returning what was skipped."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise CocoFormatError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CocoFormatError(f"{path}: not valid JSON ({error})") from None
    try:
        return coco_to_document(data, images_root, strict=strict)
    except CocoFormatError as error:
        raise CocoFormatError(f"{path}: {error}") from None


def coco_to_document(data: Any, images_root: str | Path, *, strict: bool = True) -> CocoReadResult:
    """A parsed COCO dict -> Document (see the module docstring for the rules)."""
    if not isinstance(data, dict):
        raise CocoFormatError("the top level is not a JSON object")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise CocoFormatError(f"the key {key!r} is missing")
        if not isinstance(data[key], list):
            raise CocoFormatError(f"{key!r} is not a list")
    reader = _Reader(strict)
    document = Document(images_root)
    document.info = data.get("info")
    document.licenses = data.get("licenses")
    document.extra = {k: v for k, v in data.items() if k not in _TOP_KEYS}

    images = reader.each("images", data["images"], _parse_image)
    new_image_ids = _fresh_ids(images, "id")
    paths: set[str] = set()
    image_by_file_id: dict[int, ImageRecord] = {}
    for index, entry in images:
        if entry["file_id"] in image_by_file_id:
            reader.fail("images", index, entry["file_id"], "duplicate image id")
        elif entry["path"] in paths:
            reader.fail("images", index, entry["file_id"], f"duplicate file_name {entry['path']!r}")
        else:
            image_id = new_image_ids.get(entry["file_id"], entry["file_id"])
            record = ImageRecord(
                image_id, entry["path"], entry["width"], entry["height"], extra=entry["extra"]
            )
            paths.add(record.path)
            image_by_file_id[entry["file_id"]] = record
    document.insert_images(image_by_file_id.values())

    for index, category in reader.each("categories", data["categories"], _parse_category):
        if any(c.id == category.id for c in document.categories()):
            reader.fail("categories", index, category.id, "duplicate category id")
        elif document.category_by_name(category.name) is not None:
            reader.fail("categories", index, category.id, f"duplicate name {category.name!r}")
        else:
            document.insert_category(category)

    def parse_annotation(entry: Any) -> dict[str, Any]:
        return _parse_annotation(entry, image_by_file_id, document)

    parsed = reader.each("annotations", data["annotations"], parse_annotation)
    new_annotation_ids = _fresh_ids(parsed, "id")
    annotations: dict[int, Annotation] = {}
    for index, fields in parsed:
        annotation_id = new_annotation_ids.get(fields["id"], fields["id"])
        if annotation_id in annotations:
            reader.fail("annotations", index, fields["id"], "duplicate annotation id")
            continue
        annotations[annotation_id] = Annotation(**{**fields, "id": annotation_id})
    document.insert_annotations(annotations.values())
    return CocoReadResult(
        document, tuple(reader.skipped), new_image_ids or None, new_annotation_ids or None
    )


class _Reader:
    """Runs a parser over each entry of a section; raises or records failures."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.skipped: list[SkippedEntry] = []

    def each(
        self, section: str, entries: list[Any], parse: Callable[[Any], Any]
    ) -> list[tuple[int, Any]]:
        parsed = []
        for index, entry in enumerate(entries):
            try:
                parsed.append((index, parse(entry)))
            except ValueError as error:
                entry_id = entry.get("id", "?") if isinstance(entry, dict) else "?"
                self.fail(section, index, entry_id, str(error))
        return parsed

    def fail(self, section: str, index: int, entry_id: Any, reason: str) -> None:
        skipped = SkippedEntry(section, index, entry_id, reason)
        if self.strict:
            raise CocoFormatError(str(skipped))
        self.skipped.append(skipped)


def _fresh_ids(entries: list[tuple[int, Any]], key: str) -> dict[int, int]:
    """{old: new} for ids < 1, numbered after the largest id."""
    ids = [entry[key] if isinstance(entry, dict) else getattr(entry, key) for _, entry in entries]
    next_id = max([0, *ids]) + 1
    mapping: dict[int, int] = {}
    for old in ids:
        if old < 1 and old not in mapping:
            mapping[old] = next_id
            next_id += 1
    return mapping


def _require_dict(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    return entry


def _integer(entry: dict[str, Any], key: str, *, positive: bool = False) -> int:
    if key not in entry:
        raise ValueError(f"the key {key!r} is missing")
    value = entry[key]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r:.40}")
    if positive and value <= 0:
        raise ValueError(f"{key} must be positive, got {value}")
    return value


def relative_image_path(file_name: Any) -> str:
    """A COCO file_name -> POSIX path relative to the images root; ValueError if it
    is absolute or leaves the root ('..')."""
    if not isinstance(file_name, str) or not file_name.strip():
        raise ValueError(f"file_name must be a non-empty string, got {file_name!r:.60}")
    if PureWindowsPath(file_name).drive or file_name.startswith(("/", "\\")):
        raise ValueError(f"file_name {file_name!r} is an absolute path")
    parts = [p for p in PurePosixPath(file_name.replace("\\", "/")).parts if p != "."]
    if ".." in parts:
        raise ValueError(f"file_name {file_name!r} leaves the images folder ('..')")
    if not parts:
        raise ValueError(f"file_name {file_name!r} names no file")
    return "/".join(parts)


def _parse_image(entry: Any) -> dict[str, Any]:
    entry = _require_dict(entry)
    return {
        "file_id": _integer(entry, "id"),
        "id": _integer(entry, "id"),
        "path": relative_image_path(entry.get("file_name")),
        "width": _integer(entry, "width", positive=True),
        "height": _integer(entry, "height", positive=True),
        "extra": {k: v for k, v in entry.items() if k not in _IMAGE_KEYS},
    }


def _parse_category(entry: Any) -> Category:
    entry = _require_dict(entry)
    category_id = _integer(entry, "id")
    if category_id < 0:
        raise ValueError(f"id must be >= 0, got {category_id}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r:.40}")
    supercategory = entry.get("supercategory")
    if supercategory is not None and not isinstance(supercategory, str):
        raise ValueError(f"supercategory must be a string, got {supercategory!r:.40}")
    extra = {k: v for k, v in entry.items() if k not in _CATEGORY_KEYS}
    color = _color(entry.get("color"))
    if color is None:
        color = default_color(category_id)
        if "color" in entry:  # an unreadable colour is kept as it was, not dropped
            extra["color"] = entry["color"]
    return Category(category_id, name, color, supercategory, extra)


def _color(value: Any) -> str | None:
    """'#rrggbb' or [r, g, b] (0-255) -> '#rrggbb'; None for anything else."""
    if isinstance(value, str):
        try:
            return normalize_color(value)
        except ValueError:
            return None
    if (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    ):
        return "#{:02x}{:02x}{:02x}".format(*value)
    return None


def _parse_annotation(
    entry: Any, images: Mapping[int, ImageRecord], document: Document
) -> dict[str, Any]:
    entry = _require_dict(entry)
    annotation_id = _integer(entry, "id")
    image_id = _integer(entry, "image_id")
    image = images.get(image_id)
    if image is None:
        raise ValueError(f"image_id {image_id} is not an image of the file")
    category_id = _integer(entry, "category_id")
    try:
        document.category(category_id)
    except KeyError:
        raise ValueError(f"category_id {category_id} is not a category of the file") from None
    iscrowd = entry.get("iscrowd", 0)
    if iscrowd not in (0, 1) or (isinstance(iscrowd, float) and not iscrowd.is_integer()):
        raise ValueError(f"iscrowd must be 0 or 1, got {iscrowd!r:.20}")
    if "segmentation" not in entry:
        raise ValueError("the key 'segmentation' is missing")
    raw = entry["segmentation"]
    if isinstance(raw, dict):
        segmentation: Any = Rle.from_coco(raw)
        if (segmentation.height, segmentation.width) != (image.height, image.width):
            raise ValueError(
                f"RLE size {segmentation.height}x{segmentation.width} (HxW) differs from "
                f"the image's {image.height}x{image.width}"
            )
    else:
        validate_polygons(raw, image.height, image.width)
        segmentation = tuple(tuple(float(v) for v in polygon) for polygon in raw)
    area, bbox = segmentation_area_bbox(segmentation, image.height, image.width)
    return {
        "id": annotation_id,
        "image_id": image.id,
        "category_id": category_id,
        "segmentation": segmentation,
        "area": area,
        "bbox": bbox,
        "iscrowd": bool(iscrowd),
        "extra": {k: v for k, v in entry.items() if k not in _ANNOTATION_KEYS},
    }


# --- writing ------------------------------------------------------------------------------


def write_coco(document: Document | DocumentSnapshot, path: str | Path) -> None:
    """Write the document as a COCO file, atomically (see the module docstring)."""
    data = document_to_coco(document)
    atomic_write_bytes(path, json_bytes(data))  # json_bytes: names that are not UTF-8


def document_to_coco(document: Document | DocumentSnapshot) -> dict[str, Any]:
    """The COCO dict `write_coco` writes."""
    snapshot = document.snapshot() if isinstance(document, Document) else document
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
    fields = {
        "id": category.id,
        "name": category.name,
        "supercategory": category.supercategory,
        "color": category.color,
    }
    if "color" in category.extra:  # an unreadable colour from the file goes back as it was
        fields.pop("color")
    return _with_extra(fields, category.extra)


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
    return _with_extra(fields, annotation.extra)
