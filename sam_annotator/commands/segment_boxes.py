"""``sam-annotator segment-boxes IMAGES_DIR --boxes dets.json -o out.json``: one SAM mask
per detector box, as COCO polygons with the detector's category.

``--boxes`` is a COCO-style file of detections:

- a COCO dict: ``images`` (``id``, ``file_name`` relative to IMAGES_DIR), ``annotations``
  (``image_id``, ``bbox`` [x, y, w, h] in image pixels, ``category_id``, ``score``) and,
  optionally, ``categories`` (``id``, ``name``; without them, categories are named
  "category <id>");
- or a bare list of detections that name their image by ``file_name`` (a list that uses
  integer ``image_id`` needs the ``images`` list: give the COCO dict instead).

Detections scoring below ``--score-thresh`` are dropped. Each box is SAM's box prompt
(the single-mask output, at full resolution, as the official predictor does); the mask
becomes one annotation with the detector's category, its ``score`` and SAM's
``predicted_iou`` (and ``detection_id`` when the detection had an ``id``). A box whose
mask is empty is counted, not written. The image encoder runs once per image, and not
at all when the embedding cache (``--cache-dir``; by default the app's) has the image:
run ``sam-annotator embed`` first, or let this command fill the cache.

Resumable, and the file is the same with ``--ray`` (``commands/coco_job.py``). Images
are in the order of the detections file. Exit status as every batch command
(``commands/batch.py``).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_KEY = "sam_annotator_segment_boxes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sam_annotator.commands.batch import add_batch_arguments

    add_batch_arguments(parser)
    parser.add_argument("--boxes", required=True, metavar="FILE", help="COCO-style detections")
    parser.add_argument("-o", "--output", required=True, help="COCO JSON file to write")
    parser.add_argument(
        "--score-thresh",
        type=float,
        default=0.5,
        help="ignore detections scoring below this (default 0.5)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="embedding cache folder to read and fill (default: the app's)",
    )


@dataclass(frozen=True)
class Box:
    """One detection: XYWH in image pixels (continuous coordinates), its category and
    score, and the detection's id in the input file (or None)."""

    xywh: tuple[float, float, float, float]
    category_id: int
    score: float
    detection_id: Any = None


@dataclass(frozen=True)
class Detections:
    """The detections file: categories (id, name) in file order, and the boxes of each
    image (relative path), images in file order."""

    categories: list[tuple[int, str]]
    boxes: dict[str, list[Box]]


def read_detections(path: Path, score_thresh: float) -> Detections:
    """Parse ``--boxes``; raises UsageError naming the bad entry."""
    from sam_annotator.commands.batch import UsageError
    from sam_annotator.io.coco import relative_image_path

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        raise UsageError(f"--boxes {path}: {error}") from None
    if isinstance(data, dict):
        entries = data.get("annotations")
        files: dict[Any, str] = {}
        for index, image in enumerate(data.get("images") or []):
            if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
                raise UsageError(f"--boxes {path}: images[{index}] needs an id and a file_name")
            files[image["id"]] = image["file_name"]
        order = list(dict.fromkeys(files.values()))
    elif isinstance(data, list):
        entries, files, order = data, {}, []
    else:
        raise UsageError(f"--boxes {path}: expected a COCO dict or a list of detections")
    if not isinstance(entries, list):
        raise UsageError(f"--boxes {path}: no 'annotations' list of detections")
    boxes: dict[str, list[Box]] = {}
    for index, entry in enumerate(entries):
        where = f"--boxes {path}: detection {index}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where} is not an object")
        if "file_name" in entry:
            name = entry["file_name"]
        elif entry.get("image_id") in files:
            name = files[entry["image_id"]]
        else:
            raise UsageError(f"{where}: its image (image_id {entry.get('image_id')!r}) is unknown")
        try:
            relative = relative_image_path(name)
        except ValueError as error:
            raise UsageError(f"{where}: {error}") from None
        box = _parse_box(entry, where)
        if relative not in order:
            order.append(relative)
        if box.score >= score_thresh:
            boxes.setdefault(relative, [])
            boxes[relative].append(box)
    ids = sorted({box.category_id for image in boxes.values() for box in image})
    categories = _categories(data, ids, path)
    return Detections(categories, {name: boxes[name] for name in order if name in boxes})


