"""The sequence dock: where the current frame is in its sequence, each frame's state, and
the sequence's tracks.

- A slider over the frames (`D` / `A` step frame by frame, as through any images).
- A timeline strip, one cell per frame: a frame where the chosen track has a keyframe is
  its category's colour, a propagated frame a light shade of it, a frame without it grey;
  a tick marks frames with other annotations; the current frame is outlined. Clicking a
  cell opens that frame.
- The track list: id, category (colour), keyframes and frames. Choosing a track selects
  its annotation on the current frame (when it has one) and shows it on the strip.

Shown for images whose folder holds two or more images; a lone image shows a hint.
Nothing is computed while the dock is hidden (the app hides it for folders of photos).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QShowEvent
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from sam_annotator.model.document import Document
from sam_annotator.model.records import ImageRecord
from sam_annotator.model.tracks import FrameState, Track, sequence_of, tracks_in

EMPTY = QColor("#d0d0d0")


class TimelineStrip(QWidget):
    """One cell per frame (see the module docstring); ``frameClicked(index)``."""

    frameClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(22)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.states: list[FrameState] = []
        self.annotated: list[bool] = []
        self.color = QColor("#3070f0")
        self.current = -1

    def sizeHint(self) -> QSize:
        return QSize(200, 22)

    def show_frames(
        self, states: Sequence[FrameState], annotated: Sequence[bool], color: str, current: int
    ) -> None:
        self.states, self.annotated = list(states), list(annotated)
        self.color, self.current = QColor(color), current
        self.update()

    def _cell(self, index: int) -> QRectF:
        width = self.width() / max(len(self.states), 1)
        return QRectF(index * width, 0, width, self.height())

    def _columns(self) -> list[tuple[QRectF, FrameState, bool]]:
        """(cell, state, annotated) per cell drawn: one per frame, or one per pixel column
        when there are more frames than pixels (a keyframe in a column wins, then a
        propagated frame)."""
        count, width = len(self.states), max(self.width(), 1)
        if count <= width:
            cells = [self._cell(i).adjusted(0, 4, -0.5, -4) for i in range(count)]
            return list(zip(cells, self.states, self.annotated, strict=True))
        rank = {FrameState.KEYFRAME: 2, FrameState.PROPAGATED: 1, FrameState.NONE: 0}
        columns = []
        for x in range(width):
            first = x * count // width
            stop = max((x + 1) * count // width, first + 1)
            state = max(self.states[first:stop], key=rank.__getitem__)
            cell = QRectF(x, 4, 1, self.height() - 8)
            columns.append((cell, state, any(self.annotated[first:stop])))
        return columns

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        light = QColor(self.color)
        light.setAlpha(90)
        for cell, state, annotated in self._columns():
            fill = {FrameState.KEYFRAME: self.color, FrameState.PROPAGATED: light}.get(state, EMPTY)
            painter.fillRect(cell, fill)
            if annotated and state is FrameState.NONE:
                painter.fillRect(QRectF(cell.left(), cell.bottom() - 3, cell.width(), 3), "#707070")
        if 0 <= self.current < len(self.states):
            cell = self._cell(self.current)
            if cell.width() < 4:  # more frames than pixels: a marker still visible
                cell = QRectF(cell.center().x() - 2, 0, 4, self.height())
            painter.setPen(QPen(QColor("black"), 2))
            painter.drawRect(cell.adjusted(1, 1, -1, -1))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.states and event.button() == Qt.MouseButton.LeftButton:
            index = int(event.position().x() / (self.width() / len(self.states)))
            self.frameClicked.emit(min(max(index, 0), len(self.states) - 1))


class SequenceDock(QWidget):
    """See the module docstring. ``frameRequested(image_id)``, ``trackChosen(annotation id
    on the current frame, or None)``."""

    frameRequested = Signal(int)
    trackChosen = Signal(object)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.frames: tuple[ImageRecord, ...] = ()
        self.tracks: list[Track] = []
        self.current = -1
        self.chosen_track: int | None = None
        self.label = QLabel("", self)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the canvas
        self.strip = TimelineStrip(self)
        self.track_list = QListWidget(self)
        self.track_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.track_list.setMaximumHeight(96)  # about four tracks: the canvas keeps the room
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for widget in (self.label, self.slider, self.strip, self.track_list):
            layout.addWidget(widget)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderReleased.connect(lambda: self._request(self.slider.value()))
        self._refresh_timer = QTimer(self)  # edits come in bursts (a propagation's frames)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(50)
        self._refresh_timer.timeout.connect(self.refresh)
        self._index_of: dict[int, int] = {}  # image id -> frame index
        self._per_frame: list[tuple] = []  # each frame's annotations, as last read
        self._dirty: set[int] = set()  # image ids edited since
        self._stale = False
        self._wanted: int | None = None  # the current image, shown or not
        self._deferred = False  # the view is out of date while hidden
        events = document.events
        for signal in (events.annotations_added, events.annotations_removed,
                       events.annotations_changed):  # fmt: skip
            signal.connect(self._on_annotations)
        events.category_changed.connect(lambda _category: self._refresh_timer.start())
        events.images_added.connect(self._on_images_added)
        events.reset.connect(lambda: self.show_image(None))
        self.strip.frameClicked.connect(self._request)
        self.track_list.itemClicked.connect(self._on_track_item)

    # -- what to show --------------------------------------------------------------------
    def show_image(self, image_id: int | None) -> None:
        """The current image changed: within the same sequence only the position moves;
        another folder (or a reset) rebuilds the view. While the dock is hidden (a folder
        of photos) nothing is computed until it is shown."""
        self._wanted = image_id
        if not self.isVisible():
            self._deferred = True
            return
        self._deferred = False
        if image_id is None:
            self.frames, self.current, self._index_of = (), -1, {}
        elif image_id in self._index_of and not self._stale:
            self.current = self._index_of[image_id]
        else:
            self.frames = sequence_of(self.document.images(), image_id)
            self._index_of = {f.id: i for i, f in enumerate(self.frames)}
            self._per_frame = [self.document.annotations(f.id) for f in self.frames]
            self._stale, self._dirty = False, set()
            self.current = self._index_of[image_id]
        self.refresh()

    def choose_track(self, track_id: int | None) -> None:
        """Show ``track_id`` on the strip (e.g. the selected annotation's track)."""
        if track_id is not None and track_id != self.chosen_track:
            self.chosen_track = track_id
            self.refresh()

    def _on_annotations(self, annotations) -> None:
        self._dirty.update(a.image_id for a in annotations if a.image_id in self._index_of)
        if self._dirty:
            self._refresh_timer.start()

    def _on_images_added(self, _images) -> None:
        self._stale = True  # the folder may have new frames: rebuilt at the next image

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._deferred:
            self.show_image(self._wanted)

    def refresh(self) -> None:
        """Re-read the frames edited since (only those) and redraw."""
        if self._deferred or not self.isVisible():
            self._deferred = True  # redone when shown
            return
        frames = self.frames
        if len(frames) < 2:
            self.label.setText("Not a sequence: a folder of frames opens as one.")
            for widget in (self.slider, self.strip, self.track_list):
                widget.setVisible(False)
            self.tracks = []
            return
        for widget in (self.slider, self.strip, self.track_list):
            widget.setVisible(True)
        for image_id in self._dirty:
            self._per_frame[self._index_of[image_id]] = self.document.annotations(image_id)
        self._dirty = set()
        self.tracks = tracks_in(self._per_frame)
        ids = [t.id for t in self.tracks]
        if self.chosen_track not in ids:
            self.chosen_track = ids[0] if ids else None
        root = self.document.images_root.name if self.document.images_root else ""
        folder = frames[0].path.rsplit("/", 1)[0] if "/" in frames[0].path else root
        self.label.setText(f"Frame {self.current + 1} / {len(frames)}  ·  {folder}")
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(frames) - 1)
        self.slider.setValue(self.current)
        self.slider.blockSignals(False)
        track = self.track()
        states = [track.state(i) for i in range(len(frames))] if track else []
        states = states or [FrameState.NONE] * len(frames)
        color = self.document.category(track.category_id).color if track else "#3070f0"
        self.strip.show_frames(states, [bool(a) for a in self._per_frame], color, self.current)
        self._fill_track_list()

    def track(self) -> Track | None:
        return next((t for t in self.tracks if t.id == self.chosen_track), None)

    def _fill_track_list(self) -> None:
        self.track_list.clear()
        for track in self.tracks:
            category = self.document.category(track.category_id)
            keyframes, frames = len(track.keyframes), len(track.frames)
            text = (
                f"#{track.id}  {category.name}  ·  {keyframes} keyframe"
                f"{'s' if keyframes != 1 else ''}, {frames} frame{'s' if frames != 1 else ''}"
            )
            item = QListWidgetItem(f"● {text}")
            item.setForeground(QColor(category.color))
            item.setData(Qt.ItemDataRole.UserRole, track.id)
            self.track_list.addItem(item)
            item.setSelected(track.id == self.chosen_track)

    # -- requests ------------------------------------------------------------------------
    def _on_slider(self, index: int) -> None:
        if not self.slider.isSliderDown():
            self._request(index)

    def _request(self, index: int) -> None:
        if 0 <= index < len(self.frames) and index != self.current:
            self.frameRequested.emit(self.frames[index].id)

    def _on_track_item(self, item: QListWidgetItem) -> None:
        self.chosen_track = item.data(Qt.ItemDataRole.UserRole)
        self.refresh()
        track = self.track()
        self.trackChosen.emit(track.annotation_on(self.current) if track else None)
