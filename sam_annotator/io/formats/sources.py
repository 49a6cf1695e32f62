"""Where the command line's export finds the annotations to export (no Qt).

A source is one of
- a project file (the app's autosaved state, ``sam_annotator_project.json``): it knows
  its images folder;
- a COCO file: its ``file_name``s are relative to an images folder (``images_dir``;
  default: the folder the COCO file is in);
- an images folder the app has opened: its project file, found as the app finds it
  (beside the images, or in the user data folder when that folder is read-only).
"""

from __future__ import annotations

import json
from pathlib import Path

from sam_annotator.io.coco import CocoFormatError, read_coco_with_report
from sam_annotator.io.project import PROJECT_FORMAT, ProjectFormatError, load_project
from sam_annotator.io.workspace import project_path_for
from sam_annotator.model.document import Document


class SourceError(ValueError):
    """A source that cannot be read as annotations (the message says why)."""


def load_annotations(
    source: str | Path, *, images_dir: str | Path | None = None, data_dir: str | Path
) -> Document:
    """The Document of `source` (see the module docstring); SourceError otherwise."""
    path = Path(source)
    if path.is_dir():
        project = project_path_for(path, data_dir)
        if not project.is_file():
            raise SourceError(
                f"{path}: no project for this folder (open it in the app first, or give "
                "its COCO file)"
            )
        return _load_project(project)
    if not path.is_file():
        raise SourceError(f"{path}: no such file or folder")
    if _is_project_file(path):
        return _load_project(path)
    root = Path(images_dir) if images_dir is not None else path.resolve().parent
    try:
        return read_coco_with_report(path, root, strict=True).document
    except CocoFormatError as error:
        raise SourceError(str(error)) from None


def _is_project_file(path: Path) -> bool:
    """True when the file declares itself a sam-annotator project (read in full: JSON
    has no cheap header; project files are the size of their COCO export)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == PROJECT_FORMAT


def _load_project(path: Path) -> Document:
    try:
        return load_project(path)
    except ProjectFormatError as error:
        raise SourceError(str(error)) from None
