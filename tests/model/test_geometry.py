"""Mask <-> polygons: exactness, keyhole holes under three rasterisers, parts, simplification."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely
from PIL import Image, ImageDraw
from pycocotools import mask as coco_mask

from sam_annotator.model.geometry import (
    DEFAULT_TOLERANCE,
    mask_area,
    mask_bbox,
    mask_to_polygons,
    polygons_to_mask,
    segmentation_area_bbox,
    validate_polygons,
)
from sam_annotator.model.keyhole import signed_area
from sam_annotator.model.rle import Rle

# pycocotools' decode (our oracle here) warns under numpy 2; the code under test does not
# use it.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def coco_rasterise(polygons, height, width):
    """pycocotools itself, independent of our wrapper."""
    rles = coco_mask.frPyObjects([list(p) for p in polygons], height, width)
    return coco_mask.decode(coco_mask.merge(rles)).astype(bool)


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def winding_rasterise(polygons, height, width):
    """Non-zero winding rule at pixel centres, computed directly (no library)."""
    ys, xs = np.mgrid[0:height, 0:width]
    px, py = xs + 0.5, ys + 0.5
    inside = np.zeros((height, width), bool)
    for flat in polygons:
        ring = np.asarray(flat, float).reshape(-1, 2)
        winding = np.zeros((height, width), int)
        for (x0, y0), (x1, y1) in zip(ring, np.roll(ring, -1, axis=0), strict=True):
            cross = (x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)
            up = (y0 <= py) & (y1 > py) & (cross > 0)
            down = (y0 > py) & (y1 <= py) & (cross < 0)
            winding += up.astype(int) - down.astype(int)
        inside |= winding != 0
    return inside


def cv2_rasterise(polygons, height, width):
    """OpenCV fillPoly (pixel centres at integers, hence the -0.5 shift), 4 fraction bits."""
    image = np.zeros((height, width), np.uint8)
    rings = [
        np.round((np.asarray(p, float).reshape(-1, 2) - 0.5) * 16).astype(np.int32)
        for p in polygons
    ]
    cv2.fillPoly(image, rings, 1, lineType=cv2.LINE_8, shift=4)
    return image.astype(bool)


def pil_rasterise(polygons, height, width):
    image = Image.new("1", (width, height))
    draw = ImageDraw.Draw(image)
    for flat in polygons:
        draw.polygon([(x - 0.5, y - 0.5) for x, y in np.asarray(flat).reshape(-1, 2)], fill=1)
    return np.asarray(image, dtype=bool)


def ring_with_hole_and_island():
    mask = np.zeros((60, 70), bool)
    mask[5:55, 5:65] = True  # outer square
    mask[15:45, 15:55] = False  # hole
    mask[25:35, 25:45] = True  # island inside the hole
    mask[20:22, 50:52] = True  # a second, small island
    return mask


def components(mask, connectivity=8):
    count, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=connectivity)
    return count - 1


def holes(mask):
    padded = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    return components(padded.astype(bool), connectivity=4) - 1


@pytest.mark.parametrize("seed", range(4))
def test_unsimplified_polygons_rasterise_to_exactly_the_mask(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        height, width = rng.integers(2, 40, size=2)
        mask = rng.random((height, width)) < rng.uniform(0.1, 0.9)
        result = mask_to_polygons(mask, tolerance=0)
        decoded = (
            coco_rasterise(result.polygons, height, width)
            if result.polygons
            else np.zeros_like(mask)
        )
        np.testing.assert_array_equal(decoded, mask)
        assert len(result.polygons) == components(mask)


@pytest.mark.parametrize(
    "rasterise", [coco_rasterise, winding_rasterise, cv2_rasterise, pil_rasterise]
)
def test_keyhole_hole_is_background_for_every_rasteriser(rasterise):
    mask = ring_with_hole_and_island()
    result = mask_to_polygons(mask)
    assert len(result.polygons) == 3  # the ring (with its hole spliced in) and two islands
    drawn = rasterise(result.polygons, *mask.shape)
    # Away from the boundaries (where the rasterisers' edge rules differ by a pixel),
    # every rasteriser agrees with the mask: the hole is empty, the islands are filled.
    interior = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    exterior = cv2.erode((~mask).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert drawn[interior].all()
    assert not drawn[exterior].any()
    assert not drawn[20, 20] and not drawn[40, 30]  # inside the hole
    assert drawn[30, 35]  # the island in the hole


def test_keyhole_rings_wind_outer_positive_and_hole_negative():
    mask = np.zeros((20, 20), bool)
    mask[2:18, 2:18] = True
    mask[8:12, 8:12] = False
    (polygon,) = mask_to_polygons(mask, tolerance=0).polygons
    ring = np.asarray(polygon).reshape(-1, 2)
    # (outer 16*16 less its four corner chamfers) minus (hole 4*4 less its chamfers)
    assert signed_area(ring) == pytest.approx((16 * 16 - 4 * 0.125) - (4 * 4 - 4 * 0.125))
    assert winding_rasterise([polygon], 20, 20)[10, 10] == 0  # winding 0 in the hole


def test_even_odd_alone_would_not_cut_holes_if_holes_were_separate_rings():
    """Why keyholes: COCO unions the rings, so a hole as its own ring fills in."""
    mask = np.zeros((20, 20), bool)
    mask[2:18, 2:18] = True
    outer = [2, 2, 18, 2, 18, 18, 2, 18]
    hole = [8, 8, 8, 12, 12, 12, 12, 8]
    assert coco_rasterise([outer, hole], 20, 20)[10, 10]  # filled: the naive way fails
    mask[8:12, 8:12] = False
    (keyhole,) = mask_to_polygons(mask, tolerance=0).polygons
    assert not coco_rasterise([keyhole], 20, 20)[10, 10]


def synthetic_masks():
    masks = {}
    m = np.zeros((80, 100), bool)
    cv2.circle(m.view(np.uint8), (25, 25), 15, 1, -1)
    cv2.circle(m.view(np.uint8), (70, 50), 20, 1, -1)
    m[60:75, 5:30] = True
    masks["several parts"] = m
    masks["ring with hole and islands"] = ring_with_hole_and_island()
    m = np.zeros((100, 100), bool)
    cv2.circle(m.view(np.uint8), (50, 50), 40, 1, -1)
    for cx, cy in [(35, 35), (65, 40), (50, 68)]:
        cv2.circle(m.view(np.uint8), (cx, cy), 7, 0, -1)
    masks["disc with three holes"] = m
    m = np.zeros((40, 60), bool)
    m[5, 3:57] = True  # horizontal 1-px line
    m[8:38, 30] = True  # vertical 1-px line
    np.fill_diagonal(m[10:40, 0:30], True)  # diagonal 1-px line (8-connected)
    masks["one-pixel lines"] = m
    m = np.zeros((50, 50), bool)
    m[:20, :] = True
    m[:, 45:] = True
    m[40:, :10] = True
    masks["touching the border"] = m
    masks["full image"] = np.ones((30, 40), bool)
    m = np.zeros((9, 9), bool)
    m[::2, ::2] = True  # isolated pixels
    m[4, 4] = True
    masks["single pixels"] = m
    return masks


@pytest.mark.parametrize("name", list(synthetic_masks()))
def test_synthetic_masks_keep_every_part_and_hole_at_default_settings(name):
    mask = synthetic_masks()[name]
    result = mask_to_polygons(mask)
    decoded = coco_rasterise(result.polygons, *mask.shape)
    assert result.dropped_parts == () and result.filled_holes == ()
    assert len(result.polygons) == components(mask)
    assert components(decoded) == components(mask)
    assert holes(decoded) == holes(mask)
    assert iou(decoded, mask) >= 0.98
    for polygon in result.polygons:
        ring = np.asarray(polygon).reshape(-1, 2)
        assert len(np.unique(ring, axis=0)) >= 3
        assert abs(signed_area(ring)) > 0


def test_simplification_reduces_vertices_and_stays_within_tolerance():
    mask = np.zeros((300, 300), np.uint8)
    cv2.ellipse(mask, (150, 150), (120, 70), 30, 0, 360, 1, -1)
    exact = mask_to_polygons(mask, tolerance=0).polygons
    simple = mask_to_polygons(mask).polygons
    assert len(simple[0]) < 0.5 * len(exact[0])
    assert iou(coco_rasterise(simple, 300, 300), mask.astype(bool)) > 0.99
    coarse = mask_to_polygons(mask, tolerance=2.0).polygons
    assert len(coarse[0]) < len(simple[0])
    # the simplified outline stays close to the traced one: tolerance, plus the bounded
    # vertex shift of the refit
    traced = shapely.LinearRing(np.asarray(exact[0]).reshape(-1, 2))
    simplified = shapely.LinearRing(np.asarray(simple[0]).reshape(-1, 2))
    assert shapely.hausdorff_distance(traced, simplified) <= 1.5 * DEFAULT_TOLERANCE


def test_min_area_drops_small_parts_and_fills_small_holes_and_reports_them():
    mask = np.zeros((50, 50), bool)
    mask[10:40, 10:40] = True
    mask[20:22, 20:23] = False  # 6-px hole
    mask[2:4, 45:47] = True  # 4-px part
    mask[45, 5] = True  # 1-px part
    result = mask_to_polygons(mask, min_area=10)
    assert len(result.polygons) == 1
    assert sorted((d.area, d.bbox) for d in result.dropped_parts) == [
        (1, (5.0, 45.0, 1.0, 1.0)),
        (4, (45.0, 2.0, 2.0, 2.0)),
    ]
    assert [(h.area, h.bbox) for h in result.filled_holes] == [(6, (20.0, 20.0, 3.0, 2.0))]
    decoded = coco_rasterise(result.polygons, 50, 50)
    assert decoded[20:22, 20:23].all()
    kept = mask_to_polygons(mask)  # default: nothing dropped
    assert len(kept.polygons) == 3 and not kept.dropped_parts


def test_empty_mask_and_bad_arguments():
    assert mask_to_polygons(np.zeros((5, 5), bool)).polygons == []
    with pytest.raises(ValueError, match="2-D"):
        mask_to_polygons(np.zeros((5, 5, 3), bool))
    with pytest.raises(ValueError, match="tolerance"):
        mask_to_polygons(np.ones((5, 5), bool), tolerance=-1)
    with pytest.raises(ValueError, match="min_area"):
        mask_to_polygons(np.ones((5, 5), bool), min_area=float("nan"))


def test_largest_part_comes_first_and_polygons_are_offset_into_the_image():
    mask = np.zeros((40, 40), bool)
    mask[30:32, 30:32] = True
    mask[5:15, 20:35] = True
    polygons = mask_to_polygons(mask, tolerance=0).polygons
    xs, ys = polygons[0][0::2], polygons[0][1::2]
    assert (min(xs), max(xs), min(ys), max(ys)) == (20, 35, 5, 15)


def test_area_and_bbox_match_pycocotools():
    rng = np.random.default_rng(3)
    mask = rng.random((30, 40)) < 0.3
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert mask_area(mask) == int(coco_mask.area(encoded))
    assert mask_bbox(mask) == tuple(float(v) for v in coco_mask.toBbox(encoded))
    assert mask_bbox(np.zeros((3, 3))) == (0.0, 0.0, 0.0, 0.0)
    polygon = [[2.0, 3.0, 20.5, 3.0, 20.5, 17.0, 2.0, 17.0]]
    area, bbox = segmentation_area_bbox(polygon, 30, 40)
    reference = coco_rasterise(polygon, 30, 40)
    assert area == reference.sum() and bbox == mask_bbox(reference)
    np.testing.assert_array_equal(polygons_to_mask(polygon, 30, 40), reference)
    height, width = np.array(reference.shape)  # numpy integers are fine too
    np.testing.assert_array_equal(polygons_to_mask(polygon, height, width), reference)


@pytest.mark.parametrize(
    ("polygons", "message"),
    [
        ([[0, 0, 5, 0, 5]], "polygon 0 has 5 coordinates (odd)"),
        ([[0, 0, 5, 0, 5, 5], [1, 1, 2, 2]], "polygon 1 has 2 points (fewer than 3)"),
        ([[0, 0, 5, 0, float("nan"), 5]], "polygon 0 has coordinate nan"),
        ([[0, 0, 5, 0, 1e9, 5]], "far outside"),
        ([[0, 0, 5, 0, "a", 5]], "non-number"),
        ([], "no polygon"),
    ],
)
def test_bad_polygons_are_named(polygons, message):
    with pytest.raises(ValueError) as error:
        validate_polygons(polygons, 10, 10)
    assert message in str(error.value)


def test_rle_round_trip_and_forms():
    rng = np.random.default_rng(4)
    mask = rng.random((13, 17)) < 0.4
    rle = Rle.from_mask(mask)
    assert rle.is_compressed
    np.testing.assert_array_equal(rle.to_mask(), mask)
    runs = [3, 5, 13 * 17 - 8]
    uncompressed = Rle.from_coco({"size": [13, 17], "counts": runs})
    assert not uncompressed.is_compressed and uncompressed.to_coco()["counts"] == runs
    expected = np.zeros(13 * 17, bool)
    expected[3:8] = True
    np.testing.assert_array_equal(uncompressed.to_mask(), expected.reshape(17, 13).T)
    np.testing.assert_array_equal(uncompressed.compressed().to_mask(), uncompressed.to_mask())
    assert segmentation_area_bbox(uncompressed, 13, 17)[0] == 5


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([3, 5], "cover 8 pixels"),
        ([3, -5, 223], "negative"),
        ("0\x7f", "invalid character"),
        ("Z", "end in the middle"),
        ("000", "cover 0 pixels"),
        ("@", "negative"),
    ],
)
def test_malformed_rle_is_refused_before_pycocotools_sees_it(counts, message):
    with pytest.raises(ValueError, match=message):
        Rle.from_coco({"size": [13, 17], "counts": counts})


def test_default_tolerance_is_well_under_a_pixel():
    assert 0 < DEFAULT_TOLERANCE <= 0.5
