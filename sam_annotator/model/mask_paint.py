"""Brush and eraser strokes on one object's mask (pure logic, no Qt).

A ``MaskPainting`` holds the full-resolution HxW bool mask of one object (the chosen
candidate, an existing annotation, or nothing yet) and the strokes painted on it. A stroke
is a round brush dragged along a polyline: it sets (brush) or clears (eraser) every pixel
whose centre lies within ``radius`` of the path. Each stroke keeps the pixels it changed,
so ``undo_stroke`` restores them exactly, stroke by stroke.

Coordinates are continuous image coordinates (pixel (i, j) covers [j, j+1) x [i, i+1)),
as the canvas reports them; the radius is in image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

MIN_RADIUS = 1.0
MAX_RADIUS = 256.0
DEFAULT_RADIUS = 12.0


def clamp_radius(radius: float) -> float:
    return float(min(max(radius, MIN_RADIUS), MAX_RADIUS))


@dataclass
class _Stroke:
    """A stroke's bounding region (rows y0:y1, cols x0:x1) and the pixels it replaced."""

    erase: bool
    radius: float
    last: tuple[float, float]
    y0: int = 0
    y1: int = 0
    x0: int = 0
    x1: int = 0
    before: np.ndarray | None = None  # the region's pixels before the stroke

    def grow(self, y0: int, y1: int, x0: int, x1: int, mask: np.ndarray) -> None:
        """Widen the saved region to cover [y0:y1, x0:x1] (the mask not yet painted there)."""
        if self.before is None:
            self.y0, self.y1, self.x0, self.x1 = y0, y1, x0, x1
            self.before = mask[y0:y1, x0:x1].copy()
            return
        ny0, ny1 = min(self.y0, y0), max(self.y1, y1)
        nx0, nx1 = min(self.x0, x0), max(self.x1, x1)
        if (ny0, ny1, nx0, nx1) == (self.y0, self.y1, self.x0, self.x1):
            return
        before = mask[ny0:ny1, nx0:nx1].copy()  # outside the old region: still untouched
        before[self.y0 - ny0 : self.y1 - ny0, self.x0 - nx0 : self.x1 - nx0] = self.before
        self.y0, self.y1, self.x0, self.x1, self.before = ny0, ny1, nx0, nx1, before


@dataclass
class MaskPainting:
    """One object's mask under the brush.

    mask: HxW bool at the image's full resolution (owned: the caller's array is copied).
    """

    mask: np.ndarray
    _strokes: list[_Stroke] = field(default_factory=list)
    _current: _Stroke | None = None

    def __post_init__(self) -> None:
        if self.mask.ndim != 2 or self.mask.size == 0:
            raise ValueError(f"expected a non-empty HxW mask, got shape {self.mask.shape}")
        self.mask = np.array(self.mask, dtype=bool, copy=True)

    @classmethod
    def empty(cls, height: int, width: int) -> MaskPainting:
        return cls(np.zeros((height, width), dtype=bool))

    @property
    def stroke_count(self) -> int:
        return len(self._strokes) + (self._current is not None)

    @property
    def painting(self) -> bool:
        """A stroke is in progress (between ``begin_stroke`` and ``end_stroke``)."""
        return self._current is not None

    def begin_stroke(self, x: float, y: float, radius: float, *, erase: bool) -> None:
        """Start a stroke with a dab at (x, y); an unfinished stroke is ended first."""
        self.end_stroke()
        self._current = _Stroke(erase, clamp_radius(radius), (float(x), float(y)))
        self._paint_segment((float(x), float(y)), (float(x), float(y)))

    def extend_stroke(self, x: float, y: float) -> None:
        """Drag the current stroke to (x, y) (ignored when no stroke is in progress)."""
        if self._current is None:
            return
        start, end = self._current.last, (float(x), float(y))
        self._current.last = end
        # Long drags in short pieces: each piece's box stays small (cost ~ length x radius).
        step = 4.0 * self._current.radius
        pieces = max(1, int(np.ceil(np.hypot(end[0] - start[0], end[1] - start[1]) / step)))
        for k in range(pieces):
            a = _lerp(start, end, k / pieces)
            b = _lerp(start, end, (k + 1) / pieces)
            self._paint_segment(a, b)

    def end_stroke(self) -> None:
        if self._current is not None:
            if self._current.before is not None:
                self._strokes.append(self._current)
            self._current = None

    def undo_stroke(self) -> bool:
        """Restore the pixels of the last stroke; False when there is none."""
        self.end_stroke()
        if not self._strokes:
            return False
        stroke = self._strokes.pop()
        self.mask[stroke.y0 : stroke.y1, stroke.x0 : stroke.x1] = stroke.before
        return True

    def _paint_segment(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        stroke = self._current
        assert stroke is not None
        height, width = self.mask.shape
        reach = stroke.radius + 1.0
        x0 = max(int(np.floor(min(start[0], end[0]) - reach)), 0)
        x1 = min(int(np.ceil(max(start[0], end[0]) + reach)) + 1, width)
        y0 = max(int(np.floor(min(start[1], end[1]) - reach)), 0)
        y1 = min(int(np.ceil(max(start[1], end[1]) + reach)) + 1, height)
        if x0 >= x1 or y0 >= y1:
            return  # entirely outside the image
        stroke.grow(y0, y1, x0, x1, self.mask)
        # Distance of each pixel centre to the segment, inside the segment's box only.
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
        inside = _within(xs, ys, start, end, stroke.radius)
        region = self.mask[y0:y1, x0:x1]
        region[inside] = not stroke.erase


def _lerp(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t


def _within(
    xs: np.ndarray, ys: np.ndarray, a: tuple[float, float], b: tuple[float, float], r: float
) -> np.ndarray:
    """Which points (xs, ys) lie within r of the segment a-b."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        t = np.zeros_like(xs)
    else:
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0)
    px, py = xs - (ax + t * dx), ys - (ay + t * dy)
    return px * px + py * py <= r * r


def downsample_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxW bool -> (h, w) bool for display: a pixel is set when at least half of the
    source pixels it covers are (area averaging)."""
    height, width = size
    if (height, width) == mask.shape:
        return mask
    small = cv2.resize(mask.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_AREA)
    return small >= 128
