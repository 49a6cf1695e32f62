"""Where GrabCut runs and how its labels start: one decode's region of the working image.

See :mod:`sam_annotator.inference.grabcut` for the whole algorithm. A region is the
prompt box grown by ``BOX_MARGIN`` (else the mask prompt's bounds grown the same way,
else the whole working image), downscaled to at most ``PIXEL_BUDGET`` pixels; it maps
original-image pixels to its own (``to_region``) and sets up GrabCut's initial labels
from the box, the mask prompt and the clicks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from sam_annotator.model.prompt_types import PromptSet

PIXEL_BUDGET = 40_000
ITERATIONS = 1
#: Margin around a box, as a fraction of its longer side (at least MIN_MARGIN px).
BOX_MARGIN = 0.3
MIN_MARGIN = 8
#: Sure-label disc radius at a click, as a fraction of the region's longer side.
CLICK_RADIUS = 0.012
#: Colour-similar neighbourhood of a click: radius (same unit) and per-channel tolerance.
WAND_RADIUS = 0.15
WAND_TOLERANCE = 20


@dataclass(frozen=True)
class GrabCutRegion:
    """The part of the working image GrabCut runs on, and the mapping to it."""

    image: np.ndarray  # hxwx3 uint8, C-contiguous, private and writable
    roi: tuple[float, float, float, float]  # the region, XYXY in original-image pixels
    to_region: tuple[float, float, float, float]  # (ax, bx, ay, by): region = a * orig + b
    box: tuple[int, int, int, int] | None  # prompt box in region pixels, XYXY, end exclusive
    prior: np.ndarray | None = None  # hxw bool: the mask prompt in region pixels

    @staticmethod
    def choose(work: np.ndarray, scale: tuple[float, float], prompts: PromptSet) -> GrabCutRegion:
        """The box grown by its margin, else the mask prompt's bounds grown by the same
        margin, else the whole working image."""
        wh, ww = work.shape[:2]
        sy, sx = scale
        rx0, ry0, rx1, ry1 = 0, 0, ww, wh
        prior = None
        if prompts.mask_input is not None:
            squashed = prompts.mask_input[0] > 0
            prior = cv2.resize(squashed.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST)
            prior = prior.astype(bool)
        bounds = prompts.box if prompts.box is not None else _bounds(prior, sx, sy)
        if bounds is not None:
            bx0, by0, bx1, by1 = bounds
            xs = [bx0 * sx, bx1 * sx] + [x * sx for x, _ in prompts.points]
            ys = [by0 * sy, by1 * sy] + [y * sy for _, y in prompts.points]
            margin = max(MIN_MARGIN, BOX_MARGIN * max((bx1 - bx0) * sx, (by1 - by0) * sy))
            x0 = max(0, math.floor(min(xs) - margin))
            y0 = max(0, math.floor(min(ys) - margin))
            x1 = min(ww, math.ceil(max(xs) + margin))
            y1 = min(wh, math.ceil(max(ys) + margin))
            if x1 - x0 >= 2 and y1 - y0 >= 2:  # else the box lies outside the image
                rx0, ry0, rx1, ry1 = x0, y0, x1, y1
        crop = work[ry0:ry1, rx0:rx1]
        factor = min(1.0, math.sqrt(PIXEL_BUDGET / crop.shape[0] / crop.shape[1]))
        if factor < 1.0:
            size = (max(2, round(crop.shape[1] * factor)), max(2, round(crop.shape[0] * factor)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        if prior is not None:
            size = (crop.shape[1], crop.shape[0])
            prior = prior[ry0:ry1, rx0:rx1].astype(np.uint8)
            prior = cv2.resize(prior, size, interpolation=cv2.INTER_NEAREST).astype(bool)
        crop = np.array(crop, order="C")  # a private, writable copy (floodFill needs one)
        fy = crop.shape[0] / (ry1 - ry0)
        fx = crop.shape[1] / (rx1 - rx0)
        to_region = (sx * fx, -rx0 * fx, sy * fy, -ry0 * fy)
        roi = (rx0 / sx, ry0 / sy, rx1 / sx, ry1 / sy)
        box = None
        if prompts.box is not None:
            ax, bx, ay, by = to_region
            bx0, by0, bx1, by1 = prompts.box
            h, w = crop.shape[:2]
            x0 = int(np.clip(round(ax * bx0 + bx), 0, w - 1))
            y0 = int(np.clip(round(ay * by0 + by), 0, h - 1))
            x1 = int(np.clip(round(ax * bx1 + bx), x0 + 1, w))
            y1 = int(np.clip(round(ay * by1 + by), y0 + 1, h))
            box = (x0, y0, x1, y1)
        return GrabCutRegion(crop, roi, to_region, box, prior)

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    def clicks(self, prompts: PromptSet) -> list[tuple[int, int, int]]:
        """Clicks as (column, row, label) in region pixels, clipped into the region."""
        ax, bx, ay, by = self.to_region
        h, w = self.shape
        return [
            (
                int(np.clip(math.floor(ax * x + bx), 0, w - 1)),
                int(np.clip(math.floor(ay * y + by), 0, h - 1)),
                label,
            )
            for (x, y), label in zip(prompts.points, prompts.labels, strict=True)
        ]

    def grabcut(self, prompts: PromptSet, seed: int, object_radius: float) -> np.ndarray | None:
        """GrabCut's final hxw uint8 label mask for one run, or None if it cannot run."""
        h, w = self.shape
        side = max(h, w)
        if self.box is not None:
            labels = np.full((h, w), cv2.GC_BGD, np.uint8)
            x0, y0, x1, y1 = self.box
            labels[y0:y1, x0:x1] = cv2.GC_PR_FGD
            if self.prior is not None:  # refining: the mask prompt inside the box
                inside = self.prior[y0:y1, x0:x1]
                labels[y0:y1, x0:x1] = np.where(inside, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
            if not np.any(labels == cv2.GC_BGD):  # the box covers the whole image
                labels[[0, -1], :] = labels[:, [0, -1]] = cv2.GC_BGD
            if prompts.points:
                labels = self._run(labels, seed)
                if labels is None:
                    return None
        elif self.prior is not None:
            # Refining without a box: the mask prompt is the initial guess (probable
            # labels); the region's edge, the object's surroundings, is sure background.
            labels = np.where(self.prior, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
            border = max(1, round(0.005 * side))
            edge = np.zeros((h, w), bool)
            edge[:border] = edge[-border:] = True
            edge[:, :border] = edge[:, -border:] = True
            labels[edge & ~self.prior] = cv2.GC_BGD
        else:
            labels = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
            border = max(1, round(0.005 * side))
            labels[:border] = labels[-border:] = cv2.GC_BGD
            labels[:, :border] = labels[:, -border:] = cv2.GC_BGD
            radius = max(2, round(object_radius * side))
            for cx, cy, label in self.clicks(prompts):
                if label == 1:
                    cv2.circle(labels, (cx, cy), radius, cv2.GC_PR_FGD, -1)
        self._paint_clicks(labels, prompts)
        return self._run(labels, seed)

    def _paint_clicks(self, labels: np.ndarray, prompts: PromptSet) -> None:
        """Paint each click's sure-label disc and colour-similar neighbourhood."""
        h, w = self.shape
        side = max(h, w)
        disc = max(2, round(CLICK_RADIUS * side))
        tolerance = (WAND_TOLERANCE,) * 3
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (2 << 8)
        for cx, cy, label in self.clicks(prompts):
            value = cv2.GC_FGD if label == 1 else cv2.GC_BGD
            # floodFill fills only where its (h+2)x(w+2) mask is 0: open a disc at the click.
            reach = np.ones((h + 2, w + 2), np.uint8)
            cv2.circle(reach, (cx + 1, cy + 1), round(WAND_RADIUS * side), 0, -1)
            cv2.floodFill(self.image, reach, (cx, cy), 0, tolerance, tolerance, flags)
            labels[reach[1:-1, 1:-1] == 2] = value
            cv2.circle(labels, (cx, cy), disc, value, -1)

    def _run(self, labels: np.ndarray, seed: int) -> np.ndarray | None:
        """One seeded GrabCut pass from ``labels``; None if a colour model has no pixels."""
        if not (np.any(labels % 2 == 1) and np.any(labels % 2 == 0)):
            return None  # GC_FGD = 1 and GC_PR_FGD = 3 are odd, the background labels even
        labels = labels.copy()
        cv2.setRNGSeed(seed)
        bgd_model = np.zeros((1, 65), np.float64)
        fgd_model = np.zeros((1, 65), np.float64)
        cv2.grabCut(
            self.image, labels, None, bgd_model, fgd_model, ITERATIONS, cv2.GC_INIT_WITH_MASK
        )
        return labels


def _bounds(
    prior: np.ndarray | None, sx: float, sy: float
) -> tuple[float, float, float, float] | None:
    """The XYXY bounds (original pixels) of a working-frame mask; None when empty."""
    if prior is None or not prior.any():
        return None
    ys, xs = np.nonzero(prior)
    return xs.min() / sx, ys.min() / sy, (xs.max() + 1) / sx, (ys.max() + 1) / sy
