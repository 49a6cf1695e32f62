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
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
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

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        light = QColor(self.color)
        light.setAlpha(90)
        for index, state in enumerate(self.states):
            fill = {FrameState.KEYFRAME: self.color, FrameState.PROPAGATED: light}.get(state, EMPTY)
            cell = self._cell(index).adjusted(0, 4, -0.5, -4)
            painter.fillRect(cell, fill)
            if self.annotated[index] and state is FrameState.NONE:
                painter.fillRect(QRectF(cell.left(), cell.bottom() - 3, cell.width(), 3), "#707070")
        if 0 <= self.current < len(self.states):
            painter.setPen(QPen(QColor("black"), 2))
            painter.drawRect(self._cell(self.current).adjusted(1, 1, -1, -1))
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
        document.events.changed.connect(self._refresh_timer.start)
        document.events.reset.connect(lambda: self.show_image(None))
        self.strip.frameClicked.connect(self._request)
        self.track_list.itemClicked.connect(self._on_track_item)

    # -- what to show --------------------------------------------------------------------
    def show_image(self, image_id: int | None) -> None:
        """The current image changed (or the document did): rebuild the view."""
        if image_id is None:
            self.frames, self.current = (), -1
        else:
            self.frames = sequence_of(self.document.images(), image_id)
            self.current = next(i for i, f in enumerate(self.frames) if f.id == image_id)
        self.refresh()

    def choose_track(self, track_id: int | None) -> None:
        """Show ``track_id`` on the strip (e.g. the selected annotation's track)."""
        if track_id is not None and track_id != self.chosen_track:
            self.chosen_track = track_id
            self.refresh()

    def refresh(self) -> None:
        """Recount the tracks and frame states (after document edits)."""
        frames = self.frames
        if len(frames) < 2:
            self.label.setText("Not a sequence: a folder of frames opens as one.")
            for widget in (self.slider, self.strip, self.track_list):
                widget.setVisible(False)
            self.tracks = []
            return
        for widget in (self.slider, self.strip, self.track_list):
            widget.setVisible(True)
        per_frame = [self.document.annotations(f.id) for f in frames]
        self.tracks = tracks_in(per_frame)
        ids = [t.id for t in self.tracks]
        if self.chosen_track not in ids:
            self.chosen_track = ids[0] if ids else None
        folder = frames[0].path.rsplit("/", 1)[0] if "/" in frames[0].path else "."
        self.label.setText(f"Frame {self.current + 1} / {len(frames)}  ·  {folder}")
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(frames) - 1)
        self.slider.setValue(self.current)
        self.slider.blockSignals(False)
        track = self.track()
        states = [track.state(i) if track else FrameState.NONE for i in range(len(frames))]
        color = self.document.category(track.category_id).color if track else "#3070f0"
        self.strip.show_frames(states, [bool(a) for a in per_frame], color, self.current)
        self._fill_track_list()

    def track(self) -> Track | None:
        return next((t for t in self.tracks if t.id == self.chosen_track), None)

    def _fill_track_list(self) -> None:
        self.track_list.clear()
        for track in self.tracks:
            category = self.document.category(track.category_id)
            keyframes = len(track.keyframes)
            text = (
                f"#{track.id}  {category.name}  ·  {keyframes} keyframe"
                f"{'s' if keyframes != 1 else ''}, {len(track.frames)} frames"
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
