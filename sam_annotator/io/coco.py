"""COCO instance-segmentation files <-> Document.

Reading (`read_coco`, `read_coco_with_report`):
- polygons, compressed and uncompressed RLE, crowd annotations, images without
  annotations, category ids as they come (0-based or with gaps: kept exactly), ids
  beyond 2**32;
- every entry is validated; a bad one raises CocoFormatError naming it, e.g.
  "annotations[7] (id 42): polygon 1 has 5 coordinates (odd)", or, in best-effort mode
  (strict=False), is skipped and listed in the report;
- file names: a relative name is used as it is ('\\' is read as a separator, '..' is
  refused); absolute names, URLs and upload paths written by other tools
  (labelme2coco, Label Studio) are resolved against the images folder by relative tail,
  then by unique base name, never outside it (io/formats/paths.py);
- image sizes that cannot be a real image (records.check_image_size) are refused with
  the entry named, before anything is rasterised; JSON nested deeper than
  MAX_JSON_DEPTH is a CocoFormatError;
- ids: image ids >= 0 and annotation ids >= 1 are kept; annotation ids below 1
  (COCOeval treats id 0 as "unmatched") and negative image ids get fresh ids above the
  largest; each change is in the report;
- categories: two with one name are merged (Roboflow's dataset-level class id 0
  repeats a real class's name); placeholders (`_background_`, Roboflow's
  supercategory-only class) are recognised and kept, or dropped with
  placeholders="drop"; both are in the report;
- area and bbox are measured from the segmentation for the app; the geometry as the
  file held it is kept on each annotation (`Annotation.source`) and written back
  unchanged until an edit changes the segmentation;
- unknown fields (top level, image, category, annotation) and info/licenses are kept.

Writing (`write_coco`): info, licenses, images, annotations, categories (in the
project's order, with their own ids, never derived from which are used), then the kept
unknown top-level fields. An annotation with a `source` is written with that
segmentation, area and bbox; others with polygons for iscrowd=0 (or RLE as it was
read), area = pycocotools pixel area, bbox of the mask. The file is written
atomically. A category colour other than the palette's default is written as an extra
"color": "#rrggbb" field; supercategory is written when it is set.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam_annotator.io.coco_writer import document_to_coco, write_coco
from sam_annotator.io.formats.categories import (
    PLACEHOLDER_CHOICES,
    drop_placeholders,
    merge_same_names,
    placeholder_categories,
)
from sam_annotator.io.formats.paths import ImageNameResolver, plain_relative_path
from sam_annotator.io.formats.report import IdChange, ImportReport, MergedCategory, SkippedEntry
from sam_annotator.model.document import Document
from sam_annotator.model.geometry import segmentation_area_bbox, validate_polygons
from sam_annotator.model.records import (
    Annotation,
    Category,
    ImageRecord,
    check_image_size,
    default_color,
    normalize_color,
)
from sam_annotator.model.rle import Rle

log = logging.getLogger(__name__)

_IMAGE_KEYS = ("id", "file_name", "width", "height")
_CATEGORY_KEYS = ("id", "name", "supercategory", "color")
_ANNOTATION_KEYS = ("id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd")
_SOURCE_KEYS = ("segmentation", "area", "bbox")
_TOP_KEYS = ("info", "licenses", "images", "annotations", "categories")
MAX_JSON_DEPTH = 100
"""Deeper nesting is refused (a segmentation needs 3 levels, RLE 2)."""

__all__ = [
    "CocoFormatError",
    "CocoReadResult",
    "SkippedEntry",
    "coco_to_document",
    "drop_placeholders",
    "document_to_coco",
    "read_coco",
    "read_coco_with_report",
    "relative_image_path",
    "write_coco",
]


class CocoFormatError(ValueError):
    """A COCO file that cannot be read; the message names the file and the entry."""


@dataclass(frozen=True)
class CocoReadResult:
    """What `read_coco_with_report` read: the document and the import report."""

    document: Document
    report: ImportReport

    @property
    def skipped(self) -> tuple[SkippedEntry, ...]:
        return tuple(self.report.skipped)

    def _changed(self, section: str) -> dict[int, int] | None:
        mapping = {c.old: c.new for c in self.report.ids_changed if c.section == section}
        return mapping or None

    @property
    def new_image_ids(self) -> dict[int, int] | None:
        """{id in the file: id in the document} for image ids that changed."""
        return self._changed("images")

    @property
    def new_annotation_ids(self) -> dict[int, int] | None:
        """{id in the file: id in the document} for annotation ids that changed."""
        return self._changed("annotations")


def read_coco(
    path: str | Path, images_root: str | Path, *, strict: bool = True, placeholders: str = "keep"
) -> Document:
    """Read a COCO file into a new Document whose images are relative to `images_root`.

    strict=True: the first bad entry raises CocoFormatError. strict=False: bad entries
    are skipped and logged as warnings; use `read_coco_with_report` to get them as data.
    """
    result = read_coco_with_report(path, images_root, strict=strict, placeholders=placeholders)
    for entry in result.report.skipped:
        log.warning("%s: skipped %s", path, entry)
    return result.document


def read_coco_with_report(
    path: str | Path,
    images_root: str | Path,
    *,
    strict: bool = False,
    placeholders: str = "keep",
) -> CocoReadResult:
    """Like `read_coco`, but best-effort by default and returning the report."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise CocoFormatError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CocoFormatError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise CocoFormatError(f"{path}: JSON nested too deeply to be a COCO file") from None
    try:
        return coco_to_document(
            data, images_root, strict=strict, placeholders=placeholders, source=str(path)
        )
    except CocoFormatError as error:
        raise CocoFormatError(f"{path}: {error}") from None


