"""labelme JSON: one file per image, as labelme (5.x) and X-AnyLabeling open them.

    {"version": "5.5.0", "flags": {}, "shapes": [shape, ...], "imagePath": "cat.jpg",
     "imageData": null, "imageHeight": 480, "imageWidth": 640}
    shape: {"label": "cat", "points": [[x, y], ...], "group_id": null, "description": "",
            "shape_type": "polygon", "flags": {}, "mask": null, ...}

Points are image pixels (x right, y down, origin at the image's top-left corner), as in
our COCO polygons. `imagePath` is relative to the JSON file; `imageData` is left null
(labelme then reads the image file).

Writing (one JSON per image, with the image's folder structure):
- each polygon ring of an annotation is one "polygon" shape; an object of several parts
  gives its parts one `group_id` (labelme2coco and X-AnyLabeling join shapes with the same
  label and group id into one instance). Keyhole holes stay in their ring: labelme draws
  and rasterises polygons even-odd (QPainterPath, PIL), so the hole stays empty;
- an RLE mask (a crowd region, an imported mask) is a "mask" shape (points: the two
  corners of its box; mask: base64 PNG of the box's pixels), pixel-exact; a crowd region
  carries `flags: {"iscrowd": true}`, since labelme has no crowd;
- the annotation's other fields (score, predicted_iou, attributes...) are extra keys of
  the shape, which labelme keeps (`other_data`) and X-AnyLabeling reads ("score").
With copy_images (default) the image is copied beside its JSON and imagePath is its
name; without, imagePath leads from the JSON to the original file.

Reading a folder (sub-folders included) of such files: labels become categories in order
of first appearance; polygon, rectangle, rotation (X-AnyLabeling) and circle shapes become
polygons, mask shapes exact polygons (a crowd region: an RLE mask); point, line and
linestrip shapes have no area and are left out with the file and shape named; shapes
sharing a label and group id are one annotation. An image is found by imagePath, else by
the JSON's name beside it, and never outside the folder; one that is not found keeps its
annotations (size from the JSON) and is listed as missing. A file that is not labelme
JSON is left out with the reason.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sam_annotator.io.formats.common import (
    ExportError,
    Progress,
    annotation_mask,
    annotations_by_image,
    image_source,
    place_image,
    snapshot_of,
)
from sam_annotator.io.formats.report import ImportReport, SkippedEntry
from sam_annotator.io.images import SUPPORTED_EXTENSIONS, ImageLoadError, image_size
from sam_annotator.model.document import Document, DocumentError, DocumentSnapshot
from sam_annotator.model.geometry import mask_to_polygons, polygons_to_mask
from sam_annotator.model.records import Annotation, ImageRecord
from sam_annotator.model.rle import Rle

NAME = "labelme"
TITLE = "labelme JSON (per image)"
CAN_READ = True
CAN_WRITE = True
SOURCE_KIND = "folder"
WRITE_OPTIONS = frozenset({"copy_images"})
READ_OPTIONS: frozenset[str] = frozenset()
VERSION = "5.5.0"
CIRCLE_POINTS = 64
_SHAPE_KEYS = {"label", "points", "group_id", "description", "shape_type", "flags", "mask"}
_NO_AREA = {"point", "points", "line", "linestrip"}


def images_folder(source: str | Path) -> Path:
    """The folder of the dataset's images (what the app opens as its workspace)."""
    return Path(source)


# --- writing ------------------------------------------------------------------------------


def write(
    document: Document | DocumentSnapshot,
    out: str | Path,
    *,
    progress: Progress | None = None,
    copy_images: bool = True,
) -> list[Path]:
    """One labelme JSON per image under the folder `out`; returns the files written."""
    snapshot = snapshot_of(document)
    root = Path(out)
    names = {c.id: c.name for c in snapshot.categories}
    grouped = annotations_by_image(snapshot)
    written: list[Path] = []
    json_owner: dict[Path, str] = {}
    for number, image in enumerate(snapshot.images, start=1):
        relative = _safe_relative(image.path)
        json_path = (root / relative).with_suffix(".json")
        if json_path in json_owner:  # a.jpg and a.png: one would overwrite the other
            raise ExportError(
                f"{json_owner[json_path]!r} and {image.path!r} would share the labelme file "
                f"{json_path.name}: rename one of them"
            )
        json_owner[json_path] = image.path
        source = image_source(snapshot, image)
        if copy_images and source is not None and place_image(source, root / relative):
            written.append(root / relative)
            image_path = relative.name
        elif source is not None:
            image_path = Path(os.path.relpath(source.resolve(), json_path.parent.resolve()))
            image_path = image_path.as_posix()
        else:
            image_path = relative.name
        shapes = []
        group = 0
        for annotation in grouped[image.id]:
            new_shapes = _shapes(annotation, image, names[annotation.category_id])
            if len(new_shapes) > 1:
                group += 1
                for shape in new_shapes:
                    shape["group_id"] = group
            shapes.extend(new_shapes)
        data = {
            "version": VERSION, "flags": {}, "shapes": shapes, "imagePath": image_path,
            "imageData": None, "imageHeight": image.height, "imageWidth": image.width,
        }  # fmt: skip
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        written.append(json_path)
        if progress is not None:
            progress(number, len(snapshot.images))
    return written