def _parse_box(entry: dict[str, Any], where: str) -> Box:
    from sam_annotator.commands.batch import UsageError

    bbox = entry.get("bbox")
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: bbox must be [x, y, width, height], got {bbox!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise UsageError(f"{where}: bbox must be finite with a positive size, got {bbox!r}")
    category = entry.get("category_id")
    if not isinstance(category, int) or isinstance(category, bool) or category < 0:
        raise UsageError(f"{where}: category_id must be an integer >= 0, got {category!r}")
    score = entry.get("score", 1.0)
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
        raise UsageError(f"{where}: score must be a number, got {score!r}")
    return Box((x, y, w, h), category, float(score), entry.get("id"))


def _categories(data: Any, ids: Sequence[int], path: Path) -> list[tuple[int, str]]:
    from sam_annotator.commands.batch import UsageError

    names = {}
    if isinstance(data, dict):
        for index, category in enumerate(data.get("categories") or []):
            if not isinstance(category, dict) or not isinstance(category.get("id"), int):
                raise UsageError(f"--boxes {path}: categories[{index}] needs an integer id")
            names[category["id"]] = str(category.get("name") or f"category {category['id']}")
    return [(i, names.get(i, f"category {i}")) for i in ids]


@dataclass(frozen=True)
class BoxWork:
    """The work factory of ``segment-boxes`` (picklable: paths)."""

    model: object  # batch.ModelSpec
    cache_dir: str

    def __call__(self):
        from functools import partial

        from sam_annotator.inference.embedding_cache import EmbeddingCache
        from sam_annotator.inference.sam_segmenter import SamSegmenter

        segmenter = SamSegmenter(self.model.load())
        return partial(segment_image, segmenter, EmbeddingCache(self.cache_dir))


def segment_image(segmenter, cache, item):
    """One mask per box of ``item`` (its payload: a tuple of Box), as ImageShapes.

    The embedding comes from ``cache`` when it has the image; otherwise the image is
    encoded and the embedding stored there. Raises ImageFailed for an unreadable image.
    """
    from sam_annotator.commands.coco_job import ImageShapes, Shape
    from sam_annotator.commands.runner import ImageFailed
    from sam_annotator.inference.embedding_cache import lookup_encoding, store_encoding
    from sam_annotator.inference.segmenter import PromptSet
    from sam_annotator.io.images import ImageLoadError, load_image
    from sam_annotator.model.geometry import mask_to_polygons

    try:
        encoded = lookup_encoding(cache, segmenter, item.path)
        if encoded is None:
            encoded = segmenter.encode(load_image(item.path))
            store_encoding(cache, segmenter, item.path, encoded)
    except ImageLoadError as error:
        raise ImageFailed(error.reason) from None
    except OSError as error:
        raise ImageFailed(error.strerror or str(error)) from None
    height, width = encoded.original_size
    shapes = []
    for box in item.payload:
        x, y, w, h = box.xywh
        prompts = PromptSet(box=(x, y, x + w, y + h))
        [candidate] = segmenter.decode(encoded, prompts, multimask=False)
        polygons = mask_to_polygons(segmenter.render(encoded, candidate)).polygons
        if not polygons:
            continue
        extra: dict[str, Any] = {
            "score": round(box.score, 4),
            "predicted_iou": round(candidate.score, 4),
        }
        if box.detection_id is not None:
            extra["detection_id"] = box.detection_id
        shapes.append(Shape(box.category_id, polygons, extra))
    return ImageShapes(width, height, tuple(shapes))


def run(args: argparse.Namespace) -> int:
    from sam_annotator.commands.batch import (
        ModelSpec,
        UsageError,
        fail,
        images_and_checkpoint,
        make_runner,
    )
    from sam_annotator.commands.coco_job import CocoJob, run_coco_job
    from sam_annotator.commands.runner import WorkItem
    from sam_annotator.inference.embedding_cache import content_digest, default_cache_dir
    from sam_annotator.model.records import Category, default_color

    cache_dir = (Path(args.cache_dir) if args.cache_dir else default_cache_dir()).absolute()
    try:
        images_dir, _, checkpoint = images_and_checkpoint(args)
        detections = read_detections(Path(args.boxes), args.score_thresh)
        if len({name for _, name in detections.categories}) < len(detections.categories):
            raise UsageError(f"--boxes {args.boxes}: two categories have the same name")
        work = BoxWork(ModelSpec.from_args(args, checkpoint), str(cache_dir))
        runner = make_runner(args)
    except UsageError as error:
        return fail("segment-boxes", error)
    items = [
        WorkItem(i, relative, str((images_dir / relative).absolute()), tuple(boxes))
        for i, (relative, boxes) in enumerate(detections.boxes.items())
    ]
    categories = [Category(i, name, default_color(i)) for i, name in detections.categories]
    settings = {
        "images_dir": str(images_dir.resolve()),
        "checkpoint": str(checkpoint.resolve()),
        "boxes": content_digest(args.boxes),  # the detections themselves, not their name
        "score_thresh": args.score_thresh,
    }
    return run_coco_job(
        "segment-boxes",
        runner,
        work,
        items,
        lambda: CocoJob(images_dir, Path(args.output), STATE_KEY, settings, categories),
        what="masks",
    )
