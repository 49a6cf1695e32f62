"""Command-line subcommands. Each module defines `add_arguments(parser)` and `run(args)`.

Modules are imported only when their command runs, so `--help` stays instant.
"""

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "embed": ("sam_annotator.commands.embed", "precompute the embedding cache for a folder"),
    "auto": ("sam_annotator.commands.auto", "write SAM's automatic mask proposals as COCO"),
    "segment-boxes": (
        "sam_annotator.commands.segment_boxes",
        "one SAM mask per detector box (COCO detections in, COCO polygons out)",
    ),
    "export": (
        "sam_annotator.commands.export",
        "write a project or COCO file as coco, yolo-seg, voc, labelme or masks",
    ),
    "import": (
        "sam_annotator.commands.import_dataset",
        "read a coco, yolo-seg, voc or labelme dataset into a COCO file, with a report",
    ),
}
