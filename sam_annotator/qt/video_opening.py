"""File -> Open Video: the video's frames extracted (once) with a cancellable progress
dialog, then that folder opened like any other (io/video_import.py)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QProgressDialog, QWidget

from sam_annotator.io.video_import import (
    VIDEO_SUFFIXES,
    VideoImportCancelled,
    VideoImportError,
    extract_frames,
)
from sam_annotator.qt.project_controller import ProjectController

FILTER = "Videos ({})".format(" ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES)))


def choose_video(parent: QWidget) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open a video", "", f"{FILTER};;All files (*)")
    return Path(path) if path else None


def frames_of(parent: QWidget, video: Path) -> Path | None:
    """The folder of ``video``'s frames (extracting them now with a progress dialog), or
    None when cancelled; VideoImportError when it cannot be made."""
    dialog = QProgressDialog(f"Extracting the frames of {video.name}…", "Cancel", 0, 0, parent)
    dialog.setMinimumDuration(300)

    def advance(done: int, total: int) -> None:
        dialog.setMaximum(total)
        dialog.setValue(done)
        QApplication.processEvents()  # the dialog's Cancel button

    try:
        return extract_frames(video, progress=advance, cancel=dialog.wasCanceled)
    except VideoImportCancelled:
        return None
    finally:
        dialog.reset()
        dialog.close()


def open_video(project: ProjectController, video: Path | None = None) -> bool:
    """Open ``video`` (asked for when None) as a sequence: its frames' folder is opened
    like any folder, so its labels are autosaved and reopened with it."""
    window = project.window
    video = video or choose_video(window)
    if video is None:
        return False
    try:
        folder = frames_of(window, video)
    except VideoImportError as error:
        project.message.emit(f"Video not opened: {error}")
        if window.isVisible():
            QMessageBox.warning(window, "Cannot open the video", str(error))
        return False
    if folder is None:
        project.message.emit("Video not opened: the extraction was cancelled")
        return False
    return project.open_folder(folder)
