"""The main window: menus and actions from the action table, the canvas, docks, status bar.

It holds no labeling state: the controller owns the document, the prompt session and the
workers, connects to `actions[...]` and to the canvas signals, and tells the widgets what
to show.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QProgressBar,
    QWidget,
)

from sam_annotator.qt.actions import ACTIONS, MENUS, Keymap
from sam_annotator.qt.canvas.scene import CanvasScene
from sam_annotator.qt.canvas.view import CanvasView
from sam_annotator.qt.docks.candidates import CandidateStrip

SPACE = "Space"


class MainWindow(QMainWindow):
    def __init__(self, keymap: Keymap | None = None) -> None:
        super().__init__()
        self.setWindowTitle("sam-annotator")
        self.keymap = keymap or Keymap()
        self.scene = CanvasScene(self)
        self.view = CanvasView(self.scene, self)
        self.setCentralWidget(self.view)
        self.actions: dict[str, QAction] = {}
        self.menus = {name: self.menuBar().addMenu(name) for name in MENUS}
        for spec in ACTIONS:
            action = QAction(spec.text, self)
            action.setObjectName(spec.id)
            action.setStatusTip(spec.tip)
            action.setToolTip(spec.tip or spec.text.replace("&", ""))
            action.setCheckable(spec.checkable)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.menus[spec.menu].addAction(action)
            self.addAction(action)  # shortcuts work even with the menu bar hidden
            self.actions[spec.id] = action
        self.apply_keymap(self.keymap)

        self.candidates = CandidateStrip(self)
        self.candidates_dock = self.add_dock(
            "Candidates", self.candidates, Qt.DockWidgetArea.RightDockWidgetArea
        )

        self.engine_label = QLabel("", self)
        self.image_label = QLabel("", self)
        self.zoom_label = QLabel("", self)
        self.save_label = QLabel("", self)  # the autosave's state, always visible
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(True)
        self.progress.hide()
        status = self.statusBar()
        status.addWidget(self.image_label, 1)
        status.addPermanentWidget(self.save_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.zoom_label)
        status.addPermanentWidget(self.engine_label)
        self.view.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.close_guard: Callable[[], bool] | None = None  # False keeps the window open
        self.resize(1400, 900)

    def closeEvent(self, event) -> None:
        if self.close_guard is not None and not self.close_guard():
            event.ignore()
            return
        event.accept()

    def add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.menus["View"].addAction(dock.toggleViewAction())
        return dock

    def apply_keymap(self, keymap: Keymap) -> None:
        """Bind every action's keys; Space goes to the canvas (tap = action, drag = pan)."""
        self.keymap = keymap
        self.view.space_action = None
        for action_id, action in self.actions.items():
            sequences = keymap.shortcuts(action_id)
            if SPACE in sequences:
                self.view.space_action = action
            action.setShortcuts([QKeySequence(s) for s in sequences if s != SPACE])
            keys = ", ".join(sequences)
            base = action.toolTip().split(" (")[0]
            action.setToolTip(f"{base} ({keys})" if keys else base)

    def on(self, action_id: str, slot: Callable[[], object]) -> None:
        """Connect an action's `triggered` to `slot` (called without arguments)."""
        self.actions[action_id].triggered.connect(lambda _checked=False: slot())

    def show_save_state(self, state) -> None:
        """Render an io.save_state.SaveState: quiet when safe, red while it is not."""
        self.save_label.setText(state.label())
        self.save_label.setToolTip(
            state.unsaved_warning() if not state.is_safe else f"Project file: {state.path}"
        )
        self.save_label.setStyleSheet(
            "" if state.is_safe else "QLabel { background: #b00020; color: white; padding: 0 6px; }"
        )

    def show_progress(self, text: str, value: int | None = None, maximum: int = 100) -> None:
        """Status-bar progress: `value` None shows a busy indicator."""
        self.progress.setFormat(text if value is None else f"{text} %p%")
        self.progress.setRange(0, 0 if value is None else maximum)
        if value is not None:
            self.progress.setValue(value)
        self.progress.show()

    def hide_progress(self) -> None:
        self.progress.hide()
