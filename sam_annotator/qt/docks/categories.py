"""The categories dock: the project's label list; add, rename, recolour, reorder, delete.

Every change is an undoable command pushed on the undo stack. Deleting a category that
annotations use asks what to do with them (move them to another category, or delete
them too); nothing is dropped silently. Choosing a row makes it the current category.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sam_annotator.model.commands import (
    AddCategory,
    DeleteCategory,
    RecolorCategory,
    RenameCategory,
    ReorderCategories,
)
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.undo_stack import UndoStack


def color_icon(color: str, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class CategoriesDock(QWidget):
    categoryChosen = Signal(int)
    message = Signal(str)

    def __init__(self, document: Document, undo_stack: UndoStack, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.undo_stack = undo_stack
        self.current: int | None = None
        self.list = QListWidget(self)
        self.list.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.list.itemClicked.connect(self._on_clicked)
        self.list.itemDoubleClicked.connect(lambda _item: self.rename())
        buttons = QHBoxLayout()
        for text, tip, slot in (
            ("+", "New category (Ctrl+N)", self.add),
            ("Rename", "Rename the category", self.rename),
            ("Colour", "Change its colour", self.recolor),
            ("↑", "Move up", lambda: self.move(-1)),
            ("↓", "Move down", lambda: self.move(1)),
            ("Delete", "Delete the category", self.delete),
        ):
            button = QToolButton(self)
            button.setText(text)
            button.setToolTip(tip)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, s=slot: s())
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        document.events.changed.connect(self.refresh)
        self.refresh()

    # -- display -------------------------------------------------------------------------
    def refresh(self) -> None:
        self.list.clear()
        for position, category in enumerate(self.document.categories()):
            count = self.document.annotation_count(category.id)
            key = f"Ctrl+{position + 1}  " if position < 9 else ""
            item = QListWidgetItem(color_icon(category.color), f"{key}{category.name}  ({count})")
            item.setData(Qt.ItemDataRole.UserRole, category.id)
            self.list.addItem(item)
            if category.id == self.current:
                item.setSelected(True)
                self.list.setCurrentItem(item)

    def set_current(self, category_id: int | None) -> None:
        self.current = category_id
        self.refresh()

    def category_ids(self) -> list[int]:
        return [c.id for c in self.document.categories()]

    def _on_clicked(self, item: QListWidgetItem) -> None:
        category_id = item.data(Qt.ItemDataRole.UserRole)
        self.current = category_id
        self.categoryChosen.emit(category_id)

    def _selected(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    # -- edits -------------------------------------------------------------------------
    def _push(self, command) -> bool:
        try:
            self.undo_stack.push(command)
        except (DocumentError, ValueError) as error:
            self.message.emit(str(error))
            QMessageBox.warning(self, "Categories", str(error))
            return False
        return True

    def add(self, name: str | None = None) -> int | None:
        if name is None:
            name, ok = QInputDialog.getText(self, "New category", "Name:")
            if not ok:
                return None
        if not name.strip():
            return None
        command = AddCategory(name)
        if not self._push(command):
            return None
        self.current = command.category.id
        self.refresh()
        self.categoryChosen.emit(command.category.id)
        return command.category.id

    def rename(self, category_id: int | None = None, name: str | None = None) -> None:
        if category_id is None:  # ids may be 0 in imported files: no `or` here
            category_id = self._selected()
        if category_id is None:
            return
        if name is None:
            old = self.document.category(category_id).name
            name, ok = QInputDialog.getText(self, "Rename category", "Name:", text=old)
            if not ok:
                return
        self._push(RenameCategory(category_id, name))

    def recolor(self, category_id: int | None = None, color: str | None = None) -> None:
        if category_id is None:  # ids may be 0 in imported files: no `or` here
            category_id = self._selected()
        if category_id is None:
            return
        if color is None:
            chosen = QColorDialog.getColor(QColor(self.document.category(category_id).color), self)
            if not chosen.isValid():
                return
            color = chosen.name()
        self._push(RecolorCategory(category_id, color))

    def move(self, step: int, category_id: int | None = None) -> None:
        if category_id is None:  # ids may be 0 in imported files: no `or` here
            category_id = self._selected()
        order = self.category_ids()
        if category_id not in order:
            return
        index = order.index(category_id)
        target = index + step
        if not 0 <= target < len(order):
            return
        order[index], order[target] = order[target], order[index]
        self._push(ReorderCategories(order))

    def delete(
        self,
        category_id: int | None = None,
        *,
        reassign_to: int | None = None,
        delete_annotations: bool | None = None,
    ) -> bool:
        """Delete a category; if it is in use, ask (or follow the given choice)."""
        if category_id is None:  # ids may be 0 in imported files: no `or` here
            category_id = self._selected()
        if category_id is None:
            return False
        used = self.document.annotation_count(category_id)
        if used and reassign_to is None and delete_annotations is None:
            choice = self._ask_what_to_do(category_id, used)
            if choice is None:
                return False
            reassign_to, delete_annotations = choice
        ok = self._push(
            DeleteCategory(
                category_id, reassign_to=reassign_to, delete_annotations=bool(delete_annotations)
            )
        )
        if ok and self.current == category_id:
            self.current = None
        return ok

    def _ask_what_to_do(self, category_id: int, used: int) -> tuple[int | None, bool] | None:
        name = self.document.category(category_id).name
        others = [c for c in self.document.categories() if c.id != category_id]
        options = [f"Move them to '{c.name}'" for c in others] + ["Delete them too"]
        choice, ok = QInputDialog.getItem(
            self,
            "Delete category",
            f"{used} annotation(s) use '{name}'. What should happen to them?",
            options,
            0,
            False,
        )
        if not ok:
            return None
        index = options.index(choice)
        if index == len(others):
            return None, True
        return others[index].id, False
