"""``sam-annotator export SOURCE --format F -o OUT``: write a project or COCO file as
another dataset format (``io/formats``: coco, yolo-seg, voc, labelme, masks).

SOURCE is a project file, a COCO file (images under ``--images``, default its folder) or
an images folder the app has opened (``io/formats/sources.py``). Options apply to the
formats that have them; one given to a format without it is refused, not ignored:

- ``--holes-as-rle`` (coco): annotations with holes as RLE, for readers that keep only
  outer rings (detectron2, mmdetection crop augmentations);
- ``--val-fraction F --seed N`` (yolo-seg, voc): a seeded random train/val split;
- ``--no-images`` (yolo-seg, voc, labelme): do not copy the images into the dataset;
- ``--layout instances|ids`` (masks): one PNG per instance, or one instance-id PNG.

A folder format refuses an output folder that already holds files (``--force`` writes
into it). Progress per image on stderr. Exit status: 0 written, 2 bad arguments or a
source that cannot be read, 1 the export failed part-way (the message says why).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from sam_annotator.io.formats import FORMATS, NOTES_FILE

EXIT_WRITTEN = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# command-line flag -> the writers' option name (also the attribute argparse stores it in)
_OPTION_FLAGS = {
    "--holes-as-rle": "holes_as_rle",
    "--val-fraction": "val_fraction",
    "--seed": "seed",
    "--no-images": "copy_images",
    "--layout": "layout",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="project file, COCO file, or an images folder")
    parser.add_argument("--format", required=True, choices=list(FORMATS), dest="format_name")
    parser.add_argument("-o", "--output", required=True, help="output file or folder")
    parser.add_argument(
        "--images", metavar="DIR", help="images folder of a COCO source (default: its folder)"
    )
    parser.add_argument("--holes-as-rle", action="store_true", default=None)
    parser.add_argument("--val-fraction", type=float, default=None, metavar="F")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-images", action="store_false", default=None, dest="copy_images")
    parser.add_argument("--layout", choices=["instances", "ids"], default=None)
    parser.add_argument(
        "--force", action="store_true", help="write into an output folder that holds files"
    )


def chosen_options(args: argparse.Namespace, accepted: frozenset[str]) -> dict:
    """{option: value} for the options given on the command line; ValueError naming a
    flag that the format does not have."""
    options = {}
    for flag, name in _OPTION_FLAGS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in accepted:
            raise ValueError(f"{flag} does not apply to --format {args.format_name}")
        options[name] = value
    return options


def run(args: argparse.Namespace) -> int:
    from sam_annotator.commands.runner import Progress
    from sam_annotator.config import app_dirs
    from sam_annotator.io.formats import format_module
    from sam_annotator.io.formats.common import ExportError
    from sam_annotator.io.formats.sources import SourceError, load_annotations

    module = format_module(args.format_name)
    if not module.CAN_WRITE:
        return _fail(f"--format {args.format_name} cannot be written")
    try:
        options = chosen_options(args, module.WRITE_OPTIONS)
    except ValueError as error:
        return _fail(error)
    out = Path(args.output)
    if module.SOURCE_KIND == "folder" and _holds_files(out) and not args.force:
        return _fail(f"{out} already holds files; choose an empty folder or pass --force")
    try:
        document = load_annotations(args.source, images_dir=args.images, data_dir=app_dirs().data)
    except SourceError as error:
        return _fail(error)
    with Progress(len(document.images())) as bar:
        try:
            written = module.write(document, out, progress=_follow(bar), **options)
        except (ExportError, OSError) as error:
            print(f"sam-annotator export: failed: {error}", file=sys.stderr)
            return EXIT_FAILED
    snapshot = document.snapshot()
    print(
        f"{module.TITLE}: {len(snapshot.images)} images, {len(snapshot.annotations)} "
        f"annotations, {len(snapshot.categories)} categories -> {out} ({len(written)} files)"
    )
    for path in written:
        if path.name == NOTES_FILE:
            print(f"{path}: " + path.read_text(encoding="utf-8").strip())
    return EXIT_WRITTEN


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def _fail(error: Exception | str) -> int:
    print(f"sam-annotator export: {error}", file=sys.stderr)
    return EXIT_USAGE


def _follow(bar) -> Callable[[int, int], None]:
    """The writers' progress(done, total) callback, moving the runner's progress bar
    (whose total is the number of images; a writer may count in other units)."""

    def progress(done: int, total: int) -> None:
        target = round(done / total * bar.total) if total else bar.total
        while bar.advanced < target:
            bar.advance()

    return progress
