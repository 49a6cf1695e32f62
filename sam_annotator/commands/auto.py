"""``sam-annotator auto IMAGES_DIR -o proposals.json``: SAM's proposals for a folder, as COCO.

Every image of the folder (sub-folders included) goes through the engine's "segment
everything" (``Segmenter.propose_all``: SAM's automatic mask generator); each mask
becomes one annotation of the category "object" (all parts, holes as keyhole polygons)
with ``predicted_iou`` and ``stability_score`` as extra fields. The file loads in the
app (``sam-annotator IMAGES_DIR --coco proposals.json``) for review.

Resumable and independent of the runner (``--ray``): see ``commands/coco_job.py``. Exit
status (``commands/batch.py``): 0 when every image is in the file, 1 when some could not
be read (they are listed; the file holds the others), 2 for bad arguments, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AUTO_KEY = "sam_annotator_auto"
CATEGORY_ID = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sam_annotator.commands.batch import add_batch_arguments

    add_batch_arguments(parser)
    parser.add_argument("-o", "--output", required=True, help="COCO JSON file to write")
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--points-per-batch", type=int, default=64)
    parser.add_argument("--pred-iou-thresh", type=float, default=0.88)
    parser.add_argument("--stability-score-thresh", type=float, default=0.95)
    parser.add_argument("--box-nms-thresh", type=float, default=0.7)
    parser.add_argument("--crop-n-layers", type=int, default=0)
    parser.add_argument(
        "--min-area", type=int, default=0, help="remove regions and holes below this size (px)"
    )


def _generator_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``ProposalSettings`` fields (the mask generator's keyword arguments)."""
    return {
        "points_per_side": args.points_per_side,
        "points_per_batch": args.points_per_batch,
        "pred_iou_thresh": args.pred_iou_thresh,
        "stability_score_thresh": args.stability_score_thresh,
        "box_nms_thresh": args.box_nms_thresh,
        "crop_n_layers": args.crop_n_layers,
        "min_mask_region_area": args.min_area,
    }


def _settings(args: argparse.Namespace, checkpoint: Path) -> dict[str, Any]:
    """What a resumed run must share with the run that made the partial file."""
    settings = {
        "images_dir": str(Path(args.images_dir).resolve()),
        "checkpoint": str(checkpoint.resolve()),
        **_generator_settings(args),
    }
    del settings["points_per_batch"]  # speed only, not the result
    return settings


@dataclass(frozen=True)
class AutoWork:
    """The work factory of ``auto`` (picklable: paths and numbers)."""

    model: object  # batch.ModelSpec
    generator_settings: dict[str, Any]

    def __call__(self):
        from functools import partial

        from sam_annotator.inference.sam_segmenter import SamSegmenter
        from sam_annotator.inference.segmenter import ProposalSettings

        segmenter = SamSegmenter(self.model.load())
        return partial(propose_image, segmenter, ProposalSettings(**self.generator_settings))


def propose_image(segmenter, settings, item):
    """The proposals of one image (``segmenter.propose_all``) as :class:`ImageShapes`
    (raises ImageFailed)."""
    from sam_annotator.commands.coco_job import ImageShapes, Shape
    from sam_annotator.commands.runner import ImageFailed
    from sam_annotator.io.images import ImageLoadError, load_image

    try:
        image = load_image(item.path)
    except ImageLoadError as error:
        raise ImageFailed(error.reason) from None
    proposals = segmenter.propose_all(segmenter.encode(image), image, settings)
    shapes = tuple(Shape(CATEGORY_ID, p.polygons, p.extra) for p in proposals)
    return ImageShapes(image.shape[1], image.shape[0], shapes)


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
    from sam_annotator.model.records import Category, default_color

    try:
        images_dir, images, checkpoint = images_and_checkpoint(args)
        work = AutoWork(ModelSpec.from_args(args, checkpoint), _generator_settings(args))
        runner = make_runner(args)
    except UsageError as error:
        return fail("auto", error)
    category = Category(CATEGORY_ID, "object", default_color(CATEGORY_ID))
    items = [
        WorkItem(i, path.relative_to(images_dir).as_posix(), str(path.absolute()))
        for i, path in enumerate(images)
    ]
    return run_coco_job(
        "auto",
        runner,
        work,
        items,
        lambda: CocoJob(
            images_dir, Path(args.output), AUTO_KEY, _settings(args, checkpoint), [category]
        ),
        what="proposals",
    )
