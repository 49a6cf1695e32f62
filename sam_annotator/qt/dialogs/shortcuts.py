"""Help -> Keyboard Shortcuts: the action table with its current keys, and remapping.

The same dialog serves both uses: read-only as the shortcut reference, editable from
Preferences. Edits go through `Keymap.set`, so a conflicting binding is refused with a
message that names the action holding the key, and nothing changes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from sam_annotator.qt.actions import ACTIONS, Keymap, KeymapError

MOUSE_GESTURES = (
    ("Left click", "Positive point (part of the object)"),
    ("Right click / Shift+left click", "Negative point (not part of the object)"),
    ("Left drag", "Box around the object"),
    ("Ctrl+left click", "Select the annotation under the cursor"),
    ("Wheel", "Zoom at the cursor"),
    ("Middle drag / Space+drag", "Pan"),
    ("Drag a vertex (selected annotation)", "Move it"),
    ("Right click a vertex", "Delete it"),
    ("Double click an edge", "Insert a vertex"),
)


class ShortcutsDialog(QDialog):
    """Lists every action and its keys; with `editable`, lets the user remap them."""

    def __init__(self, keymap: Keymap, *, editable: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.keymap = Keymap.from_overrides(keymap.overrides())  # edit a copy
        self._editable = editable
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        if editable:
            self.editor = QKeySequenceEdit(self)
            self.editor.setMaximumSequenceLength(1)
            assign = QPushButton("Assign", self)
            assign.clicked.connect(self._assign_from_editor)
            clear = QPushButton("Remove keys", self)
            clear.clicked.connect(lambda: self.assign(self._current_action(), []))
            reset = QPushButton("Reset all", self)
            reset.clicked.connect(self._reset_all)
            row = QHBoxLayout()
            row.addWidget(QLabel("New key:", self))
            row.addWidget(self.editor, 1)
            for button in (assign, clear, reset):
                row.addWidget(button)
            layout.addLayout(row)
        else:
            gestures = QLabel(
                "<br>".join(f"<b>{g}</b>: {what}" for g, what in MOUSE_GESTURES), self
            )
            gestures.setTextFormat(Qt.TextFormat.RichText)
            layout.addWidget(gestures)
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
            if editable
            else QDialogButtonBox.StandardButton.Close,
            parent=self,
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(620, 560)
        self._fill()

    def _fill(self) -> None:
        self.table.setRowCount(len(ACTIONS))
        for row, spec in enumerate(ACTIONS):
            keys = ", ".join(
                QKeySequence(s).toString(QKeySequence.SequenceFormat.NativeText)
                for s in self.keymap.shortcuts(spec.id)
            )
            for column, text in enumerate((spec.menu, spec.text.replace("&", ""), keys)):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, spec.id)
                self.table.setItem(row, column, item)

    def _current_action(self) -> str | None:
        item = self.table.item(self.table.currentRow(), 0)
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _assign_from_editor(self) -> None:
        sequence = self.editor.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
        if sequence:
            self.assign(self._current_action(), [sequence])

    def assign(self, action_id: str | None, sequences: list[str]) -> bool:
        """Bind `sequences` to `action_id`; shows why when refused. Returns success."""
        if action_id is None:
            self.message.setText("Select an action first.")
            return False
        try:
            self.keymap.set(action_id, sequences)
        except KeymapError as error:
            self.message.setText(f"Not changed: {error}.")
            return False
        self.message.setText("")
        self._fill()
        return True

    def _reset_all(self) -> None:
        self.keymap.reset()
        self._fill()
