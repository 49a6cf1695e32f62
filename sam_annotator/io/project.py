"""The project file: the whole working state, saved atomically, and the Autosaver.

Schema (JSON, "version": 1):
    {"format": "sam-annotator project", "version": 1,
     "images_root": "<path, relative to the project file's folder where possible>",
     "info": ..., "licenses": ..., "extra": {unknown COCO top-level fields},
     "images": [{"id", "path", "width", "height", "status", "extra",
                 "file_stamp": {"size", "mtime_ns", "digest"} or null}],
     "categories": [{"id", "name", "color", "supercategory", "extra"}],   (display order)
     "annotations": [{"id", "image_id", "category_id", "segmentation", "iscrowd",
                      "area", "bbox", "extra", ["source"]}]}              (z-order per image)
segmentation is a list of flat polygons or an RLE dict, as in COCO; "source" (only on
imported annotations not edited since) is the geometry as the imported file held it.

Every save replaces the file atomically (io/atomic.py): after a crash the file holds the
last completed save, never a mix. The undo history is not saved.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sam_annotator.io.atomic import atomic_write_bytes, json_bytes
from sam_annotator.io.save_state import SaveHealth, SaveState
from sam_annotator.model.document import Document, DocumentSnapshot
from sam_annotator.model.records import (
    Annotation,
    Category,
    ImageRecord,
    segmentation_to_json,
)
from sam_annotator.model.rle import Rle

PROJECT_FORMAT = "sam-annotator project"
PROJECT_VERSION = 1
_RETRY_S = 1.0  # after a failed autosave, wait at least this long before trying again


DEFAULT_PROJECT_NAME = "sam_annotator_project.json"


def default_project_path(images_root: str | Path) -> Path:
    """Where a project is kept by default: beside the images, in the images folder."""
    return Path(images_root) / DEFAULT_PROJECT_NAME


class ProjectFormatError(ValueError):
    """A project file that cannot be read; the message names the file and the entry."""


class AutosaveError(OSError):
    """The autosaver could not write the project file (the cause is attached)."""


# --- save / load -------------------------------------------------------------------------


def save_project(document: Document | DocumentSnapshot, path: str | Path) -> None:
    """Write the whole state to `path` atomically."""
    snapshot = document.snapshot() if isinstance(document, Document) else document
    atomic_write_bytes(path, project_bytes(snapshot, Path(path)))


def project_bytes(snapshot: DocumentSnapshot, path: Path) -> bytes:
    """The project file's content for a snapshot saved at `path`."""
    data = {
        "format": PROJECT_FORMAT,
        "version": PROJECT_VERSION,
        "images_root": _root_for_file(snapshot.images_root, path),
        "info": snapshot.info,
        "licenses": snapshot.licenses,
        "extra": snapshot.extra,
        "images": [
            {"id": i.id, "path": i.path, "width": i.width, "height": i.height,
             "status": i.status.value, "extra": dict(i.extra),
             "file_stamp": None if i.file_stamp is None else dataclasses.asdict(i.file_stamp)}
            for i in snapshot.images
        ],
        "categories": [
            {"id": c.id, "name": c.name, "color": c.color,
             "supercategory": c.supercategory, "extra": dict(c.extra)}
            for c in snapshot.categories
        ],
        "annotations": [_annotation_json(a) for a in snapshot.annotations],
    }  # fmt: skip
    return json_bytes(data)


def _annotation_json(annotation: Annotation) -> dict[str, Any]:
    return {
        "id": annotation.id,
        "image_id": annotation.image_id,
        "category_id": annotation.category_id,
        "segmentation": segmentation_to_json(annotation.segmentation),
        "iscrowd": annotation.iscrowd,
        "area": annotation.area,
        "bbox": list(annotation.bbox),
        "extra": dict(annotation.extra),
        **({"source": dict(annotation.source)} if annotation.source is not None else {}),
    }


