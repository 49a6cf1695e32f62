"""Dataset formats: one module per format, each with `read` and `write`; a registry.

Each format module defines
    NAME, TITLE, CAN_READ, CAN_WRITE
    SOURCE_KIND: "file" (one file, e.g. COCO JSON) or "folder" (a dataset folder)
    READ_OPTIONS, WRITE_OPTIONS: the keyword options read / write accept
    images_folder(source) -> Path   (folder formats: where the dataset's images are)
    read(source, images_root, **options) -> (Document, ImportReport)
    write(document, out, *, progress=None, **options) -> list[Path]   (files written)
`FORMATS` maps the names the CLI and the File menu use to those modules; modules are
imported only when used, so that the registry costs nothing to import.
"""

from __future__ import annotations

import importlib
from types import ModuleType

NOTES_FILE = "EXPORT_NOTES.txt"
"""Written by an export beside its files when the format could not hold something
(crowd regions, holes, overlaps): one line per kind, with counts."""

FORMATS: dict[str, str] = {
    "coco": "sam_annotator.io.formats.coco",
    "yolo-seg": "sam_annotator.io.formats.yolo_seg",
    "voc": "sam_annotator.io.formats.voc",
    "labelme": "sam_annotator.io.formats.labelme",
    "masks": "sam_annotator.io.formats.masks",
    "ytvis": "sam_annotator.io.formats.ytvis",
}


def format_module(name: str) -> ModuleType:
    """The module of a format name (KeyError naming the known ones otherwise)."""
    try:
        module_name = FORMATS[name]
    except KeyError:
        raise KeyError(f"unknown format {name!r}; known: {', '.join(FORMATS)}") from None
    return importlib.import_module(module_name)


def readable_formats() -> list[str]:
    return [name for name in FORMATS if format_module(name).CAN_READ]


def writable_formats() -> list[str]:
    return [name for name in FORMATS if format_module(name).CAN_WRITE]
