"""The labeling application: builds the window, the model objects and the controllers,
and connects every action of the action table to its handler.

Nothing here holds labeling state: the Document and UndoStack are the model; the
controllers (labeling, navigation, project, engine, tracking, ...) act on them; the
widgets show them. What Enter / Esc / Tab / X / Ctrl+Z mean in each mode: mode_keys.py.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from sam_annotator import __version__
from sam_annotator.config import AppDirs, SettingsError, accept_min_part_area
from sam_annotator.inference.checkpoints import CheckpointNotFoundError, resolve_checkpoint
from sam_annotator.inference.encoding_store import EncodingStore
from sam_annotator.io.pixel_cache import PixelCache
from sam_annotator.io.video_import import is_extracted_video
from sam_annotator.model.document import Document
from sam_annotator.model.tracks import Direction, track_id_of
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.actions import Keymap, KeymapError
from sam_annotator.qt.dialogs.checkpoint import DOWNLOAD, LOCAL, CheckpointDialog
from sam_annotator.qt.dialogs.download import DownloadDialog
from sam_annotator.qt.dialogs.shortcuts import ShortcutsDialog
from sam_annotator.qt.docks.annotations import AnnotationsDock
from sam_annotator.qt.docks.categories import CategoriesDock
from sam_annotator.qt.docks.images import ImagesDock
from sam_annotator.qt.docks.sequence import SequenceDock
from sam_annotator.qt.encodings import EncodingService
from sam_annotator.qt.engine import EngineController
from sam_annotator.qt.labeling import LabelingController
from sam_annotator.qt.main_window import MainWindow
from sam_annotator.qt.mode_keys import ModeKeys
from sam_annotator.qt.navigation import Navigator
from sam_annotator.qt.paint_tool import PaintTool
from sam_annotator.qt.polygon_tool import PolygonTool
from sam_annotator.qt.project_controller import ProjectController
from sam_annotator.qt.proposals import ProposalsController
from sam_annotator.qt.review import ReviewPass
from sam_annotator.qt.tracking import TrackingController
from sam_annotator.qt.video_opening import open_video

DEFAULT_CACHE_GB = 4  # about 1000 SAM embeddings

LEFT, RIGHT = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
BOTTOM = Qt.DockWidgetArea.BottomDockWidgetArea


class LabelingApp(QObject):
    def __init__(self, dirs: AppDirs, *, autosave_delay_s: float = 1.0) -> None:
        super().__init__()
        self.dirs = dirs
        self.document = Document()
        self.undo_stack = UndoStack(self.document)
        self.window = MainWindow()
        self.project = ProjectController(
            self.window, self.document, self.undo_stack, dirs, autosave_delay_s=autosave_delay_s
        )
        self.window.apply_keymap(self._saved_keymap())
        self.pixels = PixelCache()
        self.images = ImagesDock(self.document)
        self.categories = CategoriesDock(self.document, self.undo_stack)
        self.annotations = AnnotationsDock(self.document)
        self.window.add_dock("Images", self.images, LEFT)
        self.window.add_dock("Categories", self.categories, RIGHT)
        self.window.add_dock("Annotations", self.annotations, RIGHT)
        self.sequence = SequenceDock(self.document)
        self.sequence_dock = self.window.add_dock("Sequence", self.sequence, BOTTOM)
        self.encodings = EncodingService(lambda image_id: self.navigator.load_pixels(image_id))
        self.encoding_store = EncodingStore(
            dirs.embeddings, self._cache_bound(), lambda image_id: self.navigator.path_of(image_id)
        )
        self.encodings.lookup = self.encoding_store.lookup
        self.encodings.store_hook = self.encoding_store.store
        w = self.window
        self.labeling = LabelingController(
            w.view, w.scene, w.candidates, self.document, self.undo_stack, self.encodings.get
        )
        self.navigator = Navigator(
            self.window, self.document, self.undo_stack, self.pixels, self.encodings,
            self.labeling, self.images, self.annotations,
        )  # fmt: skip
        try:
            self.labeling.writer.min_part_area = accept_min_part_area(self.project.settings())
        except SettingsError as error:
            self.show_message(str(error))
        self.engine = EngineController(dirs)
        self.proposals = ProposalsController(self.window, self.document, self.undo_stack)
        self.polygon_tool = PolygonTool(w.view, w.scene, self.labeling.add_polygons, self)
        self.paint_tool = PaintTool(w.view, w.scene, self.labeling, self)
        self.review = ReviewPass(
            self.document, self.undo_stack, self.labeling, self.navigator, w.view, self
        )
        self.tracking = TrackingController(
            w, self.document, self.undo_stack, self.navigator.path_of, lambda: self.engine.segmenter
        )
        self.keys = ModeKeys(
            self.labeling, self.polygon_tool, self.paint_tool, self.proposals, self.review,
            self.tracking, self.show_message,
        )  # fmt: skip
        self._connect()

    # -- wiring --------------------------------------------------------------------------
    def _connect(self) -> None:
        w, lab, nav, proj, keys = (
            self.window, self.labeling, self.navigator, self.project, self.keys
        )  # fmt: skip
        sources = (
            lab, nav, proj, self.engine, self.categories, self.proposals, self.polygon_tool,
            self.paint_tool, self.review, self.tracking,
        )  # fmt: skip
        for source in sources:
            source.message.connect(self.show_message)
        handlers = {
            "file.open_folder": proj.choose_folder,
            "file.open_video": lambda: open_video(proj),
            "file.import": proj.choose_import,
            "file.save": proj.save,
            "file.export": proj.choose_export,
            "file.choose_model": self.choose_model,
            "file.quit": w.close,
            "edit.undo": keys.undo,
            "edit.redo": lab.redo,
            "edit.delete": lab.delete_selected,
            "edit.preferences": self.edit_shortcuts,
            "segment.accept": keys.accept,
            "segment.clear": keys.escape,
            "segment.refine_selected": lab.refine_selected,
            "tool.polygon": keys.toggle_polygon_tool,
            "tool.remove_vertex": self.polygon_tool.remove_last,
            "tool.brush": lambda: keys.use_paint_tool(erase=False),
            "tool.eraser": lambda: keys.use_paint_tool(erase=True),
            "tool.brush_smaller": lambda: self.paint_tool.resize(grow=False),
            "tool.brush_larger": lambda: self.paint_tool.resize(grow=True),
            "segment.next_candidate": lambda: keys.next_candidate(1),
            "segment.previous_candidate": lambda: keys.next_candidate(-1),
            "segment.everything": self.segment_everything,
            "segment.reject_proposal": keys.reject,
            "review.start": self.review.start,
            "segment.accept_all_proposals": keys.accept_all_proposals,
            "label.choose": self.choose_category,
            "label.new_category": self.categories.add,
            "track.both": lambda: self.propagate(Direction.BOTH),
            "track.forward": lambda: self.propagate(Direction.FORWARD),
            "track.backward": lambda: self.propagate(Direction.BACKWARD),
            "image.next": lambda: nav.step(1),
            "image.previous": lambda: nav.step(-1),
            "image.done_next": nav.done_and_next,
            "view.fit": w.view.fit,
            "view.zoom_in": lambda: w.view.zoom_by(1.25),
            "view.zoom_out": lambda: w.view.zoom_by(0.8),
            "view.actual_size": w.view.actual_size,
            "help.shortcuts": lambda: ShortcutsDialog(w.keymap, parent=w).exec(),
            "help.about": self.about,
        }
        for n in range(1, 5):
            handlers[f"segment.candidate_{n}"] = lambda n=n: lab.choose(n - 1)
        for n in range(1, 10):
            handlers[f"label.category_{n}"] = lambda n=n: self.pick_category_at(n - 1)
        for action_id, handler in handlers.items():
            w.on(action_id, handler)
        previous_mask = w.actions["segment.use_previous_mask"]
        previous_mask.setChecked(lab.session.use_previous_mask)
        previous_mask.toggled.connect(lab.set_use_previous_mask)
        no_overlap = w.actions["segment.no_overlap"]
        no_overlap.setChecked(lab.writer.no_overlap)
        no_overlap.toggled.connect(lab.set_no_overlap)
        w.actions["view.toggle_annotations"].toggled.connect(
            lambda hidden: w.scene.set_annotations_visible(not hidden)
        )
        w.close_guard = self.project.confirm_close
        self.categories.categoryChosen.connect(self.set_category)
        self.annotations.annotationSelected.connect(lab.select)
        self.annotations.visibilityChanged.connect(lambda i, v: lab.set_hidden(i, not v))
        self.annotations.categoryRequested.connect(self._recategorise)
        self.annotations.deleteRequested.connect(self._delete_annotation)
        lab.selectionChanged.connect(self.annotations.select)
        self.project.opened.connect(self._on_opened)
        nav.imageChanged.connect(lambda _image_id: self.proposals.image_changed())
        nav.imageChanged.connect(lambda _image_id: self.polygon_tool.cancel())
        nav.imageChanged.connect(lambda _image_id: self.paint_tool.leave_image())
        nav.imageChanged.connect(self.sequence.show_image)
        self.sequence.frameRequested.connect(nav.open)
        self.sequence.trackChosen.connect(lab.select)
        self.tracking.runChanged.connect(lambda running: running and self.sequence_dock.show())
        lab.selectionChanged.connect(self._show_track_of)
        self.engine.engineChanged.connect(self._on_engine)
        self.engine.loadFailed.connect(self._on_load_failed)

    # -- start / stop --------------------------------------------------------------------
    def start(
        self,
        images_dir: str | Path | None,
        *,
        coco: str | Path | None = None,
        checkpoint: str | Path | None = None,
        model_type: str | None = None,
        ask_for_model: bool = True,
    ) -> None:
        folder = images_dir or self.project.settings().get("last_images_dir")
        if folder and Path(folder).is_file():  # a video: opened as its folder of frames
            open_video(self.project, Path(folder))
        elif folder:
            self.project.open_folder(folder, coco=coco)
        else:
            self.show_message("Open a folder of images to start (Ctrl+O).")
        try:
            path = resolve_checkpoint(checkpoint, config_dir=self.dirs, model_type=model_type)
        except (CheckpointNotFoundError, ValueError) as error:
            self._on_load_failed(str(error))
            return
        if path is not None:
            self.engine.load(path, model_type, remember=checkpoint is not None)
        elif ask_for_model:
            self.choose_model(reason="No SAM checkpoint was found.")
        else:
            self.engine.use_grabcut()

    def shutdown(self) -> None:
        self.tracking.cancel()  # stops between frames; what arrived is already autosaved
        self.project.shutdown()
        self.proposals.cancel()
        for worker_owner in (self.encodings, self.engine, self.tracking):
            worker_owner.shutdown()
        for worker in (self.labeling.worker, self.proposals.worker):
            worker.shutdown(timeout=5.0)

    # -- the disk embedding cache ------------------------------------------------------------
    def _cache_bound(self) -> int:
        """The embedding cache's size bound: setting ``embedding_cache_gb`` (0 = off)."""
        value = self.project.settings().get("embedding_cache_gb", DEFAULT_CACHE_GB)
        if not isinstance(value, (int, float)) or value < 0:
            self.show_message(f"Setting embedding_cache_gb={value!r} ignored: not a size")
            value = DEFAULT_CACHE_GB
        return int(value * 2**30)

    def propagate(self, direction: Direction) -> None:
        self.tracking.propagate(self.navigator.current, self.labeling.selected, direction)

    def _show_track_of(self, annotation_id: int | None) -> None:
        if annotation_id is not None and self.document.has_annotation(annotation_id):
            self.sequence.choose_track(track_id_of(self.document.annotation(annotation_id)))

    def segment_everything(self) -> None:
        image_id = self.navigator.current
        if image_id is None:
            return
        pixels = self.navigator.load_pixels(image_id)
        encoded = self.encodings.get(image_id)
        self.proposals.start(image_id, pixels, self.engine.segmenter, encoded)

    # -- handlers ------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    def choose_model(self, reason: str = "") -> None:
        dialog = CheckpointDialog(self.window, reason=reason)
        if not dialog.exec():
            if self.engine.segmenter is None:
                self.engine.use_grabcut()
            return
        if dialog.choice == LOCAL and dialog.path:
            self.engine.load(Path(dialog.path))
        elif dialog.choice == DOWNLOAD:
            self.download(dialog.model_type)
        else:
            self.engine.use_grabcut()

    def download(self, model_type: str) -> None:
        """Download an official checkpoint with a cancellable progress dialog."""
        self._download_dialog = DownloadDialog(self.engine, model_type, self.window)
        self._download_dialog.show()
        self.engine.download(model_type)

    def _on_engine(self, segmenter) -> None:
        self.window.hide_progress()
        self.window.engine_label.setText(segmenter.name)
        self.labeling.set_segmenter(segmenter)
        self.encodings.set_segmenter(segmenter)
        self.navigator._show_encoding_state()

    def _on_load_failed(self, text: str) -> None:
        self.show_message(f"Model not loaded: {text}")
        if self.window.isVisible():
            QMessageBox.warning(self.window, "Model not loaded", text)
        if self.engine.segmenter is None:
            self.engine.use_grabcut()

    def _on_opened(self, workspace) -> None:
        # The timeline where it helps: a video's frames, or a dataset with tracks (View
        # -> Sequence shows it anywhere; a propagation shows it too).
        tracked = any(track_id_of(a) for a in self.document.annotations())
        self.sequence_dock.setVisible(is_extracted_video(workspace.images_dir) or tracked)
        for relative, reason in workspace.unreadable.items():
            self.show_message(f"{relative}: {reason}")
        images = self.document.images()
        first = next((i.id for i in images if i.status.value != "done"), None)
        self.navigator.open(first if first is not None else (images[0].id if images else None))
        categories = self.document.categories()
        if categories:
            self.set_category(categories[0].id)

    def set_category(self, category_id: int) -> None:
        self.labeling.set_category(category_id)
        self.categories.set_current(category_id)

    def pick_category_at(self, position: int) -> None:
        categories = self.document.categories()
        if position < len(categories):
            self.set_category(categories[position].id)

    def choose_category(self) -> None:
        names = [c.name for c in self.document.categories()]
        name, ok = QInputDialog.getItem(self.window, "Category", "Category:", names, 0, True)
        if not ok or not name.strip():
            return
        existing = self.document.category_by_name(name.strip())
        category_id = existing.id if existing is not None else self.categories.add(name)
        if category_id is not None:
            self.set_category(category_id)

    def _recategorise(self, annotation_id: int, category_id: int) -> None:
        self.labeling.select(annotation_id)
        self.set_category(category_id)

    def _delete_annotation(self, annotation_id: int) -> None:
        self.labeling.select(annotation_id)
        self.labeling.delete_selected()

    def edit_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self.window.keymap, editable=True, parent=self.window)
        if dialog.exec():
            self.window.apply_keymap(dialog.keymap)
            self.project.remember(shortcuts=dialog.keymap.overrides() or None)

    def _saved_keymap(self) -> Keymap:
        try:
            return Keymap.from_overrides(self.project.settings().get("shortcuts", {}))
        except KeymapError as error:
            self.show_message(f"Saved shortcuts ignored: {error}")
            return Keymap()

    def about(self) -> None:
        QMessageBox.about(
            self.window,
            "About sam-annotator",
            f"sam-annotator {__version__}\nLabel images with Segment Anything.",
        )