def _check_depth(data: Any) -> None:
    """CocoFormatError if JSON data nests deeper than MAX_JSON_DEPTH (iteratively)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise CocoFormatError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))


def coco_to_document(
    data: Any,
    images_root: str | Path,
    *,
    strict: bool = True,
    placeholders: str = "keep",
    source: str = "<data>",
) -> CocoReadResult:
    """A parsed COCO dict -> Document and report (see the module docstring)."""
    if placeholders not in PLACEHOLDER_CHOICES:
        raise ValueError(f"placeholders must be one of {PLACEHOLDER_CHOICES}, got {placeholders!r}")
    if not isinstance(data, dict):
        raise CocoFormatError("the top level is not a JSON object")
    _check_depth(data)
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise CocoFormatError(f"the key {key!r} is missing")
        if not isinstance(data[key], list):
            raise CocoFormatError(f"{key!r} is not a list")
    report = ImportReport(source, "coco")
    reader = _Reader(strict, report)
    reader.resolver = ImageNameResolver(images_root)
    document = Document(images_root)
    document.info = data.get("info")
    document.licenses = data.get("licenses")
    document.extra = {k: v for k, v in data.items() if k not in _TOP_KEYS}

    image_by_file_id = _read_images(reader, data["images"], images_root)
    document.insert_images(image_by_file_id.values())
    resolver = reader.resolver
    report.images_read = len(image_by_file_id)
    report.images_missing = [
        i.path for i in image_by_file_id.values() if not resolver.exists(i.path)
    ]

    categories = reader.each("categories", data["categories"], _parse_category)
    merged_into = merge_same_names(categories, document, reader.fail)

    def parse_annotation(entry: Any) -> dict[str, Any]:
        return _parse_annotation(entry, image_by_file_id, document, merged_into)

    parsed = reader.each("annotations", data["annotations"], parse_annotation)
    new_annotation_ids = _fresh_ids(parsed, "id", minimum=1)
    annotations: dict[int, Annotation] = {}
    moved: dict[int, int] = {}
    for index, fields in parsed:
        annotation_id = new_annotation_ids.get(fields["id"], fields["id"])
        if annotation_id in annotations:
            reader.fail("annotations", index, fields["id"], "duplicate annotation id")
            continue
        original_category = fields.pop("file_category_id")
        if original_category != fields["category_id"]:
            moved[original_category] = moved.get(original_category, 0) + 1
        annotations[annotation_id] = Annotation(**{**fields, "id": annotation_id})
    document.insert_annotations(annotations.values())
    for old, new in new_annotation_ids.items():
        report.ids_changed.append(
            IdChange("annotations", old, new, "COCOeval treats annotation ids below 1 as unmatched")
        )
    for old, (into, name) in merged_into.items():
        report.merged_categories.append(MergedCategory(old, name, into, moved.get(old, 0)))
    report.placeholders = placeholder_categories(document)
    if placeholders == "drop":
        drop_placeholders(document, report)
    report.annotations_read = document.annotation_count()
    return CocoReadResult(document, report)


def _read_images(
    reader: _Reader, entries: list[Any], images_root: str | Path
) -> dict[int, ImageRecord]:
    parsed = reader.each("images", entries, _parse_image)
    new_image_ids = _fresh_ids(parsed, "id", minimum=0)
    paths: set[str] = set()
    image_by_file_id: dict[int, ImageRecord] = {}
    for index, entry in parsed:
        file_id = entry["id"]
        if file_id in image_by_file_id:
            reader.fail("images", index, file_id, "duplicate image id")
            continue
        try:
            path, resolved = reader.resolver.resolve(entry["file_name"], paths)
        except ValueError as error:
            reader.fail("images", index, file_id, str(error))
            continue
        if path in paths:
            reader.fail("images", index, file_id, f"duplicate file_name {path!r}")
            continue
        if resolved is not None:
            reader.report.resolved_names.append(resolved)
        image_id = new_image_ids.get(file_id, file_id)
        if image_id != file_id:
            reader.report.ids_changed.append(IdChange("images", file_id, image_id, "negative"))
        record = ImageRecord(image_id, path, entry["width"], entry["height"], extra=entry["extra"])
        paths.add(record.path)
        image_by_file_id[file_id] = record
    return image_by_file_id


class _Reader:
    """Runs a parser over each entry of a section; raises or records failures."""

    def __init__(self, strict: bool, report: ImportReport) -> None:
        self.strict = strict
        self.report = report
        self.resolver = ImageNameResolver(None)

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
        self.report.skipped.append(skipped)


def _fresh_ids(entries: list[tuple[int, Any]], key: str, *, minimum: int) -> dict[int, int]:
    """{old: new} for ids below `minimum`, numbered after the largest id."""
    ids = [entry[key] if isinstance(entry, dict) else getattr(entry, key) for _, entry in entries]
    next_id = max([minimum - 1, *ids]) + 1
    mapping: dict[int, int] = {}
    for old in ids:
        if old < minimum and old not in mapping:
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
    is absolute or leaves the root ('..'). (Readers resolve absolute names by matching:
    io/formats/paths.py.)"""
    path = plain_relative_path(file_name)
    if path is None:
        raise ValueError(f"file_name {file_name!r} is an absolute path")
    return path


