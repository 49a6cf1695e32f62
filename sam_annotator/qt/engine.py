"""Which segmentation engine runs: SAM from a checkpoint, or the GrabCut fallback.

Loading a checkpoint takes seconds (hundreds of MB to GB), so it happens on a worker
while the window is already usable; a bad checkpoint is reported and the app goes on
with the engine it had (or GrabCut). Downloads run on the same worker with progress
and cancel (a cancelled download keeps its partial file and resumes next time).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from sam_annotator.config import AppDirs
from sam_annotator.inference.checkpoints import (
    download_official,
    official_checkpoint,
    remember_checkpoint,
)
from sam_annotator.inference.grabcut import GrabCutSegmenter
from sam_annotator.inference.segmenter import Segmenter
from sam_annotator.qt.workers import BackgroundWorker, describe


def load_sam(path: Path, model_type: str | None) -> Segmenter:
    from sam_annotator.inference.sam_segmenter import load_sam_segmenter  # torch loads here

    return load_sam_segmenter(path, model_type=model_type)


def verify_download(path: Path, model_type: str) -> None:
    """Raise unless the downloaded file at ``path`` loads as ``model_type``."""
    from sam_annotator.inference.sam_segmenter import check_checkpoint  # torch loads here

    check_checkpoint(path, model_type)


class EngineController(QObject):
    engineChanged = Signal(object)  # Segmenter
    loadFailed = Signal(str)
    downloadProgress = Signal(int, int)  # bytes done, bytes total (0: unknown)
    downloadFinished = Signal(object)  # Path, or None when it failed / was cancelled
    message = Signal(str)

    def __init__(self, dirs: AppDirs | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dirs = dirs  # None: the user's own folders
        self.segmenter: Segmenter | None = None
        self.worker = BackgroundWorker("engine", self)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self._cancel = threading.Event()

    def use_grabcut(self) -> None:
        self._set(GrabCutSegmenter())

    def load(self, path: str | Path, model_type: str | None = None, remember: bool = True) -> None:
        """Load a SAM checkpoint on the worker; `engineChanged` or `loadFailed` follows."""
        path = Path(path)
        self.message.emit(f"Loading SAM from {path.name}…")

        def job():
            segmenter = load_sam(path, model_type)
            if remember:
                remember_checkpoint(path, config_dir=self.dirs)
            return segmenter

        self.worker.submit(("load", str(path)), job)

    def download(self, model_type: str) -> None:
        """Download an official checkpoint, then load it."""
        self._cancel.clear()

        def progress(done: int, total: int | None) -> None:
            self.downloadProgress.emit(done, total or 0)

        def job():
            # A published digest proves the file; without one, it must load as its type.
            has_digest = official_checkpoint(model_type).sha256 is not None
            return download_official(
                model_type,
                config_dir=self.dirs,
                progress=progress,
                cancel=self._cancel,
                verify=None if has_digest else (lambda part: verify_download(part, model_type)),
            )

        self.worker.submit(("download", model_type), job)

    def cancel_download(self) -> None:
        self._cancel.set()

    def shutdown(self) -> None:
        self._cancel.set()
        self.worker.shutdown(timeout=5.0)

    def _set(self, segmenter: Segmenter) -> None:
        self.segmenter = segmenter
        self.message.emit(f"Engine: {segmenter.name}")
        self.engineChanged.emit(segmenter)

    def _on_finished(self, key, result) -> None:
        kind = key[0] if isinstance(key, tuple) else key
        if kind == "load":
            self._set(result)
        elif kind == "download":
            self.downloadFinished.emit(result)
            self.load(result)

    def _on_failed(self, key, error: Exception) -> None:
        kind = key[0] if isinstance(key, tuple) else key
        if kind == "download":
            self.downloadFinished.emit(None)
        self.loadFailed.emit(describe(error))
        if self.segmenter is None:
            self.use_grabcut()
