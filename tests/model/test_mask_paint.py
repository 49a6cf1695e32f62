"""Brush and eraser strokes: exactly the pixels within the radius of the path change, and
every stroke undoes exactly."""

from __future__ import annotations

import numpy as np
import pytest

from sam_annotator.model.mask_paint import (
    MAX_RADIUS,
    MaskPainting,
    clamp_radius,
    downsample_mask,
)


def capsule(shape, path, radius):
    """Brute force: pixel centres within `radius` of the polyline `path`."""
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    out = np.zeros(shape, dtype=bool)
    points = path if len(path) > 1 else path * 2
    for (ax, ay), (bx, by) in zip(points[:-1], points[1:], strict=True):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = np.zeros_like(xs) if length2 == 0 else np.clip(
            ((xs - ax) * dx + (ys - ay) * dy) / length2, 0, 1
        )  # fmt: skip
        out |= (xs - ax - t * dx) ** 2 + (ys - ay - t * dy) ** 2 <= radius**2
    return out


def paint(painting, path, radius, erase=False):
    painting.begin_stroke(*path[0], radius, erase=erase)
    for point in path[1:]:
        painting.extend_stroke(*point)
    painting.end_stroke()


def test_a_dab_sets_the_pixels_within_the_radius():
    painting = MaskPainting.empty(40, 50)
    paint(painting, [(20.3, 10.7)], 4.5)
    np.testing.assert_array_equal(painting.mask, capsule((40, 50), [(20.3, 10.7)], 4.5))
    assert painting.mask.sum() > 50


def test_a_dragged_stroke_covers_its_whole_path_even_long_fast_drags():
    painting = MaskPainting.empty(120, 200)
    path = [(5.0, 5.0), (190.0, 110.0), (30.0, 100.0), (31.0, 100.5)]
    paint(painting, path, 3.0)
    np.testing.assert_array_equal(painting.mask, capsule((120, 200), path, 3.0))


def test_the_eraser_clears_and_leaves_the_rest():
    base = np.zeros((60, 60), dtype=bool)
    base[10:50, 10:50] = True
    painting = MaskPainting(base)
    path = [(0.0, 30.0), (60.0, 30.0)]
    paint(painting, path, 2.0, erase=True)
    np.testing.assert_array_equal(painting.mask, base & ~capsule((60, 60), path, 2.0))
    assert base[30, 30], "the caller's mask is not modified"


def test_strokes_undo_one_by_one_exactly():
    rng = np.random.default_rng(3)
    painting = MaskPainting(rng.random((80, 90)) > 0.5)
    snapshots = [painting.mask.copy()]
    for _ in range(6):
        path = [tuple(rng.uniform(-10, 100, 2)) for _ in range(rng.integers(1, 5))]
        paint(painting, path, float(rng.uniform(1, 9)), erase=bool(rng.integers(2)))
        snapshots.append(painting.mask.copy())
    assert painting.stroke_count == 6
    for expected in reversed(snapshots[:-1]):
        assert painting.undo_stroke()
        np.testing.assert_array_equal(painting.mask, expected)
    assert not painting.undo_stroke()


def test_undo_during_a_stroke_ends_and_removes_it():
    painting = MaskPainting.empty(30, 30)
    painting.begin_stroke(5, 5, 2, erase=False)
    painting.extend_stroke(25, 25)
    assert painting.painting
    assert painting.undo_stroke()
    assert not painting.mask.any() and not painting.painting


def test_strokes_outside_the_image_change_nothing_and_leave_no_undo_step():
    painting = MaskPainting.empty(20, 20)
    paint(painting, [(-50, -50), (-40, -45)], 3)
    assert not painting.mask.any()
    assert painting.stroke_count == 0
    paint(painting, [(-2.0, 10.0)], 4)  # partly inside: clipped at the border
    np.testing.assert_array_equal(painting.mask, capsule((20, 20), [(-2.0, 10.0)], 4))


def test_radius_is_clamped_and_bad_masks_refused():
    assert clamp_radius(0.1) == 1.0 and clamp_radius(1e6) == MAX_RADIUS
    with pytest.raises(ValueError, match="HxW"):
        MaskPainting(np.zeros((3, 3, 3), dtype=bool))


def test_downsample_keeps_majority_pixels():
    mask = np.zeros((100, 100), dtype=bool)
    mask[:, :50] = True
    small = downsample_mask(mask, (10, 10))
    assert small.shape == (10, 10)
    assert small[:, :5].all() and not small[:, 5:].any()