def _safe_relative(path: str) -> Path:
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise ExportError(f"image path {path!r} leads outside the export folder")
    return relative


def _shapes(annotation: Annotation, image: ImageRecord, label: str) -> list[dict[str, Any]]:
    extra = {k: v for k, v in annotation.extra.items() if k not in _SHAPE_KEYS}
    base = {"label": label, "group_id": None, "description": "", "flags": {}, "mask": None}
    if annotation.iscrowd:
        base["flags"] = {"iscrowd": True}
    if annotation.is_polygon:
        return [
            {**base, "points": np.asarray(ring).reshape(-1, 2).tolist(),
             "shape_type": "polygon", **extra}
            for ring in annotation.polygons
        ]  # fmt: skip
    mask = annotation_mask(annotation, image)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y1, y2, x1, x2 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    crop = mask[y1 : y2 + 1, x1 : x2 + 1]
    encoded = io.BytesIO()
    Image.fromarray(crop.astype(np.uint8)).save(encoded, format="PNG")
    return [{**base, "points": [[x1, y1], [x2, y2]], "shape_type": "mask",
             "mask": base64.b64encode(encoded.getvalue()).decode("ascii"), **extra}]  # fmt: skip


# --- reading ------------------------------------------------------------------------------


def read(
    source: str | Path, images_root: str | Path | None = None
) -> tuple[Document, ImportReport]:
    """A folder of labelme JSON files -> (Document with images relative to it, report)."""
    root = Path(source)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    report = ImportReport(str(root), NAME)
    document = Document(root)
    files = sorted(root.rglob("*.json"))
    for file in files:
        where = file.relative_to(root).as_posix()
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            report.skipped.append(SkippedEntry("files", 0, where, f"not JSON ({error})"))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
            report.skipped.append(SkippedEntry("files", 0, where, "not a labelme file (no shapes)"))
            continue
        try:
            image = _add_image(document, root, file, data, report)
        except ValueError as error:
            report.skipped.append(SkippedEntry("files", 0, where, str(error)))
            continue
        _read_shapes(document, image, data["shapes"], where, report)
    if not document.images() and not report.skipped:
        raise ValueError(f"{root}: no labelme JSON files")
    report.images_read = len(document.images())
    report.annotations_read = document.annotation_count()
    return document, report


def _add_image(
    document: Document, root: Path, file: Path, data: Mapping[str, Any], report: ImportReport
) -> ImageRecord:
    resolved_root = root.resolve()
    candidates = []
    if isinstance(data.get("imagePath"), str) and data["imagePath"]:
        candidates.append(file.parent / data["imagePath"].replace("\\", "/"))
    candidates += [file.with_suffix(ext) for ext in sorted(SUPPORTED_EXTENSIONS)]
    found = None
    for candidate in candidates:
        path = candidate.resolve()
        if path.is_file() and path.is_relative_to(resolved_root):
            found = path
            break
    if found is not None:
        relative = found.relative_to(resolved_root).as_posix()
        try:
            width, height = image_size(found)
        except (ImageLoadError, OSError) as error:
            raise ValueError(f"its image {relative} cannot be read ({error})") from None
        stated = (data.get("imageWidth"), data.get("imageHeight"))
        if stated != (None, None) and stated != (width, height):
            report.notes.append(
                f"{file.relative_to(root).as_posix()}: the file says {stated[0]}x{stated[1]}, "
                f"its image is {width}x{height}; the image's size is used"
            )
    else:
        relative = (
            file.relative_to(root)
            .with_name(Path(str(data.get("imagePath") or file.stem)).name)
            .as_posix()
        )
        width, height = data.get("imageWidth"), data.get("imageHeight")
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise ValueError("its image is not in the folder and the file has no image size")
        report.images_missing.append(relative)
    if document.image_by_path(relative) is not None:
        raise ValueError(f"a second file for the image {relative}")
    return document.add_image(relative, width, height)


