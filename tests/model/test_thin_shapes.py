"""The polygon simplification error on thin shapes (rings and bands), stated in the README.

The simplifier moves no vertex more than 1.5 x tolerance px, so the pixels it can change
scale with the outline's length: the thinner the shape, the lower its IoU. These floors
are the measured worst cases of the shapes below (default tolerance 0.5 px), rounded
down; tolerance 0 is exact.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sam_annotator.model.geometry import mask_to_polygons, polygons_to_mask

FLOORS = {1: 0.91, 2: 0.97, 3: 0.99, 6: 0.99, 12: 0.994}
"""Stroke width (px) -> lowest IoU measured over rings of radius 20-150 and a diagonal band."""


def shapes(width: int):
    for radius in (20, 40, 80, 150):
        mask = np.zeros((2 * radius + 40, 2 * radius + 40), np.uint8)
        cv2.circle(mask, (radius + 20, radius + 20), radius, 1, width)
        yield f"ring r={radius}", mask.astype(bool)
    mask = np.zeros((200, 200), np.uint8)
    cv2.line(mask, (10, 10), (190, 150), 1, width)
    yield "band", mask.astype(bool)


def iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


@pytest.mark.parametrize("width", sorted(FLOORS))
def test_thin_shape_iou_floor(width):
    worst = min(
        iou(mask, polygons_to_mask(mask_to_polygons(mask).polygons, *mask.shape))
        for _, mask in shapes(width)
    )
    print(f"stroke {width} px: worst IoU {worst:.4f}")
    assert worst >= FLOORS[width]


def test_tolerance_zero_is_exact_on_thin_shapes():
    for _, mask in shapes(1):
        polygons = mask_to_polygons(mask, tolerance=0).polygons
        np.testing.assert_array_equal(polygons_to_mask(polygons, *mask.shape), mask)
