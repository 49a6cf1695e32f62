"""COCO instance segmentation (one JSON file): the registry's door to io/coco.py."""

from __future__ import annotations

from pathlib import Path

from sam_annotator.io.coco import read_coco_with_report, write_coco
from sam_annotator.io.formats.common import Progress
from sam_annotator.io.formats.report import ImportReport
from sam_annotator.model.document import Document, DocumentSnapshot

NAME = "coco"
TITLE = "COCO JSON"
CAN_READ = True
CAN_WRITE = True
SOURCE_KIND = "file"
DEFAULT_FILE = "annotations.json"
WRITE_OPTIONS = frozenset({"holes_as_rle"})
READ_OPTIONS = frozenset({"placeholders"})


def read(
    source: str | Path, images_root: str | Path, *, placeholders: str = "keep", strict: bool = False
) -> tuple[Document, ImportReport]:
    """A COCO file -> (Document, report); see io/coco.py."""
    result = read_coco_with_report(source, images_root, strict=strict, placeholders=placeholders)
    return result.document, result.report


def write(
    document: Document | DocumentSnapshot,
    out: str | Path,
    *,
    progress: Progress | None = None,
    holes_as_rle: bool = False,
) -> list[Path]:
    """Write `out` (a .json path) or `out`/annotations.json (a folder)."""
    path = Path(out)
    if path.suffix.lower() != ".json":
        path = path / DEFAULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_coco(document, path, holes_as_rle=holes_as_rle)
    if progress is not None:
        progress(1, 1)
    return [path]
