"""``sam-annotator auto IMAGES_DIR -o proposals.json``: SAM's proposals for a folder, as COCO.

Every image of the folder (sub-folders included) goes through the engine's "segment
everything" (``Segmenter.propose_all``: SAM's automatic mask generator); each mask
becomes one annotation of the category "object" (all parts, holes as keyhole polygons)
with ``predicted_iou`` and ``stability_score`` as extra fields. The file loads in the
app (``sam-annotator IMAGES_DIR --coco proposals.json``) for review.

Resumable: after every image the state is saved atomically to ``<output>.partial.json``
(a project file); a run interrupted for any reason continues where it stopped when
started again with the same settings, and the partial file is removed at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

AUTO_KEY = "sam_annotator_auto"


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


def _settings(args: argparse.Namespace, checkpoint: Path) -> dict[str, Any]:
    return {
        "images_dir": str(Path(args.images_dir).resolve()),
        "checkpoint": str(checkpoint.resolve()),
        "points_per_side": args.points_per_side,
        "pred_iou_thresh": args.pred_iou_thresh,
        "stability_score_thresh": args.stability_score_thresh,
        "box_nms_thresh": args.box_nms_thresh,
        "crop_n_layers": args.crop_n_layers,
        "min_mask_region_area": args.min_area,
    }


def run(args: argparse.Namespace) -> int:
    from sam_annotator.commands.batch import UsageError, fail, images_and_checkpoint, load_model
    from sam_annotator.inference.sam_segmenter import SamSegmenter
    from sam_annotator.inference.segmenter import ProposalSettings

    try:
        images_dir, images, checkpoint = images_and_checkpoint(args)
        segmenter = SamSegmenter(load_model(args, checkpoint))
    except UsageError as error:
        return fail("auto", error)

    proposal_settings = ProposalSettings(
        points_per_side=args.points_per_side,
        points_per_batch=args.points_per_batch,
        pred_iou_thresh=args.pred_iou_thresh,
        stability_score_thresh=args.stability_score_thresh,
        box_nms_thresh=args.box_nms_thresh,
        crop_n_layers=args.crop_n_layers,
        min_mask_region_area=args.min_area,
    )
    return generate_folder(
        segmenter,
        proposal_settings,
        images_dir,
        images,
        Path(args.output),
        _settings(args, checkpoint),
    )


def generate_folder(
    segmenter, proposal_settings, images_dir: Path, images: list[Path], output: Path, settings
) -> int:
    """Propose everything on `images` with `segmenter` (a Segmenter) and
    `proposal_settings`, resuming from `<output>.partial.json` if its `settings` match."""
    from sam_annotator.io.coco import write_coco
    from sam_annotator.io.images import ImageLoadError, load_image
    from sam_annotator.io.project import ProjectFormatError, load_project, save_project
    from sam_annotator.model.document import Document

    partial = output.with_name(output.name + ".partial.json")
    document = None
    if partial.exists():
        try:
            document = load_project(partial)
        except ProjectFormatError as error:
            print(f"ignoring an unreadable partial file: {error}", file=sys.stderr)
        if document is not None and document.extra.get(AUTO_KEY, {}).get("settings") != settings:
            print("the partial file was made with other settings: starting over", file=sys.stderr)
            document = None
    if document is None:
        document = Document(images_dir.resolve())
        document.insert_category(document.make_category("object"))
        document.extra[AUTO_KEY] = {"settings": settings, "done": [], "failed": {}}
    state = document.extra[AUTO_KEY]
    category = document.categories()[0].id
    done = set(state["done"])
    todo = [p for p in images if p.relative_to(images_dir).as_posix() not in done]
    if done:
        print(f"resuming: {len(done)} of {len(images)} images already done", file=sys.stderr)
    for number, path in enumerate(todo, start=len(done) + 1):
        relative = path.relative_to(images_dir).as_posix()
        start = time.perf_counter()

        def progress(step: int, total: int, number=number, relative=relative) -> None:
            print(
                f"\r[{number}/{len(images)}] {relative}: {step}/{total} batches",
                end="",
                file=sys.stderr,
                flush=True,
            )

        try:
            image = load_image(path)
        except ImageLoadError as error:
            print(f"[{number}/{len(images)}] skipped {relative}: {error.reason}", file=sys.stderr)
            state["failed"][relative] = error.reason
            continue
        encoded = segmenter.encode(image)
        proposals = segmenter.propose_all(encoded, image, proposal_settings, progress=progress)
        record = document.image_by_path(relative) or document.add_image(
            relative, image.shape[1], image.shape[0]
        )
        annotations = [
            document.make_annotation(record.id, category, p.polygons, extra=p.extra)
            for p in proposals
        ]
        document.insert_annotations(annotations)
        state["done"].append(relative)
        save_project(document, partial)
        seconds = time.perf_counter() - start
        print(
            f"\r[{number}/{len(images)}] {relative}: {len(annotations)} masks ({seconds:.1f} s)",
            file=sys.stderr,
        )
    failed = state["failed"]
    del document.extra[AUTO_KEY]
    write_coco(document, output)
    partial.unlink(missing_ok=True)
    print(
        f"wrote {output}: {len(document.annotations())} proposals on "
        f"{len(document.images())} images" + (f", {len(failed)} unreadable" if failed else ""),
        file=sys.stderr,
    )
    return 0