def _read_shapes(
    document: Document, image: ImageRecord, shapes: list[Any], where: str, report: ImportReport
) -> None:
    groups: dict[tuple[str, Any], list[tuple[int, dict[str, Any], list[list[float]]]]] = {}
    for index, shape in enumerate(shapes):
        try:
            label, rings = _shape_rings(shape, image)
        except (ValueError, TypeError, KeyError) as error:
            report.skipped.append(SkippedEntry("shapes", index, where, str(error)))
            continue
        group_id = shape.get("group_id")
        key = (label, ("group", group_id) if group_id is not None else ("shape", index))
        groups.setdefault(key, []).append((index, shape, rings))
    for (label, _), members in groups.items():
        index, first, _rings = members[0]
        rings = [ring for _, _, member_rings in members for ring in member_rings]
        flags = first.get("flags") if isinstance(first.get("flags"), dict) else {}
        extra = {k: v for k, v in first.items() if k not in _SHAPE_KEYS}
        if first.get("description"):
            extra["description"] = first["description"]
        crowd = bool(flags.get("iscrowd"))
        segmentation: Any = rings
        if crowd:  # COCO keeps crowd regions as RLE masks (exact: rings are traced exactly)
            segmentation = Rle.from_mask(polygons_to_mask(rings, image.height, image.width))
        try:
            document.measure(image.id, segmentation)  # no category for a shape left out
        except DocumentError as error:
            report.skipped.append(SkippedEntry("shapes", index, where, str(error)))
            continue
        category = document.category_by_name(label)
        if category is None:
            category = document.make_category(label)
            document.insert_category(category)
        annotation = document.make_annotation(
            image.id, category.id, segmentation, iscrowd=crowd, extra=extra
        )
        document.insert_annotations([annotation])


def _shape_rings(shape: Any, image: ImageRecord) -> tuple[str, list[list[float]]]:
    """(label, flat pixel rings) of one shape; ValueError for one without an area."""
    if not isinstance(shape, dict):
        raise ValueError("a shape must be an object")
    label = shape.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValueError("a shape without a label")
    kind = shape.get("shape_type") or "polygon"
    points = np.asarray(shape.get("points"), dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        raise ValueError(f"{kind} shape: points must be [[x, y], ...]")
    if kind in _NO_AREA:
        raise ValueError(f"a {kind} shape has no area (left out)")
    if kind == "rectangle":
        (x1, y1), (x2, y2) = points.min(axis=0), points.max(axis=0)
        ring = [x1, y1, x2, y1, x2, y2, x1, y2]
    elif kind == "circle":
        (cx, cy), (px, py) = points[:2]
        radius = math.hypot(px - cx, py - cy)
        angles = np.linspace(0, 2 * math.pi, CIRCLE_POINTS, endpoint=False)
        ring = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1)
        ring = np.clip(ring, 0, [image.width, image.height]).ravel().tolist()
    elif kind == "mask":
        return label.strip(), _mask_rings(shape, points, image)
    elif kind in ("polygon", "rotation"):
        if len(points) < 3:
            raise ValueError(f"a {kind} of {len(points)} points has no area")
        ring = points.ravel().tolist()
    else:
        raise ValueError(f"shape type {kind!r} is not one labelme writes")
    return label.strip(), [[float(v) for v in ring]]


def _mask_rings(shape: dict[str, Any], points: np.ndarray, image: ImageRecord) -> list[list[float]]:
    """labelme's mask shape: a PNG of the box from points[0] to points[1] (inclusive)."""
    try:
        with Image.open(io.BytesIO(base64.b64decode(shape.get("mask") or ""))) as png:
            crop = np.asarray(png.convert("L")) > 0
    except (OSError, ValueError) as error:
        raise ValueError(f"mask shape: the mask is not a base64 PNG ({error})") from None
    x1, y1 = (int(v) for v in points[0])
    height, width = crop.shape
    if x1 < 0 or y1 < 0 or x1 + width > image.width or y1 + height > image.height:
        raise ValueError("mask shape: the mask does not fit in the image")
    mask = np.zeros((image.height, image.width), dtype=bool)
    mask[y1 : y1 + height, x1 : x1 + width] = crop
    rings = mask_to_polygons(mask, tolerance=0, min_area=0).polygons
    if not rings:
        raise ValueError("mask shape: the mask is empty")
    return rings