def _root_for_file(root: Path | None, path: Path) -> str | None:
    if root is None:
        return None
    folder = path.resolve().parent
    try:
        return Path(os.path.relpath(root.resolve(), folder)).as_posix()
    except ValueError:  # another drive on Windows
        return root.resolve().as_posix()


def load_project(path: str | Path) -> Document:
    """Read a project file into a new Document (ProjectFormatError if it is bad)."""
    file = Path(path)
    try:
        data = json.loads(file.read_bytes())
    except OSError as error:
        raise ProjectFormatError(f"{file}: cannot be read ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ProjectFormatError(f"{file}: not valid JSON ({error})") from None
    try:
        return _document_from_json(data, file)
    except ProjectFormatError as error:
        raise ProjectFormatError(f"{file}: {error}") from None


def _document_from_json(data: Any, file: Path) -> Document:
    if not isinstance(data, dict) or data.get("format") != PROJECT_FORMAT:
        raise ProjectFormatError("not a sam-annotator project file")
    version = data.get("version")
    if not isinstance(version, int) or version > PROJECT_VERSION:
        raise ProjectFormatError(
            f"project version {version!r} is newer than this program reads ({PROJECT_VERSION})"
        )
    for key in ("images", "categories", "annotations"):
        if not isinstance(data.get(key), list):
            raise ProjectFormatError(f"{key!r} is missing or not a list")
    root = data.get("images_root")
    document = Document(None if root is None else (file.resolve().parent / root).resolve())
    document.info = data.get("info")
    document.licenses = data.get("licenses")
    document.extra = dict(data.get("extra") or {})

    def entries(key: str, build: Callable[[dict[str, Any]], Any]) -> list[Any]:
        built = []
        for index, entry in enumerate(data[key]):
            try:
                built.append(build(entry))
            except (ValueError, TypeError, KeyError) as error:
                entry_id = entry.get("id", "?") if isinstance(entry, dict) else "?"
                raise ProjectFormatError(f"{key}[{index}] (id {entry_id}): {error}") from None
        return built

    try:
        document.insert_images(entries("images", lambda e: ImageRecord(**e)))
        for category in entries("categories", lambda e: Category(**e)):
            document.insert_category(category)
        document.insert_annotations(entries("annotations", _annotation_from_json))
    except ValueError as error:
        if isinstance(error, ProjectFormatError):
            raise
        raise ProjectFormatError(str(error)) from None
    return document


def _annotation_from_json(entry: dict[str, Any]) -> Annotation:
    fields = dict(entry)
    if isinstance(fields.get("segmentation"), dict):
        fields["segmentation"] = Rle.from_coco(fields["segmentation"])
    return Annotation(**fields)


# --- autosave ----------------------------------------------------------------------------


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


class Autosaver:
    """Saves a Document to a project file in a background thread, debounced.

    It listens to `document.events.changed` (call `notify()` yourself with
    connect=False). Each notification takes a snapshot of the document on the calling
    thread (cheap: records are immutable), and the background thread writes the latest
    snapshot `delay_s` seconds after the first unsaved change, so a burst of edits
    gives one write and the delay is bounded even while edits keep coming.

    `flush()` blocks until the state at the time of the call is on disk (raising
    AutosaveError if the write failed); `close()` flushes and stops the thread.
    A failed write is retried: by a timer (every `max(delay_s, 1 s)`) and at the next
    change or flush. `state()` says where things stand (io/save_state.py); it stays
    FAILING from a failed write until a write succeeds. `on_error(exception)` and
    `on_state(SaveState)` are called from the background thread after each failed
    (resp. any) write. All methods are thread-safe; `notify()` must run on the thread
    that edits the document (the signal does that).
    """

    def __init__(
        self,
        document: Document,
        path: str | Path,
        *,
        delay_s: float = 1.0,
        on_error: Callable[[BaseException], None] | None = None,
        on_state: Callable[[SaveState], None] | None = None,
        connect: bool = True,
    ) -> None:
        if delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        self.document = document
        self.path = Path(path)
        self.delay_s = delay_s
        self.on_error = on_error
        self.on_state = on_state
        self._failure: BaseException | None = None  # the last write's error, until one works
        self._failing_since: float | None = None
        self._condition = threading.Condition()
        self._pending: DocumentSnapshot | None = None
        self._due = 0.0  # time.monotonic() when the pending snapshot is written
        self._version = 0  # snapshots taken
        self._saved_version = 0  # snapshots written (or superseded by a written one)
        self._urgent = False
        self._closed = False
        self._error: BaseException | None = None
        self._connected = connect
        if connect:
            document.events.changed.connect(self.notify)
        self._thread = threading.Thread(target=self._run, name="autosave", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """The document changed: schedule a save of its current state."""
        snapshot = self.document.snapshot()
        with self._condition:
            if self._closed:
                raise RuntimeError("the autosaver is closed")
            soon = time.monotonic() + self.delay_s
            if self._pending is None or self._failure is not None:
                self._due = soon if self._pending is None else min(self._due, soon)
            self._pending = snapshot
            self._version += 1
            self._condition.notify_all()

    def state(self) -> SaveState:
        """Saved, pending or failing (see io/save_state.py)."""
        with self._condition:
            return self._state_locked()

    def _state_locked(self) -> SaveState:
        if self._failure is not None:
            return SaveState(
                SaveHealth.FAILING, self.path, _reason(self._failure), self._failing_since
            )
        if self._saved_version < self._version:
            return SaveState(SaveHealth.PENDING, self.path)
        return SaveState(SaveHealth.SAVED, self.path)

    @property
    def has_unsaved_changes(self) -> bool:
        with self._condition:
            return self._saved_version < self._version

    def flush(self, timeout: float | None = None) -> None:
        """Block until every change notified so far is on disk."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            target = self._version
            self._error = None  # an earlier failure: this flush tries again
            self._urgent = True
            self._condition.notify_all()
            while self._saved_version < target:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise AutosaveError(f"autosave to {self.path} failed: {error}") from error
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"autosave to {self.path} did not finish in {timeout} s")
                if not self._thread.is_alive():
                    raise AutosaveError("the autosave thread has stopped")
                self._condition.wait(remaining)

    def close(self) -> None:
        """Flush, then stop the background thread (idempotent)."""
        if self._connected:
            self._connected = False
            self.document.events.changed.disconnect(self.notify)
        try:
            self.flush()
        finally:
            with self._condition:
                self._closed = True
                self._condition.notify_all()
            self._thread.join()

    def __enter__(self) -> Autosaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._condition:
                while True:
                    if self._pending is not None:
                        wait = self._due - time.monotonic()
                        if wait <= 0 or self._urgent or self._closed:
                            break
                        self._condition.wait(wait)
                    elif self._closed:
                        return
                    else:
                        self._urgent = False
                        self._condition.wait()
                snapshot, version = self._pending, self._version
                self._pending = None
            try:
                save_project(snapshot, self.path)
            except Exception as error:  # keep running; report, retry a little later
                with self._condition:
                    self._error = error
                    if self._failure is None:
                        self._failing_since = time.time()
                    self._failure = error
                    state = self._state_locked()
                    self._urgent = False
                    if self._closed:
                        self._condition.notify_all()
                        return
                    if self._pending is None:
                        self._pending = snapshot
                    self._due = time.monotonic() + max(self.delay_s, _RETRY_S)
                    self._condition.notify_all()
                if self.on_error is not None:
                    self.on_error(error)
                if self.on_state is not None:
                    self.on_state(state)
                continue
            with self._condition:
                self._saved_version = max(self._saved_version, version)
                self._failure = self._failing_since = None
                self._error = None
                if self._pending is None:
                    self._urgent = False
                self._condition.notify_all()
                state = self._state_locked()
            if self.on_state is not None:
                self.on_state(state)
