"""Moving through the images: open one, next / previous, mark done and jump on.

Opening an image shows it at once (its pixels come from the shared PixelCache, often
already decoded by the encoder's prefetch) and asks the EncodingService for it first and
its neighbours next. An image that cannot be read is marked in the image list with the
reason, and next / previous skip it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from sam_annotator.io.images import ImageLoadError
from sam_annotator.io.pixel_cache import PixelCache
from sam_annotator.model.commands import SetImageStatus
from sam_annotator.model.document import Document
from sam_annotator.model.records import ImageStatus
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.docks.annotations import AnnotationsDock
from sam_annotator.qt.docks.images import ImagesDock
from sam_annotator.qt.encodings import EncodingService, EncodingState
from sam_annotator.qt.labeling import LabelingController
from sam_annotator.qt.main_window import MainWindow
from sam_annotator.qt.workers import describe

PREFETCH = 1  # neighbours on each side


class Navigator(QObject):
    imageChanged = Signal(object)  # image id or None
    message = Signal(str)

    def __init__(
        self,
        window: MainWindow,
        document: Document,
        undo_stack: UndoStack,
        pixels: PixelCache,
        encodings: EncodingService,
        labeling: LabelingController,
        images_dock: ImagesDock,
        annotations_dock: AnnotationsDock,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window = window
        self.document = document
        self.undo_stack = undo_stack
        self.pixels = pixels
        self.encodings = encodings
        self.labeling = labeling
        self.images_dock = images_dock
        self.annotations_dock = annotations_dock
        self.current: int | None = None
        images_dock.imageActivated.connect(self.open)
        encodings.stateChanged.connect(self._on_encoding_state)
        encodings.ready.connect(self._on_encoding_ready)
        encodings.failed.connect(self._on_encoding_failed)
        document.events.reset.connect(self._on_reset)

    # -- queries -------------------------------------------------------------------------
    def order(self) -> list[int]:
        return [image.id for image in self.document.images()]

    def path_of(self, image_id: int):
        root = self.document.images_root
        relative = self.document.image(image_id).path
        return relative if root is None else root / relative

    def load_pixels(self, image_id: int):
        """Worker-safe pixel loader for the EncodingService."""
        return self.pixels.get(self.path_of(image_id))

    def _usable(self, image_id: int) -> bool:
        return image_id not in self.images_dock.broken

    # -- moves ---------------------------------------------------------------------------
    def open(self, image_id: int | None) -> bool:
        """Show an image (None: none). False if it cannot be read (it is then marked)."""
        if image_id is None:
            self.current = None
            self.labeling.set_image(None, None)
            self.annotations_dock.set_image(None)
            self.window.view.set_busy(None)
            self.imageChanged.emit(None)
            return True
        try:
            rgb = self.pixels.get(self.path_of(image_id))
        except ImageLoadError as error:
            self.images_dock.set_broken(image_id, error.reason)
            self.message.emit(f"Cannot open {self.document.image(image_id).path}: {error.reason}")
            return False
        self.current = image_id
        self.labeling.set_image(image_id, rgb)
        self.annotations_dock.set_image(image_id, self.labeling.hidden)
        self.images_dock.set_current(image_id)
        image = self.document.image(image_id)
        position = self.order().index(image_id) + 1
        self.window.image_label.setText(
            f"{image.path}  {image.width}x{image.height}  ({position}/{len(self.order())})"
        )
        self.encodings.focus(image_id, self._neighbours(image_id))
        self._show_encoding_state()
        self.imageChanged.emit(image_id)
        return True

    def step(self, direction: int) -> bool:
        """Open the next (+1) or previous (-1) readable image; False at either end."""
        order = self.order()
        if not order:
            return False
        index = order.index(self.current) if self.current in order else -direction
        index += direction
        while 0 <= index < len(order):
            if self._usable(order[index]) and self.open(order[index]):
                return True
            index += direction
        self.message.emit(
            "This is the last image." if direction > 0 else "This is the first image."
        )
        return False

    def done_and_next(self) -> bool:
        """Mark the current image done, then open the next unfinished one (wrapping)."""
        if self.current is None:
            return False
        if self.document.image(self.current).status is not ImageStatus.DONE:
            self.undo_stack.push(SetImageStatus(self.current, ImageStatus.DONE))
        order = self.order()
        start = order.index(self.current)
        for offset in range(1, len(order)):
            image_id = order[(start + offset) % len(order)]
            image = self.document.image(image_id)
            if image.status is not ImageStatus.DONE and self._usable(image_id):
                return self.open(image_id)
        self.message.emit("Every image is done.")
        return False

    def _neighbours(self, image_id: int) -> list[int]:
        order = self.order()
        index = order.index(image_id)
        result = []
        for distance in range(1, PREFETCH + 1):
            for neighbour in (index + distance, index - distance):
                if 0 <= neighbour < len(order) and self._usable(order[neighbour]):
                    result.append(order[neighbour])
        return result

    # -- encoding feedback ---------------------------------------------------------------
    def _on_encoding_state(self, image_id: int) -> None:
        state = self.encodings.state(image_id)
        text = {EncodingState.READY: "✓", EncodingState.RUNNING: "…", EncodingState.QUEUED: "·"}
        self.images_dock.set_encoding_text(image_id, text.get(state, ""))
        if image_id == self.current:
            self._show_encoding_state()

    def _show_encoding_state(self) -> None:
        if self.current is None or self.encodings.segmenter is None:
            self.window.view.set_busy(None)
            self.window.hide_progress()
            return
        state = self.encodings.state(self.current)
        if state in (EncodingState.RUNNING, EncodingState.QUEUED):
            text = f"{self.encodings.segmenter.name}: preparing this image…"
            self.window.view.set_busy(text)
            self.window.show_progress("Encoding")
        else:
            self.window.view.set_busy(None)
            self.window.hide_progress()

    def _on_encoding_ready(self, image_id: int, seconds: float) -> None:
        if image_id == self.current:
            self.labeling.encoding_ready(image_id)
            self.message.emit(f"Image ready ({seconds:.1f} s)")

    def _on_encoding_failed(self, image_id: int, error: Exception) -> None:
        if isinstance(error, ImageLoadError):
            self.images_dock.set_broken(image_id, error.reason)
        if image_id == self.current:
            self.message.emit(f"Cannot prepare this image: {describe(error)}")
            self._show_encoding_state()

    def _on_reset(self) -> None:
        self.pixels.clear()
        self.encodings.forget()
        self.current = None
