"""The progress dialog of an official checkpoint download (cancellable, resumable)."""

from __future__ import annotations

from PySide6.QtWidgets import QProgressDialog, QWidget

from sam_annotator.qt.engine import EngineController


class DownloadDialog(QProgressDialog):
    """Shows ``engine``'s download of ``model_type`` in MB; Cancel stops it (the partial
    file is kept, so the next download resumes). Closes itself when the download ends."""

    def __init__(self, engine: EngineController, model_type: str, parent: QWidget) -> None:
        super().__init__(
            f"Downloading {model_type}… (a cancelled download resumes next time)",
            "Cancel",
            0,
            0,
            parent,
        )
        self._engine = engine
        self._model_type = model_type
        self.setWindowTitle("Segment Anything model")
        self.setMinimumDuration(0)
        self.canceled.connect(engine.cancel_download)
        engine.downloadProgress.connect(self._on_progress)
        engine.downloadFinished.connect(self._on_finished)

    def _on_progress(self, done: int, total: int) -> None:
        if total:
            self.setMaximum(max(1, total // 2**20))
            self.setValue(done // 2**20)
            self.setLabelText(f"Downloading {self._model_type}: {done / 2**20:.0f} MB")

    def _on_finished(self, _path) -> None:
        self.reset()
        self.close()
        self._engine.downloadProgress.disconnect(self._on_progress)
        self._engine.downloadFinished.disconnect(self._on_finished)
