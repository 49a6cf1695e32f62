"""Mask PNGs: every instance's pixels, for tools and training code that read masks.

Two layouts (option `layout`):

- "instances": ``<stem>/<NNN>_<category>.png`` per instance, 8-bit, 255 inside, 0 outside
  (NNN: the instance's 1-based z-order on its image). Nothing is lost: overlaps, holes,
  parts and crowd regions are all in the pixels.
- "ids": ``<stem>.png`` per image, 16-bit, each pixel the index of the instance on top
  there (1-based z-order; 0: none). Where instances overlap only the upper one is
  kept; partly hidden instances are counted in EXPORT_NOTES.txt.

Both write ``instances.json``: the categories (id, name) and, per image, its path in the
project, its size, its mask file(s) and its instances (index, annotation id, category id
and name, iscrowd, reviewed). Images are not copied. Category names in file names keep letters,
digits, '-' and '_' (others become '_'), so no name leads outside the folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sam_annotator.io.formats import NOTES_FILE
from sam_annotator.io.formats.common import (
    ExportError,
    Progress,
    annotation_mask,
    annotations_by_image,
    snapshot_of,
    unique_file_name,
)
from sam_annotator.model.document import Document, DocumentSnapshot

NAME = "masks"
TITLE = "Mask PNGs"
CAN_READ = False
CAN_WRITE = True
SOURCE_KIND = "folder"
WRITE_OPTIONS = frozenset({"layout"})
READ_OPTIONS: frozenset[str] = frozenset()
LAYOUTS = ("instances", "ids")
INDEX_FILE = "instances.json"
MAX_IDS = 65535


def safe_name(name: str) -> str:
    """A category name as a file-name part: letters, digits, '-' and '_' only."""
    return re.sub(r"[^\w-]", "_", name, flags=re.ASCII).strip("_") or "category"


def write(
    document: Document | DocumentSnapshot,
    out: str | Path,
    *,
    progress: Progress | None = None,
    layout: str = "instances",
) -> list[Path]:
    """Write the masks under the folder `out`; returns the files written."""
    if layout not in LAYOUTS:
        raise ExportError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    snapshot = snapshot_of(document)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    names = {c.id: c.name for c in snapshot.categories}
    grouped = annotations_by_image(snapshot)
    written: list[Path] = []
    images: list[dict[str, Any]] = []
    taken: dict[tuple[str, str], str] = {}
    hidden = 0
    for number, image in enumerate(snapshot.images, start=1):
        stem = Path(unique_file_name(image, "", taken)).stem
        entry: dict[str, Any] = {"file_name": image.path, "width": image.width,
                                 "height": image.height, "instances": []}  # fmt: skip
        annotations = grouped[image.id]
        if layout == "ids" and len(annotations) > MAX_IDS:
            raise ExportError(f"{image.path}: more than {MAX_IDS} instances for a 16-bit PNG")
        ids = np.zeros((image.height, image.width), np.uint16)
        masks = []
        for index, annotation in enumerate(annotations, start=1):
            mask = annotation_mask(annotation, image)
            instance = {"index": index, "annotation_id": annotation.id,
                        "category_id": annotation.category_id,
                        "category": names[annotation.category_id],
                        "iscrowd": annotation.iscrowd,
                        "reviewed": annotation.reviewed}  # fmt: skip
            if layout == "instances":
                path = root / stem / f"{index:03d}_{safe_name(names[annotation.category_id])}.png"
                path.parent.mkdir(exist_ok=True)
                Image.fromarray(mask.astype(np.uint8) * 255).save(path)
                written.append(path)
                instance["file"] = path.relative_to(root).as_posix()
            else:
                ids[mask] = index
                masks.append(mask)
            entry["instances"].append(instance)
        if layout == "ids":
            path = root / f"{stem}.png"
            Image.fromarray(ids).save(path)
            written.append(path)
            entry["mask"] = path.name
            hidden += sum(1 for i, m in enumerate(masks, 1) if (ids[m] != i).any())
        images.append(entry)
        if progress is not None:
            progress(number, len(snapshot.images))
    index_path = root / INDEX_FILE
    categories = [{"id": c.id, "name": c.name} for c in snapshot.categories]
    index_path.write_text(
        json.dumps(
            {"layout": layout, "categories": categories, "images": images},
            ensure_ascii=False,
            indent=1,
        ),  # fmt: skip
        encoding="utf-8",
    )
    written.append(index_path)
    if hidden:
        (root / NOTES_FILE).write_text(
            f"{hidden} instances partly hidden by later ones (ids layout: one instance per "
            "pixel; the instances layout keeps them whole)\n",
            encoding="utf-8",
        )
        written.append(root / NOTES_FILE)
    return written
