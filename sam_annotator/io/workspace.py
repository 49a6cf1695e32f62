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
file header, EXIF orientation applied, with the file's stamp: io/image_changes.py);
listed images whose file changed since are detected, their size corrected and reported
(`changed`); files whose header cannot be read are reported with the reason and left
out; images whose file has gone are reported as missing; links
that lead to a folder or file already listed, or nowhere, are reported as skipped (each
real file is listed once). A document with no category gets one ("object") so that the
first accept has somewhere to go.

The project file's folder is created when needed (the user data folder's `projects/`);
when it cannot be, `Workspace.project_problem` says why, and nothing will be autosaved.
Temporary files that a killed autosave left beside the project file are removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from sam_annotator.io.coco import read_coco_with_report
from sam_annotator.io.formats import format_module
from sam_annotator.io.formats.report import ImportReport
from sam_annotator.io.image_changes import ImageChange, file_stamp, refresh_changed_images
from sam_annotator.io.images import ImageLoadError, image_size, scan_images
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
    skipped: dict[str, str] = field(default_factory=dict)  # relative path -> why left out
    project_problem: str | None = None  # why the project file cannot be written, if so
    removed_temps: list[str] = field(default_factory=list)  # orphaned temp files removed
    changed: list[ImageChange] = field(default_factory=list)  # files changed since last time
    import_report: ImportReport | None = None  # what a COCO import read, changed, left out


def project_path_for(images_dir: str | Path, data_dir: str | Path) -> Path:
    """The project file of a folder: beside the images if writable, else in `data_dir`."""
    folder = Path(images_dir).resolve()
    if os.access(folder, os.W_OK):
        return default_project_path(folder)
    digest = hashlib.sha1(os.fsencode(folder)).hexdigest()[:16]
    return Path(data_dir) / "projects" / f"{folder.name}-{digest}.json"


def backup_path(project_path: Path) -> Path:
    """A name for a backup of `project_path` that no existing file has (timestamped)."""
    stem = f"{project_path.stem}.backup-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate = project_path.with_name(f"{stem}.json")
    counter = 2
    while candidate.exists():
        candidate = project_path.with_name(f"{stem}-{counter}.json")
        counter += 1
    return candidate


def remove_orphaned_temps(project_path: Path, *, min_age_s: float) -> list[str]:
    """Delete the temporary files an interrupted save of `project_path` left behind.

    Only names of our own pattern (`.<project name>.<8 hex digits>.tmp`, see
    io/atomic.py) older than `min_age_s` are removed (a younger one may belong to a save
    still running in another process; 0 when the caller holds the project lock).
    Returns the names removed; files that cannot be removed are left.
    """
    folder = project_path.parent
    pattern = re.compile(re.escape(f".{project_path.name}.") + r"[0-9a-f]{8}\.tmp")
    now = time.time()
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < min_age_s:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(entry.name)
    return sorted(removed)


def _prepare_project_folder(project_path: Path) -> str | None:
    """Create the project file's folder if needed; the reason it is unusable, or None."""
    folder = project_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"{folder} cannot be created ({error.strerror or error})"
    if not os.access(folder, os.W_OK):
        return f"{folder} is not writable"
    return None


def open_workspace(
    images_dir: str | Path,
    *,
    data_dir: str | Path,
    coco: str | Path | None = None,
    default_category: str = DEFAULT_CATEGORY,
    temp_min_age_s: float = 600.0,
    read_only: bool = False,
    placeholders: str = "keep",
    source_format: str = "coco",
) -> Workspace:
    """Open `images_dir` (see the module docstring). Raises FileNotFoundError for a
    missing folder, CocoFormatError / ProjectFormatError for unreadable files.
    `temp_min_age_s`: see `remove_orphaned_temps`. `read_only`: another process owns
    the project file: it is read, never moved, and nothing beside it is touched.

    `coco` is the annotations file or dataset folder to import, read as `source_format`
    (a name of io/formats: "coco" strictly, as above; the dataset formats best-effort,
    everything left out is in `import_report`; ValueError for a source that is not that
    format). A dataset folder's images are found inside it: `images_dir` is then the
    folder its reader names (its `images_root`)."""
    folder = Path(images_dir).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    project_path = project_path_for(folder, data_dir)
    problem = None if read_only else _prepare_project_folder(project_path)
    removed = []
    if not (problem or read_only):
        removed = remove_orphaned_temps(project_path, min_age_s=temp_min_age_s)
    backup = None
    report = None
    if coco is not None:
        document, report = _import(coco, folder, source_format, placeholders)
        if project_path.exists() and not read_only:
            backup = backup_path(project_path)
            os.replace(project_path, backup)
    elif project_path.exists():
        document = load_project(project_path)
    else:
        document = Document(folder)
    document.images_root = folder
    workspace = Workspace(
        document, folder, project_path, backup=backup, project_problem=problem,
        removed_temps=removed, import_report=report,
    )  # fmt: skip
    workspace.changed = refresh_changed_images(document, folder)
    _add_new_images(workspace)
    workspace.missing = [
        image.path for image in document.images() if not (folder / image.path).is_file()
    ]
    if not document.categories():
        document.insert_category(document.make_category(default_category))
    return workspace


def _import(
    source: str | Path, folder: Path, source_format: str, placeholders: str
) -> tuple[Document, ImportReport]:
    if source_format == "coco":
        result = read_coco_with_report(source, folder, strict=True, placeholders=placeholders)
        return result.document, result.report
    module = format_module(source_format)
    options = {"placeholders": placeholders} if "placeholders" in module.READ_OPTIONS else {}
    document, report = module.read(source, folder, **options)
    if document.images_root is None or Path(document.images_root).resolve() != folder:
        raise ValueError(
            f"{source}: a {source_format} dataset's images are in "
            f"{document.images_root}, not in {folder}"
        )
    return document, report


def _add_new_images(workspace: Workspace) -> None:
    document, folder = workspace.document, workspace.images_dir
    scan = scan_images(folder, recursive=True)
    workspace.skipped = scan.skipped
    for path in scan.paths:
        relative = path.relative_to(folder).as_posix()
        if document.image_by_path(relative) is not None:
            continue
        try:
            width, height = image_size(path)
        except (ImageLoadError, OSError, ValueError) as error:
            workspace.unreadable[relative] = getattr(error, "reason", str(error))
            continue
        try:
            stamp = file_stamp(path)
        except OSError:
            stamp = None
        document.add_image(relative, width, height, file_stamp=stamp)