def _parse_image(entry: Any) -> dict[str, Any]:
    entry = _require_dict(entry)
    file_name = entry.get("file_name")
    if not isinstance(file_name, str) or not file_name.strip():
        raise ValueError(f"file_name must be a non-empty string, got {file_name!r:.60}")
    width = _integer(entry, "width", positive=True)
    height = _integer(entry, "height", positive=True)
    check_image_size(width, height)
    return {
        "id": _integer(entry, "id"),
        "file_name": file_name,
        "width": width,
        "height": height,
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
    if "supercategory" in entry and supercategory is None:
        extra["supercategory"] = None  # an explicit null goes back as it came
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
    entry: Any,
    images: Mapping[int, ImageRecord],
    document: Document,
    merged_into: Mapping[int, tuple[int, str]],
) -> dict[str, Any]:
    entry = _require_dict(entry)
    annotation_id = _integer(entry, "id")
    image_id = _integer(entry, "image_id")
    image = images.get(image_id)
    if image is None:
        raise ValueError(f"image_id {image_id} is not an image of the file")
    file_category_id = _integer(entry, "category_id")
    category_id = merged_into.get(file_category_id, (file_category_id, ""))[0]
    try:
        document.category(category_id)
    except KeyError:
        raise ValueError(f"category_id {file_category_id} is not a category of the file") from None
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
        "source": {k: entry[k] for k in _SOURCE_KEYS if k in entry},
        "file_category_id": file_category_id,
    }
