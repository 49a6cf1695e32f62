"""YOLO segmentation, the ultralytics dataset layout.

    data.yaml              names: {0: cat, 1: dog}; train: images/train; val: images/val
    images/train/a.jpg     (copies: hard links where the filesystem allows)
    labels/train/a.txt     one line per object: class x1 y1 x2 y2 ... (normalised 0-1)

Classes are the categories in the project's order, numbered from 0 (names: the
category names; ids are not kept). `data.yaml` has no `path`: ultralytics then reads
the folder of the yaml file. With val_fraction > 0 a seeded random share of the
images goes to `val`; with 0, `val` names the train folder (ultralytics needs one).

What the format cannot hold, and what we do (as ultralytics' own COCO converter,
`ultralytics.data.converter.convert_coco(use_segments=True)`, does):
- several parts: joined into one ring by zero-width bridges between nearest vertices
  (`merge_multi_segment`); rasterisers that draw edges (cv2.fillPoly, which ultralytics
  uses) add a 1-pixel line along each bridge;
- holes: our keyhole rings are kept as they are (one ring; filled non-zero, as
  cv2.fillPoly does, the hole stays empty);
- crowd regions: left out (ultralytics skips iscrowd), counted in the export summary;
- category ids, colours, attributes, scores: not kept.

Reading: a folder with data.yaml (names as a list or a {index: name} map), images under
images/ (any sub-folders), labels at the same place under labels/ (ultralytics'
img2label_paths rule). Segment lines (>= 3 points) become polygons, box lines (4
numbers) rectangles (noted); malformed lines are left out with file and line named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sam_annotator.io.formats import NOTES_FILE
from sam_annotator.io.formats.common import (
    Progress,
    annotation_rings,
    annotations_by_image,
    image_source,
    place_image,
    snapshot_of,
    split_names,
    unique_file_name,
)
from sam_annotator.io.formats.report import ImportReport, SkippedEntry
from sam_annotator.io.images import ImageLoadError, image_size, list_images
from sam_annotator.model.document import Document, DocumentError, DocumentSnapshot

NAME = "yolo-seg"
TITLE = "YOLO segmentation (ultralytics)"
CAN_READ = True
CAN_WRITE = True
SOURCE_KIND = "folder"
DECIMALS = 6
WRITE_OPTIONS = frozenset({"val_fraction", "seed", "copy_images"})
READ_OPTIONS: frozenset[str] = frozenset()


def images_folder(source: str | Path) -> Path:
    """The folder of the dataset's images (what the app opens as its workspace)."""
    return Path(source)


def merge_parts(rings: list[list[float]]) -> list[float]:
    """Several flat rings -> one ring: each part joined to the ring so far by a
    zero-width bridge (out and back) between their nearest vertices."""
    merged = np.asarray(rings[0], dtype=float).reshape(-1, 2)
    for ring in rings[1:]:
        part = np.asarray(ring, dtype=float).reshape(-1, 2)
        distances = ((merged[:, None, :] - part[None, :, :]) ** 2).sum(axis=2)
        a, b = np.unravel_index(int(np.argmin(distances)), distances.shape)
        part = np.roll(part, -int(b), axis=0)
        merged = np.concatenate([merged[: a + 1], part, part[:1], merged[a:]])
    return merged.ravel().tolist()


def label_line(class_index: int, ring: list[float], width: int, height: int) -> str:
    points = np.asarray(ring, dtype=float).reshape(-1, 2) / (width, height)
    points = np.clip(points, 0.0, 1.0)
    return " ".join([str(class_index), *(f"{v:.{DECIMALS}f}" for v in points.ravel())])


