"""File operations: open a folder, import and export COCO, save, autosave, quit.

One Document and one UndoStack live as long as the app; opening another folder replaces
the document's contents (`replace_contents`), so every view stays connected. The working
state is autosaved to the project file after every edit (debounced, off the GUI thread);
"Save" writes the COCO file, the deliverable, and marks the state clean. Quitting with
changes that are not in the COCO file yet asks; the autosave has them either way.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from sam_annotator.config import AppDirs, SettingsError, load_settings, update_settings
from sam_annotator.io.coco import CocoFormatError, write_coco
from sam_annotator.io.project import AutosaveError, Autosaver, ProjectFormatError, save_project
from sam_annotator.io.workspace import Workspace, open_workspace
from sam_annotator.model.document import Document
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.main_window import MainWindow


class ProjectController(QObject):
    opened = Signal(object)  # Workspace
    message = Signal(str)

    def __init__(
        self,
        window: MainWindow,
        document: Document,
        undo_stack: UndoStack,
        dirs: AppDirs,
        *,
        autosave_delay_s: float = 1.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window = window
        self.document = document
        self.undo_stack = undo_stack
        self.dirs = dirs
        self.autosave_delay_s = autosave_delay_s
        self.workspace: Workspace | None = None
        self.autosaver: Autosaver | None = None
        self.coco_path: Path | None = None  # where "Save" writes
        undo_stack.clean_changed.connect(lambda _clean: self._update_title())

    # -- settings ------------------------------------------------------------------------
    def settings(self) -> dict:
        try:
            return load_settings(self.dirs.settings_file)
        except SettingsError as error:
            self.message.emit(str(error))
            return {}

    def remember(self, **changes) -> None:
        try:
            update_settings(self.dirs.settings_file, **changes)
        except (OSError, SettingsError) as error:
            self.message.emit(f"Settings not saved: {error}")

    # -- open ----------------------------------------------------------------------------
    def open_folder(self, folder: str | Path, coco: str | Path | None = None) -> bool:
        """Open a folder (optionally with a COCO file); errors are shown, nothing is lost."""
        try:
            workspace = open_workspace(folder, data_dir=self.dirs.data, coco=coco)
        except (OSError, CocoFormatError, ProjectFormatError) as error:
            self._error("Cannot open", str(error))
            return False
        self._close_autosaver()
        self.document.replace_contents(workspace.document)
        self.undo_stack.clear()
        self.workspace = workspace
        self.coco_path = Path(coco).resolve() if coco is not None else None
        try:
            save_project(self.document, workspace.project_path)
        except OSError as error:
            self._error("Autosave unavailable", f"{workspace.project_path}: {error}")
        self.autosaver = Autosaver(
            self.document,
            workspace.project_path,
            delay_s=self.autosave_delay_s,
            on_error=lambda error: self.message.emit(f"Autosave failed: {error}"),
        )
        self.remember(last_images_dir=str(workspace.images_dir))
        notes = [f"{len(self.document.images())} images"]
        if workspace.unreadable:
            notes.append(f"{len(workspace.unreadable)} unreadable files left out")
        if workspace.missing:
            notes.append(f"{len(workspace.missing)} listed images missing")
        if workspace.backup is not None:
            notes.append(f"previous project kept as {workspace.backup.name}")
        self.message.emit(f"Opened {workspace.images_dir}: " + ", ".join(notes))
        self._update_title()
        self.opened.emit(workspace)
        return True

    def choose_folder(self) -> bool:
        folder = QFileDialog.getExistingDirectory(self.window, "Open a folder of images")
        return bool(folder) and self.open_folder(folder)

    def choose_coco(self) -> bool:
        if self.workspace is None:
            self.message.emit("Open the images folder first, then import its COCO file.")
            return False
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import COCO", str(self.workspace.images_dir), "COCO JSON (*.json)"
        )
        if not path:
            return False
        answer = QMessageBox.question(
            self.window,
            "Import COCO",
            "Replace the current annotations by this file's? The current project is kept "
            "as a backup file.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        return self.open_folder(self.workspace.images_dir, coco=path)

    # -- save / export -------------------------------------------------------------------
    def save(self) -> bool:
        """Write the COCO file (asking where the first time) and flush the autosave."""
        if self.workspace is None:
            return False
        if self.coco_path is None:
            return self.export()
        return self._write(self.coco_path)

    def export(self, path: str | Path | None = None) -> bool:
        if self.workspace is None:
            return False
        if path is None:
            default = self.coco_path or self.workspace.images_dir / "annotations.json"
            path, _ = QFileDialog.getSaveFileName(
                self.window, "Export COCO", str(default), "COCO JSON (*.json)"
            )
            if not path:
                return False
        self.coco_path = Path(path).resolve()
        return self._write(self.coco_path)

    def _write(self, path: Path) -> bool:
        try:
            write_coco(self.document, path)
            self.flush()
        except (OSError, ValueError) as error:
            self._error("Not saved", f"{path}: {error}")
            return False
        self.undo_stack.set_clean()
        self.message.emit(f"Saved {self.document.annotation_count()} annotations to {path}")
        return True

    def flush(self) -> None:
        if self.autosaver is not None:
            try:
                self.autosaver.flush(timeout=30)
            except (AutosaveError, TimeoutError) as error:
                self.message.emit(f"Autosave failed: {error}")

    # -- quit ----------------------------------------------------------------------------
    def confirm_close(self) -> bool:
        """True when the app may quit: asks about changes not in the COCO file yet."""
        self.flush()
        if self.workspace is None or self.undo_stack.is_clean:
            return True
        answer = QMessageBox.question(
            self.window,
            "Unsaved changes",
            "Some changes are not in the COCO file yet (the project autosave has them). "
            "Save the COCO file before quitting?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def shutdown(self) -> None:
        self._close_autosaver()

    # -- helpers -------------------------------------------------------------------------
    def _close_autosaver(self) -> None:
        if self.autosaver is not None:
            try:
                self.autosaver.close()
            except (AutosaveError, TimeoutError) as error:
                self.message.emit(f"Autosave failed: {error}")
            self.autosaver = None

    def _update_title(self) -> None:
        name = "" if self.workspace is None else f" — {self.workspace.images_dir.name}"
        dirty = "" if self.undo_stack.is_clean else " *"
        self.window.setWindowTitle(f"sam-annotator{name}{dirty}")

    def _error(self, title: str, text: str) -> None:
        self.message.emit(f"{title}: {text}")
        if self.window.isVisible():
            QMessageBox.warning(self.window, title, text)
