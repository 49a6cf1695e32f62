"""Opening a folder of images as a labeling workspace (no Qt).

A workspace is a Document plus where its project file lives. The project file is kept
beside the images (`project.default_project_path`) when that folder is writable, else in
the user data folder under a name derived from the images folder. Opening a folder:

1. with a COCO file: the COCO file is read (strictly: a malformed file is an error that
   names the entry, and nothing changes); an existing project file is kept as a
   timestamped backup before the new state replaces it;
2. else with an existing project file: the autosaved state is restored;
3. else: a new document.

Then images in the folder that the document does not list yet are added (size from the
file header, EXIF orientation applied); files whose header cannot be read are reported
with the reason and left out; images whose file has gone are reported as missing. A
document with no category gets one ("object") so that the first accept has somewhere to go.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from sam_annotator.io.coco import read_coco_with_report
from sam_annotator.io.formats.report import ImportReport
from sam_annotator.io.images import ImageLoadError, image_size, list_images
from sam_annotator.io.project import default_project_path, load_project
from sam_annotator.model.document import Document

DEFAULT_CATEGORY = "object"


@dataclass
class Workspace:
    document: Document
    images_dir: Path
    project_path: Path
    unreadable: dict[str, str] = field(default_factory=dict)  # relative path -> reason
    missing: list[str] = field(default_factory=list)  # listed images whose file is gone
    backup: Path | None = None  # where a replaced project file was kept
    import_report: ImportReport | None = None  # what a COCO import read, changed, left out


def project_path_for(images_dir: str | Path, data_dir: str | Path) -> Path:
    """The project file of a folder: beside the images if writable, else in `data_dir`."""
    folder = Path(images_dir).resolve()
    if os.access(folder, os.W_OK):
        return default_project_path(folder)
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:16]
    return Path(data_dir) / "projects" / f"{folder.name}-{digest}.json"


def open_workspace(
    images_dir: str | Path,
    *,
    data_dir: str | Path,
    coco: str | Path | None = None,
    default_category: str = DEFAULT_CATEGORY,
    placeholders: str = "keep",
) -> Workspace:
    """Open `images_dir` (see the module docstring). Raises FileNotFoundError for a
    missing folder, CocoFormatError / ProjectFormatError for unreadable files."""
    folder = Path(images_dir).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    project_path = project_path_for(folder, data_dir)
    backup = None
    report = None
    if coco is not None:
        result = read_coco_with_report(coco, folder, strict=True, placeholders=placeholders)
        document, report = result.document, result.report
        if project_path.exists():
            backup = project_path.with_name(
                f"{project_path.stem}.backup-{time.strftime('%Y%m%d-%H%M%S')}.json"
            )
            os.replace(project_path, backup)
    elif project_path.exists():
        document = load_project(project_path)
    else:
        document = Document(folder)
    document.images_root = folder
    workspace = Workspace(document, folder, project_path, backup=backup, import_report=report)
    _add_new_images(workspace)
    workspace.missing = [
        image.path for image in document.images() if not (folder / image.path).is_file()
    ]
    if not document.categories():
        document.insert_category(document.make_category(default_category))
    return workspace


def _add_new_images(workspace: Workspace) -> None:
    document, folder = workspace.document, workspace.images_dir
    for path in list_images(folder, recursive=True):
        relative = path.relative_to(folder).as_posix()
        if document.image_by_path(relative) is not None:
            continue
        try:
            width, height = image_size(path)
        except (ImageLoadError, OSError, ValueError) as error:
            workspace.unreadable[relative] = getattr(error, "reason", str(error))
            continue
        document.add_image(relative, width, height)