def write(
    document: Document | DocumentSnapshot,
    out: str | Path,
    *,
    progress: Progress | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
    copy_images: bool = True,
) -> list[Path]:
    """Write the dataset under the folder `out`; returns the files written."""
    snapshot = snapshot_of(document)
    root = Path(out)
    classes = {c.id: index for index, c in enumerate(snapshot.categories)}
    splits = split_names(snapshot, val_fraction, seed)
    grouped = annotations_by_image(snapshot)
    written: list[Path] = []
    crowd_left_out = 0
    stems: dict[tuple[str, str], str] = {}
    for number, image in enumerate(snapshot.images, start=1):
        split = splits[image.id]
        name = unique_file_name(image, split, stems)
        lines = []
        for annotation in grouped[image.id]:
            if annotation.iscrowd:
                crowd_left_out += 1
                continue
            rings = annotation_rings(annotation, image)
            ring = merge_parts(rings) if len(rings) > 1 else rings[0]
            class_index = classes[annotation.category_id]
            lines.append(label_line(class_index, ring, image.width, image.height))
        label = root / "labels" / split / f"{Path(name).stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        written.append(label)
        source = image_source(snapshot, image)
        if copy_images and source is not None:
            target = root / "images" / split / name
            if place_image(source, target):
                written.append(target)
        if progress is not None:
            progress(number, len(snapshot.images))
    has_val = "val" in splits.values()
    data: dict[str, Any] = {
        "train": "images/train",
        "val": "images/val" if has_val else "images/train",
        "nc": len(classes),
        "names": {index: c.name for index, c in enumerate(snapshot.categories)},
    }
    yaml_path = root / "data.yaml"
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    written.append(yaml_path)
    if crowd_left_out:
        notes = root / NOTES_FILE
        notes.write_text(
            f"{crowd_left_out} crowd regions left out (YOLO has no crowd; ultralytics skips them)\n"
        )
        written.append(notes)
    return written


# --- reading ----------------------------------------------------------------------------


def read_names(root: Path) -> list[str]:
    """Class names from data.yaml (a list, or a {index: name} map with indices 0..n-1)."""
    path = root / "data.yaml"
    if not path.is_file():
        candidates = sorted(root.glob("*.yaml"))
        if len(candidates) != 1:
            raise ValueError(f"{root}: no data.yaml")
        path = candidates[0]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot be read as YAML ({error})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise ValueError(f"{path}: names must be numbered 0..{len(names) - 1}")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"{path}: 'names' must list the class names")
    return names


def label_path_for(root: Path, image_path: Path) -> Path:
    """ultralytics' rule: the last 'images' folder of the path becomes 'labels', .txt."""
    parts = list(image_path.relative_to(root).parts)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            break
    return (root / Path(*parts)).with_suffix(".txt")


def read(
    source: str | Path, images_root: str | Path | None = None
) -> tuple[Document, ImportReport]:
    """A YOLO segmentation folder -> (Document with images relative to it, report)."""
    root = Path(source)
    report = ImportReport(str(root), NAME)
    try:
        names = read_names(root)
    except ValueError as error:
        raise ValueError(str(error)) from None
    document = Document(root)
    for name in names:
        document.insert_category(document.make_category(name))
    class_ids = [c.id for c in document.categories()]
    images_dir = root / "images"
    for image_path in list_images(images_dir if images_dir.is_dir() else root, recursive=True):
        relative = image_path.relative_to(root).as_posix()
        try:
            width, height = image_size(image_path)
        except (ImageLoadError, OSError, ValueError) as error:
            report.skipped.append(SkippedEntry("images", 0, relative, str(error)))
            continue
        image = document.add_image(relative, width, height)
        label = label_path_for(root, image_path)
        if not label.is_file():
            continue
        lines = label.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{label.relative_to(root).as_posix()}:{number}"
            try:
                class_index, ring, is_box = _parse_line(line, len(names), width, height)
                annotation = document.make_annotation(image.id, class_ids[class_index], [ring])
            except (ValueError, DocumentError) as error:
                report.skipped.append(SkippedEntry("annotations", number, where, str(error)))
                continue
            if is_box:
                report.notes.append(f"{where}: a box line, read as a rectangle")
            document.insert_annotations([annotation])
    report.images_read = len(document.images())
    report.annotations_read = document.annotation_count()
    return document, report


def _parse_line(
    line: str, class_count: int, width: int, height: int
) -> tuple[int, list[float], bool]:
    fields = line.split()
    try:
        class_index = int(fields[0])
        values = [float(v) for v in fields[1:]]
    except ValueError:
        raise ValueError(f"not numbers: {line[:60]!r}") from None
    if not 0 <= class_index < class_count:
        raise ValueError(f"class {class_index} is not in data.yaml's {class_count} names")
    if len(values) == 4:  # a detection box: x_centre y_centre w h
        x, y, w, h = values
        left, top, right, bottom = x - w / 2, y - h / 2, x + w / 2, y + h / 2
        values = [left, top, right, top, right, bottom, left, bottom]
        is_box = True
    else:
        is_box = False
    if len(values) % 2 or len(values) < 6:
        raise ValueError(f"{len(values)} coordinates: a segment needs pairs of at least 3 points")
    if not all(-0.01 <= v <= 1.01 for v in values):
        raise ValueError("coordinates must be normalised to 0-1")
    ring = (np.asarray(values).reshape(-1, 2) * (width, height)).ravel().tolist()
    return class_index, ring, is_box
