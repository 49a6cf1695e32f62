"""Pixels for the canvas: numpy arrays to QImage, and masks to translucent overlays.

The overlay functions are pure numpy so that the decode worker can prepare them off the
GUI thread; the GUI thread only wraps the finished buffer in a QImage.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor, QImage


def qimage_from_array(array: np.ndarray) -> QImage:
    """HxWx3 uint8 RGB or HxWx4 uint8 RGBA (straight alpha) -> an owning QImage."""
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected HxWx3 or HxWx4 uint8, got {array.dtype} {array.shape}")
    data = np.ascontiguousarray(array)
    height, width, channels = data.shape
    fmt = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGBA8888
    image = QImage(data.data, width, height, width * channels, fmt)
    return image.copy()  # detach from the numpy buffer


def _edges(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` that touch a background pixel (4-neighbourhood) or the border."""
    padded = np.pad(mask, 1, constant_values=False)
    interior = (
        padded[1:-1, 1:-1]
        & padded[:-2, 1:-1]
        & padded[2:, 1:-1]
        & padded[1:-1, :-2]
        & padded[1:-1, 2:]
    )
    return mask & ~interior


def mask_overlay_rgba(
    mask: np.ndarray, color: QColor | tuple[int, int, int], *, fill_alpha: int = 110
) -> np.ndarray:
    """HxW bool mask -> HxWx4 uint8 RGBA: translucent fill and an opaque one-pixel outline."""
    if mask.ndim != 2:
        raise ValueError(f"expected an HxW mask, got shape {mask.shape}")
    mask = mask.astype(bool, copy=False)
    rgb = (color.red(), color.green(), color.blue()) if isinstance(color, QColor) else color
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[mask, :3] = rgb
    rgba[mask, 3] = fill_alpha
    edge = _edges(mask)
    rgba[edge, :3] = rgb
    rgba[edge, 3] = 255
    return rgba
