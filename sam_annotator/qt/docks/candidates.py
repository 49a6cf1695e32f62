"""The candidate strip: SAM's candidates as small previews with their predicted IoU.

Candidates arrive ordered best first; the chosen one is highlighted. Keys 1-4 and Tab are
handled by the main window's actions; a click on a preview chooses it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from sam_annotator.qt.canvas.overlay import qimage_from_array

THUMBNAIL = 112  # pixels, long side


@dataclass(frozen=True)
class CandidatePreview:
    """One preview: an RGB thumbnail with the mask drawn in, its score and a caption."""

    thumbnail: np.ndarray  # HxWx3 uint8 RGB
    score: float
    caption: str = ""


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
        self._row = QHBoxLayout()
        self._row.setContentsMargins(0, 0, 0, 0)
        self._hint = QLabel("Click the object: SAM's candidates appear here.", self)
        self._hint.setWordWrap(True)
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addLayout(self._row)
        layout.addWidget(self._hint)
        layout.addStretch(1)

    def set_candidates(self, previews: Sequence[CandidatePreview], chosen: int | None) -> None:
        for button in self._buttons:
            self._row.removeWidget(button)
            button.deleteLater()
        self._buttons = []
        for index, preview in enumerate(previews):
            button = QToolButton(self)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIcon(QIcon(QPixmap.fromImage(qimage_from_array(preview.thumbnail))))
            button.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
            caption = f" {preview.caption}" if preview.caption else ""
            button.setText(f"{index + 1}: IoU {preview.score:.2f}{caption}")
            button.setToolTip(f"Key {index + 1} chooses this candidate")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, i=index: self.chosen.emit(i))
            self._row.addWidget(button)
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
