"""Command-line entry point.

    sam-annotator [IMAGES_DIR | VIDEO] [--checkpoint PATH] [--model TYPE] [--coco FILE]
    sam-annotator embed IMAGES_DIR [...]
    sam-annotator auto IMAGES_DIR -o proposals.json [...]
    sam-annotator segment-boxes IMAGES_DIR --boxes dets.json -o out.json [...]
    sam-annotator export SOURCE --format coco|yolo-seg|voc|labelme|masks -o OUT [...]
    sam-annotator import SOURCE --format coco|yolo-seg|voc|labelme -o OUT.json [...]
    (each batch command runs on a Ray cluster with --ray [ADDRESS])

Heavy modules (torch, Qt, OpenCV) are imported only once a command needs them, so that
``sam-annotator --help`` answers instantly.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sam_annotator import __version__
from sam_annotator.commands import SUBCOMMANDS

# The types of the official download table (SAM 2.0 files load too, detected by shape).
MODEL_TYPES = (
    "vit_b", "vit_l", "vit_h", "vit_t",
    "sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l",
)  # fmt: skip


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--checkpoint / --model, shared by the app and the subcommands."""
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="SAM, MobileSAM or SAM 2 checkpoint (.pth / .pt); default: "
        "$SAM_ANNOTATOR_CHECKPOINT, then the one "
        "remembered in the user settings",
    )
    parser.add_argument(
        "--model",
        choices=MODEL_TYPES,
        help="model type the checkpoint must be (detected from its tensors when omitted)",
    )


def build_app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sam-annotator",
        description="Label images for instance segmentation with Segment Anything.",
        epilog="commands: "
        + "; ".join(
            f"sam-annotator {name} --help: {text}" for name, (_, text) in SUBCOMMANDS.items()
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "images_dir",
        nargs="?",
        help="folder of images to label, or a video file to label as frames (default: the "
        "last project)",
    )
    add_model_arguments(parser)
    parser.add_argument("--coco", metavar="FILE", help="COCO JSON file to open with the images")
    return parser


def build_command_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    module_name, text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"sam-annotator {name}", description=text)
    module.add_arguments(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        parser, module = build_command_parser(argv[0])
        return int(module.run(parser.parse_args(argv[1:])) or 0)
    args = build_app_parser().parse_args(argv)
    from sam_annotator.app import run_app  # Qt and torch load here, not for --help

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
