"""The annotations dock: the current image's annotations; select, hide, recategorise, delete.

Rows are checkable (checked = visible). Selecting a row selects the annotation on the
canvas; the context menu changes its category or deletes it (both undoable, through the
labeling controller).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QMenu, QVBoxLayout, QWidget

from sam_annotator.model.document import Document
from sam_annotator.qt.docks.categories import color_icon


class AnnotationsDock(QWidget):
    annotationSelected = Signal(object)  # id or None
    visibilityChanged = Signal(int, bool)  # id, visible
    categoryRequested = Signal(int, int)  # annotation id, category id
    deleteRequested = Signal(int)

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.image_id: int | None = None
        self.hidden: set[int] = set()
        self._updating = False
        self.list = QListWidget(self)
        self.list.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemChanged.connect(self._on_item_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.list)
        document.events.changed.connect(self.refresh)
        # Another folder replaced the contents: image ids now name other images.
        document.events.reset.connect(lambda: self.set_image(None))

    def set_image(self, image_id: int | None, hidden: set[int] | None = None) -> None:
        self.image_id = image_id
        self.hidden = set() if hidden is None else hidden
        self.refresh()

    def refresh(self) -> None:
        selected = self.selected_id()
        self._updating = True
        self.list.clear()
        if self.image_id is not None:
            for annotation in self.document.annotations(self.image_id):
                category = self.document.category(annotation.category_id)
                crowd = " crowd" if annotation.iscrowd else ""
                text = f"#{annotation.id}  {category.name}{crowd}  ({annotation.area} px)"
                item = QListWidgetItem(color_icon(category.color), text)
                item.setData(Qt.ItemDataRole.UserRole, annotation.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                hidden = annotation.id in self.hidden
                item.setCheckState(Qt.CheckState.Unchecked if hidden else Qt.CheckState.Checked)
                self.list.addItem(item)
                if annotation.id == selected:
                    self.list.setCurrentItem(item)
        self._updating = False

    def select(self, annotation_id: int | None) -> None:
        """Highlight a row (from a canvas selection) without echoing it back."""
        self._updating = True
        self.list.setCurrentItem(None)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == annotation_id:
                self.list.setCurrentItem(item)
        self._updating = False

    def selected_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def rows(self) -> list[str]:
        return [self.list.item(row).text() for row in range(self.list.count())]

    def _on_current(self, current, _previous) -> None:
        if not self._updating:
            self.annotationSelected.emit(
                None if current is None else current.data(Qt.ItemDataRole.UserRole)
            )

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._updating:
            return
        annotation_id = item.data(Qt.ItemDataRole.UserRole)
        visible = item.checkState() == Qt.CheckState.Checked
        (self.hidden.discard if visible else self.hidden.add)(annotation_id)
        self.visibilityChanged.emit(annotation_id, visible)

    def _context_menu(self, position) -> None:
        item = self.list.itemAt(position)
        if item is None:
            return
        annotation_id = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        move = menu.addMenu("Change category")
        for category in self.document.categories():
            action = move.addAction(color_icon(category.color), category.name)
            action.triggered.connect(
                lambda _=False, c=category.id: self.categoryRequested.emit(annotation_id, c)
            )
        menu.addAction("Delete").triggered.connect(
            lambda _=False: self.deleteRequested.emit(annotation_id)
        )
        menu.exec(self.list.mapToGlobal(position))
