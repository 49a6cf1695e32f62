"""Command-line entry point: ``sam-annotator [IMAGES_DIR] [options]``.

Heavy modules (torch, Qt) are imported only once a command needs them, so that
``sam-annotator --help`` answers instantly.
"""

from __future__ import annotations

import argparse
import sys

from sam_annotator import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sam-annotator",
        description="Label images for instance segmentation with Segment Anything.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("images_dir", nargs="?", help="folder of images to label")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    print("The application is not built yet.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
