"""``sam-annotator import SOURCE --format F -o OUT.json``: read another tool's dataset
(``io/formats``: coco, yolo-seg, voc, labelme) and write it as our COCO file, with the
import report on stdout.

The report says what the app would say on import: images matched / missing, annotations
read / left out with the reason, ids that changed, categories merged, placeholder
categories (``--drop-placeholders`` drops them and their annotations). The COCO file's
``file_name``s are relative to the dataset's images folder, which the last line names:
open the result with ``sam-annotator IMAGES_DIR --coco OUT.json``.

Exit status: 0 everything was read; 1 the file was written but entries were left out
(listed); 2 bad arguments or a source that cannot be read as that format.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sam_annotator.io.formats import FORMATS

EXIT_COMPLETE = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="the dataset: a file (coco) or a folder (the others)")
    parser.add_argument("--format", required=True, choices=list(FORMATS), dest="format_name")
    parser.add_argument("-o", "--output", required=True, help="COCO JSON file to write")
    parser.add_argument(
        "--images",
        metavar="DIR",
        help="images folder of a COCO source (default: the COCO file's folder)",
    )
    parser.add_argument(
        "--drop-placeholders",
        action="store_true",
        help="drop other tools' placeholder categories (_background_, Roboflow's "
        "dataset class) and their annotations (coco)",
    )


def run(args: argparse.Namespace) -> int:
    from sam_annotator.io.coco import write_coco
    from sam_annotator.io.formats import format_module

    module = format_module(args.format_name)
    if not module.CAN_READ:
        return _fail(f"--format {args.format_name} cannot be read")
    source = Path(args.source)
    options = {}
    if args.drop_placeholders:
        if "placeholders" not in module.READ_OPTIONS:
            return _fail(f"--drop-placeholders does not apply to --format {args.format_name}")
        options["placeholders"] = "drop"
    if module.SOURCE_KIND == "file":
        images = Path(args.images) if args.images else source.resolve().parent
    elif args.images:
        return _fail(f"--images does not apply to --format {args.format_name}: the images "
                     "are found inside the dataset folder")  # fmt: skip
    else:
        images = None
    try:
        document, report = module.read(source, images, **options)
    except (ValueError, OSError) as error:  # CocoFormatError is a ValueError
        return _fail(error)
    output = Path(args.output)
    try:
        write_coco(document, output)
    except (OSError, ValueError) as error:
        print(f"sam-annotator import: cannot write {output}: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(report)
    print(f"open it with: sam-annotator {Path(document.images_root).resolve()} --coco {output}")
    return EXIT_INCOMPLETE if report.skipped else EXIT_COMPLETE


def _fail(error: Exception | str) -> int:
    print(f"sam-annotator import: {error}", file=sys.stderr)
    return EXIT_USAGE
