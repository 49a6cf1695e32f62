"""The images dock: every image with its labeling status, annotation count, encoding state.

Status: not started / in progress / done (from the document), or the reason an image
cannot be read. The annotation column counts annotations (its tooltip: those not
reviewed yet). The encoding column says whether SAM's embedding is ready, queued or being
computed. Activating a row opens that image. The list filters by name and by status
(including "has unreviewed annotations").
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHeaderView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sam_annotator.model.document import Document
from sam_annotator.model.records import ImageStatus

#: The status filter's choices: text -> test of (image status, unreviewed count).
SHOW_ALL = "All images"
STATUS_FILTERS = {
    SHOW_ALL: lambda status, unreviewed: True,
    "To do": lambda status, unreviewed: status is ImageStatus.NOT_STARTED,
    "Started": lambda status, unreviewed: status is ImageStatus.IN_PROGRESS,
    "Done": lambda status, unreviewed: status is ImageStatus.DONE,
    "Not done": lambda status, unreviewed: status is not ImageStatus.DONE,
    "Has unreviewed annotations": lambda status, unreviewed: unreviewed > 0,
}

STATUS_TEXT = {
    ImageStatus.NOT_STARTED: "○ to do",
    ImageStatus.IN_PROGRESS: "◐ started",
    ImageStatus.DONE: "● done",
}


class ImagesDock(QWidget):
    imageActivated = Signal(int)

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.broken: dict[int, str] = {}
        self.encoding_text: dict[int, str] = {}
        self._items: dict[int, QTreeWidgetItem] = {}
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter by name…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.status_filter = QComboBox(self)
        self.status_filter.addItems(list(STATUS_FILTERS))
        self.status_filter.setToolTip("Show only the images with this status")
        self.status_filter.currentTextChanged.connect(self._apply_filter)
        self._unreviewed: dict[int, int] = {}
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Image", "Status", "Ann.", "Ready"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemActivated.connect(self._on_activated)
        self.tree.itemClicked.connect(self._on_activated)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter)
        layout.addWidget(self.status_filter)
        layout.addWidget(self.tree)
        # Only the rows an edit touches are re-read: refreshing every row on every change
        # cost 145 ms of the GUI thread per accept or undo with 20,000 images.
        events = document.events
        for signal in (events.annotations_added, events.annotations_removed,
                       events.annotations_changed):  # fmt: skip
            signal.connect(self._on_annotations)
        events.image_changed.connect(self._on_image_changed)
        events.reset.connect(self._on_reset)
        events.images_added.connect(lambda _images: self.rebuild())
        self.rebuild()

    def _on_reset(self) -> None:
        self.broken.clear()
        self.encoding_text.clear()
        self.rebuild()

    def rebuild(self) -> None:
        self.tree.clear()
        self._items = {}
        for image in self.document.images():
            item = QTreeWidgetItem([image.path, "", "", ""])
            item.setData(0, Qt.ItemDataRole.UserRole, image.id)
            item.setToolTip(0, image.path)
            self.tree.addTopLevelItem(item)
            self._items[image.id] = item
        self._refresh_rows()

    def _refresh_rows(self) -> None:
        for image in self.document.images():
            if image.id in self._items:
                self.refresh_row(image.id, apply_filter=False)
        self._apply_filter()

    def _on_annotations(self, annotations) -> None:
        for image_id in {a.image_id for a in annotations}:
            self.refresh_row(image_id)

    def _on_image_changed(self, image) -> None:
        self.refresh_row(image.id)
        # Under X11 (seen with Xvfb) a row changed twice in one event-loop turn (a redo's
        # annotation, then its status) kept showing the first text: repaint the list.
        self.tree.viewport().update()

    def refresh_row(self, image_id: int, apply_filter: bool = True) -> None:
        item = self._items.get(image_id)
        if item is None:
            return
        image = self.document.image(image_id)
        if image_id in self.broken:
            item.setText(1, "⚠ unreadable")
            item.setToolTip(1, self.broken[image_id])
        else:
            item.setText(1, STATUS_TEXT[image.status])
            item.setToolTip(1, "")
        annotations = self.document.annotations(image_id)
        unreviewed = sum(1 for a in annotations if not a.reviewed)
        self._unreviewed[image_id] = unreviewed
        item.setText(2, str(len(annotations)))
        item.setToolTip(2, f"{len(annotations)} annotations, {unreviewed} not reviewed yet")
        item.setText(3, self.encoding_text.get(image_id, ""))
        if apply_filter:
            self._filter_row(image_id, item)

    def set_broken(self, image_id: int, reason: str) -> None:
        self.broken[image_id] = reason
        self.refresh_row(image_id)

    def set_encoding_text(self, image_id: int, text: str) -> None:
        self.encoding_text[image_id] = text
        self.refresh_row(image_id)

    def set_current(self, image_id: int) -> None:
        item = self._items.get(image_id)
        if item is not None:
            self.tree.setCurrentItem(item)
            self.tree.scrollToItem(item)

    def row_texts(self, image_id: int) -> list[str]:
        item = self._items[image_id]
        return [item.text(column) for column in range(4)]

    def _on_activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        self.imageActivated.emit(item.data(0, Qt.ItemDataRole.UserRole))

    def visible_images(self) -> list[int]:
        """The ids of the rows the filters show, in list order."""
        return [image_id for image_id, item in self._items.items() if not item.isHidden()]

    def _apply_filter(self, *_args) -> None:
        for image_id, item in self._items.items():
            self._filter_row(image_id, item)

    def _filter_row(self, image_id: int, item: QTreeWidgetItem) -> None:
        needle = self.filter.text().strip().lower()
        shows = STATUS_FILTERS[self.status_filter.currentText()]
        status = self.document.image(image_id).status
        matches = shows(status, self._unreviewed.get(image_id, 0))
        item.setHidden(not matches or (bool(needle) and needle not in item.text(0).lower()))
