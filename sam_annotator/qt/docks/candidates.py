"""The candidate strip: the engine's candidates as small previews with their scores
(SAM: predicted IoU).

Candidates arrive ordered best first; the chosen one is highlighted. Keys 1-4 and Tab are
handled by the main window's actions; a click on a preview chooses it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from sam_annotator.qt.canvas.overlay import qimage_from_array

THUMBNAIL = 112  # pixels, long side
COLUMNS, ROWS = 2, 2  # room for the 3 multimask candidates and the single output


@dataclass(frozen=True)
class CandidatePreview:
    """One preview: an RGB thumbnail with the mask drawn in, its score and a caption."""

    thumbnail: np.ndarray  # HxWx3 uint8 RGB
    score: float
    caption: str = ""


def candidate_previews(
    base: np.ndarray, masks: list[np.ndarray], color: tuple[int, int, int]
) -> list[np.ndarray]:
    """Previews of candidate masks, all cropped to the same region around them.

    base: HxWx3 uint8 RGB image (a downscaled copy of the photo); masks: HxW bool, one per
    candidate. The crop is the union of the masks' boxes with a margin, so that a small
    object fills its preview and the candidates can be compared side by side.
    """
    if not masks:
        return []
    union = np.logical_or.reduce(masks)
    height, width = union.shape
    rows, cols = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
    if rows.size == 0:
        y0, y1, x0, x1 = 0, height, 0, width
    else:
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        side = max(y1 - y0, x1 - x0) * 1.3 + 8  # square-ish, with a margin
        cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
        y0, y1 = max(0, round(cy - side / 2)), min(height, round(cy + side / 2))
        x0, x1 = max(0, round(cx - side / 2)), min(width, round(cx + side / 2))
    crop = base[y0:y1, x0:x1]
    scale = THUMBNAIL / max(crop.shape[:2])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    thumbnail = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    previews = []
    for mask in masks:
        small = cv2.resize(
            mask[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST
        ).astype(bool)
        previews.append(compose_preview(thumbnail, small, color))
    return previews


def compose_preview(
    image_thumbnail: np.ndarray, mask: np.ndarray, color: tuple[int, int, int]
) -> np.ndarray:
    """Blend a mask (same HxW as the thumbnail) into an RGB thumbnail; dims the rest."""
    if image_thumbnail.shape[:2] != mask.shape:
        raise ValueError(f"mask {mask.shape} does not match thumbnail {image_thumbnail.shape}")
    out = (image_thumbnail.astype(np.float32) * 0.45).astype(np.uint8)
    tint = np.array(color, np.float32)
    inside = image_thumbnail[mask].astype(np.float32)
    out[mask] = (0.6 * inside + 0.4 * tint).astype(np.uint8)
    return out


class CandidateStrip(QWidget):
    chosen = Signal(int)  # index into the candidates as given (0 = best)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._buttons: list[QToolButton] = []
        self._chosen: int | None = None
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._hint = QLabel("Click the object: SAM's candidates appear here.", self)
        self._hint.setWordWrap(True)
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addLayout(self._grid)
        layout.addWidget(self._hint)
        layout.addStretch(1)
        # The strip takes the room of its largest content from the start, so that its
        # dock, and with it the canvas, never changes size when candidates come and go
        # (the labeler's next click must land where the image was).
        probe = self._button(np.zeros((THUMBNAIL, THUMBNAIL, 3), np.uint8), "4: IoU 0.00 single")
        cell = probe.sizeHint()
        probe.hide()  # never painted, even before the deferred delete runs
        probe.deleteLater()
        spacing = max(self._grid.spacing(), 0)
        margins = layout.contentsMargins()
        self.setMinimumSize(
            COLUMNS * cell.width() + (COLUMNS - 1) * spacing + margins.left() + margins.right(),
            ROWS * cell.height() + (ROWS - 1) * spacing + margins.top() + margins.bottom(),
        )

    def _button(self, thumbnail: np.ndarray, text: str) -> QToolButton:
        button = QToolButton(self)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        button.setIcon(QIcon(QPixmap.fromImage(qimage_from_array(thumbnail))))
        button.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        button.setText(text)
        return button

    def set_candidates(
        self, previews: Sequence[CandidatePreview], chosen: int | None, score_name: str = "IoU"
    ) -> None:
        for button in self._buttons:
            self._grid.removeWidget(button)
            button.hide()  # deleteLater runs later: do not let it paint meanwhile
            button.deleteLater()
        self._buttons = []
        for index, preview in enumerate(previews):
            caption = f" {preview.caption}" if preview.caption else ""
            button = self._button(
                preview.thumbnail, f"{index + 1}: {score_name} {preview.score:.2f}{caption}"
            )
            button.setToolTip(f"Key {index + 1} chooses this candidate")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, i=index: self.chosen.emit(i))
            self._grid.addWidget(button, index // COLUMNS, index % COLUMNS)
            self._buttons.append(button)
        self._hint.setVisible(not previews)
        self.set_chosen(chosen)

    def set_chosen(self, index: int | None) -> None:
        self._chosen = index
        for i, button in enumerate(self._buttons):
            button.setChecked(i == index)

    def count(self) -> int:
        return len(self._buttons)

    def button_texts(self) -> list[str]:
        return [button.text() for button in self._buttons]

    @property
    def chosen_index(self) -> int | None:
        return self._chosen

    def click(self, index: int) -> None:
        """Click preview `index` (as a user would)."""
        self._buttons[index].click()
