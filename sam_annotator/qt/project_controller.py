"""File operations: open a folder, import and export datasets, save, autosave, quit.

One Document and one UndoStack live as long as the app; opening another folder replaces
the document's contents (`replace_contents`), so every view stays connected. The working
state is autosaved to the project file after every edit (debounced, off the GUI thread);
"Save" writes the COCO file, the deliverable, and marks the state clean. Quitting with
changes that are not in the COCO file yet asks.

The autosave's state (io/save_state.py) is shown permanently in the status bar, and the
quit question tells the truth about it: when the autosave is failing, or there is none
(nowhere writable, or another window holds the project's lock: this one is then
read-only, see io/project_lock.py), it says the changes are saved nowhere and offers
"Save elsewhere…".
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from sam_annotator.config import AppDirs, SettingsError, load_settings, update_settings
from sam_annotator.io.coco import write_coco
from sam_annotator.io.formats import NOTES_FILE, format_module
from sam_annotator.io.formats.report import ImportReport
from sam_annotator.io.image_changes import ImageChange, refresh_changed_images
from sam_annotator.io.project import AutosaveError, Autosaver, save_project
from sam_annotator.io.project_lock import ProjectLock, ProjectLockedError
from sam_annotator.io.save_state import SaveHealth, SaveState
from sam_annotator.io.workspace import Workspace, open_workspace, project_path_for
from sam_annotator.model.document import Document
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.dialogs import unsaved
from sam_annotator.qt.dialogs.datasets import (
    DatasetRequest,
    ExportDialog,
    ImportDialog,
    show_import_report,
    write_with_progress,
)
from sam_annotator.qt.main_window import MainWindow


class ProjectController(QObject):
    opened = Signal(object)  # Workspace
    message = Signal(str)
    saveStateChanged = Signal(object)  # SaveState (emitted from any thread, delivered on the GUI's)

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
        self.lock: ProjectLock | None = None  # held while this window owns the project
        self.read_only = False  # another window holds the project: nothing is autosaved
        self._off_state: SaveState | None = None  # why there is no autosaver
        undo_stack.clean_changed.connect(lambda _clean: self._update_title())
        self.saveStateChanged.connect(self.window.show_save_state)

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
    def open_folder(
        self,
        folder: str | Path,
        coco: str | Path | None = None,
        *,
        source_format: str = "coco",
        placeholders: str = "keep",
    ) -> bool:
        """Open a folder, optionally importing `coco` (a COCO file, or a dataset read as
        `source_format`: see io/workspace.open_workspace); errors are shown, nothing is
        lost."""
        lock = None
        try:
            lock, locked_by = self._lock_for(folder)
            workspace = open_workspace(
                folder, data_dir=self.dirs.data, coco=coco, read_only=locked_by is not None,
                temp_min_age_s=0.0 if lock is not None else 600.0,
                source_format=source_format, placeholders=placeholders,
            )  # fmt: skip
        except (OSError, ValueError) as error:  # CocoFormatError, ProjectFormatError, ...
            if lock is not None and lock is not self.lock:
                lock.release()
            self._error("Cannot open", str(error))
            return False
        self._close_autosaver()
        if self.lock is not None and self.lock is not lock:
            self.lock.release()
        self.lock = lock
        self.read_only = locked_by is not None
        self.document.replace_contents(workspace.document)
        self.undo_stack.clear()
        self.workspace = workspace
        self.coco_path = Path(coco).resolve() if coco is not None else None
        self._start_autosave(workspace, locked_by)
        self.remember(last_images_dir=str(workspace.images_dir))
        notes = [f"{len(self.document.images())} images"]
        if workspace.unreadable:
            notes.append(f"{len(workspace.unreadable)} unreadable files left out")
        if workspace.skipped:
            notes.append(f"{len(workspace.skipped)} links skipped")
        if workspace.missing:
            notes.append(f"{len(workspace.missing)} listed images missing")
        if workspace.changed:
            notes.append(f"{len(workspace.changed)} image files changed since last time")
        if workspace.backup is not None:
            notes.append(f"previous project kept as {workspace.backup.name}")
        self._report_changes(workspace.changed)
        self.message.emit(f"Opened {workspace.images_dir}: " + ", ".join(notes))
        if workspace.import_report is not None:
            self._show_import_report(workspace.import_report)
        self._update_title()
        self.opened.emit(workspace)
        return True

    def _lock_for(self, folder: str | Path) -> tuple[ProjectLock | None, str | None]:
        """(the lock of the folder's project, held) or (None, why another holds it).

        Raises FileNotFoundError for a missing folder. A lock file that cannot be
        created (nowhere writable) gives (None, None): the autosave reports that."""
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{Path(folder).resolve()}: not a folder")
        project_path = project_path_for(folder, self.dirs.data)
        if self.lock is not None and self.lock.project_path == project_path:
            return self.lock, None  # reopening our own project (e.g. a COCO import)
        lock = ProjectLock(project_path)
        try:
            project_path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except ProjectLockedError as error:
            return None, str(error)
        except OSError:
            return None, None
        return lock, None

    def _start_autosave(self, workspace: Workspace, locked_by: str | None) -> None:
        path = workspace.project_path
        if locked_by is not None:
            self._set_off(f"read-only, {locked_by}; edits in this window are not saved")
            return
        if workspace.project_problem is not None:
            self._set_off(f"no writable place for the project file: {workspace.project_problem}")
            return
        try:
            save_project(self.document, path)
        except OSError as error:
            self._set_off(f"the project file {path} cannot be written ({error.strerror or error})")
            return
        self._off_state = None
        self.autosaver = Autosaver(
            self.document,
            path,
            delay_s=self.autosave_delay_s,
            on_state=self.saveStateChanged.emit,
        )
        self.saveStateChanged.emit(self.autosaver.state())

    def _set_off(self, reason: str) -> None:
        path = self.workspace.project_path if self.workspace is not None else None
        self._off_state = SaveState(SaveHealth.OFF, path, reason)
        self.saveStateChanged.emit(self._off_state)  # the status bar shows it until it changes
        self.message.emit(f"Not autosaved: {reason}")

    def save_state(self) -> SaveState:
        """Where the work stands now (see io/save_state.py)."""
        if self.autosaver is not None:
            return self.autosaver.state()
        return self._off_state or SaveState(SaveHealth.OFF, None, "no folder is open")

    def choose_folder(self) -> bool:
        folder = QFileDialog.getExistingDirectory(self.window, "Open a folder of images")
        return bool(folder) and self.open_folder(folder)

    def choose_import(self) -> bool:
        """File -> Import…: a dataset of any readable format replaces the annotations
        (the current project is kept as a backup file)."""
        dialog = ImportDialog(None if self.workspace is None else self.workspace.images_dir,
                              self.window)  # fmt: skip
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        request = dialog.request()
        if request is None:
            self.message.emit("Import: choose the source (and, for COCO, the images folder).")
            return False
        if self.workspace is not None and not self.undo_stack.is_clean:
            answer = QMessageBox.question(
                self.window,
                "Import",
                "Replace the current annotations by the imported ones? The current project "
                "is kept as a backup file.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return self.import_dataset(request)

    def import_dataset(self, request: DatasetRequest) -> bool:
        """Open the images of `request` with its annotations (COCO: the chosen images
        folder; a dataset folder: the images inside it)."""
        folder = request.images_dir
        if folder is None:
            folder = format_module(request.format_name).images_folder(request.path)
        return self.open_folder(
            folder, coco=request.path, source_format=request.format_name,
            placeholders=request.options.get("placeholders", "keep"),
        )  # fmt: skip

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

    def choose_export(self) -> bool:
        """File -> Export…: the annotations in any writable format."""
        if self.workspace is None:
            return False
        dialog = ExportDialog(self.workspace.images_dir, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        request = dialog.request()
        if request is None:
            self.message.emit("Export: choose where to write it.")
            return False
        folder_format = format_module(request.format_name).SOURCE_KIND == "folder"
        if folder_format and request.path.is_dir() and any(request.path.iterdir()):
            answer = QMessageBox.question(
                self.window, "Export", f"{request.path} already holds files. Write into it?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return self.export_dataset(request)

    def export_dataset(self, request: DatasetRequest) -> bool:
        """Write the annotations as `request` asks, with a progress dialog; errors shown."""
        if self.workspace is None:
            return False
        self._report_changes(refresh_changed_images(self.document, self.workspace.images_dir))
        module = format_module(request.format_name)
        snapshot = self.document.snapshot()
        try:
            written = write_with_progress(self.window, module, snapshot, request)
        except (OSError, ValueError) as error:
            self._error("Not exported", f"{request.path}: {error}")
            return False
        self.message.emit(
            f"Exported {len(snapshot.annotations)} annotations of {len(snapshot.images)} "
            f"images as {module.TITLE} to {request.path}"
        )
        for path in written:
            if path.name == NOTES_FILE:
                self.message.emit(f"{module.TITLE}: {path.read_text(encoding='utf-8').strip()}")
        return True

    def _write(self, path: Path) -> bool:
        if self.workspace is not None:  # never export a size that is not the file's own
            self._report_changes(refresh_changed_images(self.document, self.workspace.images_dir))
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
        """True when the app may quit: asks about changes not in the COCO file yet, and
        says plainly when the autosave does not have them either."""
        self.flush()
        if self.workspace is None or self.undo_stack.is_clean:
            return True
        state = self.save_state()
        if state.is_safe:
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
        choices = [unsaved.SAVE_ELSEWHERE, unsaved.DISCARD, unsaved.CANCEL]
        if self.coco_path is not None:
            choices.insert(0, unsaved.SAVE)
        choice = unsaved.ask_unsaved(
            self.window, "Changes saved nowhere", state.unsaved_warning(), choices
        )
        if choice == unsaved.SAVE:
            return self.save()
        if choice == unsaved.SAVE_ELSEWHERE:
            return self.export()
        return choice == unsaved.DISCARD

    def shutdown(self) -> None:
        self._close_autosaver()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # -- helpers -------------------------------------------------------------------------
    def _close_autosaver(self) -> None:
        if self.autosaver is not None:
            try:
                self.autosaver.close()
            except (AutosaveError, TimeoutError) as error:
                self.message.emit(f"Autosave failed: {error}")
            self.autosaver = None

    def _report_changes(self, changes: list[ImageChange]) -> None:
        for change in changes:
            self.message.emit(change.describe())
        if changes and self.window.isVisible():
            QMessageBox.information(
                self.window,
                "Image files changed",
                "These image files changed since their annotations were drawn:\n\n"
                + "\n".join(change.describe() for change in changes[:20])
                + (f"\n… and {len(changes) - 20} more" if len(changes) > 20 else ""),
            )

    def _show_import_report(self, report: ImportReport) -> None:
        """The import's summary in the status bar; its details in a dialog when there
        is more to say than the counts."""
        self.message.emit(report.summary())
        if len(report.lines()) > 1 and self.window.isVisible():
            show_import_report(self.window, report)

    def _update_title(self) -> None:
        name = "" if self.workspace is None else f" — {self.workspace.images_dir.name}"
        dirty = "" if self.undo_stack.is_clean else " *"
        read_only = " [read-only]" if self.read_only else ""
        self.window.setWindowTitle(f"sam-annotator{name}{read_only}{dirty}")

    def _error(self, title: str, text: str) -> None:
        self.message.emit(f"{title}: {text}")
        if self.window.isVisible():
            QMessageBox.warning(self.window, title, text)
