"""Mask <-> COCO polygons and RLE; area and bbox the way pycocotools computes them.

Coordinate frame: pixel coordinates with the origin at the top-left CORNER of the image.
Pixel (row r, column c) covers [c, c+1] x [r, r+1]; its centre is (c + 0.5, r + 0.5).
pycocotools rasterises a polygon by sampling pixel centres in exactly this frame, so a
polygon traced along pixel edges decodes back to the same pixels.

`mask_to_polygons` traces each part's outline through the midpoints of its boundary
pixel edges (the marching-squares contour at level 0.5 between pixel centres). Every
pixel centre is then at least 0.35 px from the outline, on the correct side, so the
unsimplified outline rasterises to exactly the input mask. Simplification
(simplify.py) keeps the outline within about `tolerance` px of the traced one (each
vertex moves at most 1.5 x tolerance). Holes are joined to their part through zero-width
cuts (see keyhole.py), so every COCO reader draws them as background.

Masks are HxW arrays (bool or 0/1 integers); polygons are COCO flat lists
[x0, y0, x1, y1, ...] of floats; bboxes are COCO [x, y, width, height].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from pycocotools import mask as coco_mask
from shapely.geometry import Polygon as ShapelyPolygon

from sam_annotator.model.keyhole import bridge_holes
from sam_annotator.model.rle import Rle
from sam_annotator.model.simplify import simplify_polygon

DEFAULT_TOLERANCE = 0.5
"""Simplification tolerance in pixels (Douglas-Peucker, then refit: see simplify.py)."""
DEFAULT_MIN_AREA = 0
"""Parts and holes smaller than this many pixels are dropped; 0 keeps everything."""
ACCEPT_MIN_PART_AREA = 4
"""When a mask is accepted in the app, parts (and holes) below this many pixels are
dropped (filled): stray specks do not become extra parts. The setting
`accept_min_part_area` (config.py) changes it; 0 keeps everything."""

BBox = tuple[float, float, float, float]
FlatPolygons = list[list[float]]


@dataclass(frozen=True)
class DroppedRegion:
    """A part removed (or a hole filled) because it was smaller than `min_area`.

    area: pixels; bbox: COCO [x, y, w, h] in image pixels.
    """

    area: int
    bbox: BBox


@dataclass(frozen=True)
class PolygonConversion:
    """Result of `mask_to_polygons`.

    polygons: one COCO flat polygon per connected part (8-connected), largest part
    first; a part's holes are spliced into its ring (keyhole). An island inside a hole
    is a part of its own. dropped_parts / filled_holes: what `min_area` removed.
    """

    polygons: FlatPolygons
    dropped_parts: tuple[DroppedRegion, ...] = ()
    filled_holes: tuple[DroppedRegion, ...] = ()


def as_mask(mask: np.ndarray) -> np.ndarray:
    """Validate a 2-D mask and return it as a bool array (a view where possible)."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"a mask must be 2-D (HxW), got shape {array.shape}")
    if array.dtype != np.bool_:
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise ValueError(f"a mask must be bool or numeric, got dtype {array.dtype}")
        array = array != 0
    return array


def mask_area(mask: np.ndarray) -> int:
    """Number of foreground pixels of an HxW mask."""
    return int(np.count_nonzero(as_mask(mask)))


def mask_bbox(mask: np.ndarray) -> BBox:
    """COCO [x, y, w, h] of the foreground pixels (as pycocotools' toBbox); zeros if empty."""
    array = as_mask(mask)
    rows = np.flatnonzero(array.any(axis=1))
    if rows.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    cols = np.flatnonzero(array.any(axis=0))
    return (
        float(cols[0]),
        float(rows[0]),
        float(cols[-1] - cols[0] + 1),
        float(rows[-1] - rows[0] + 1),
    )


def mask_to_polygons(
    mask: np.ndarray,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    min_area: float = DEFAULT_MIN_AREA,
) -> PolygonConversion:
    """HxW mask -> COCO polygons for ONE annotation: every part, holes as keyholes.

    tolerance: Douglas-Peucker tolerance in pixels, followed by a refit of each edge
    (see simplify.py); no vertex moves more than 1.5 x tolerance from the traced
    outline (0 = no simplification: the polygons rasterise with pycocotools to exactly
    `mask`).
    Simplification keeps topology: no ring crosses another or itself, and every ring
    keeps at least 3 non-collinear vertices.
    min_area: parts, and holes, with fewer pixels than this are dropped (parts) or
    filled (holes) and reported in the result.
    """
    array = as_mask(mask)
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance}")
    if not math.isfinite(min_area) or min_area < 0:
        raise ValueError(f"min_area must be a finite number >= 0, got {min_area}")
    rows = np.flatnonzero(array.any(axis=1))
    if rows.size == 0:
        return PolygonConversion([])
    cols = np.flatnonzero(array.any(axis=0))
    y0, x0 = int(rows[0]), int(cols[0])
    crop = array[y0 : int(rows[-1]) + 1, x0 : int(cols[-1]) + 1]
    dropped: list[DroppedRegion] = []
    filled: list[DroppedRegion] = []
    if min_area > 0:
        crop, dropped, filled = _remove_small_regions(crop, min_area, x0, y0)

    parts: list[tuple[float, list[float]]] = []
    for exterior, holes in _trace_outlines(crop):
        polygon = ShapelyPolygon(exterior / 2.0, [hole / 2.0 for hole in holes])
        polygon = simplify_polygon(polygon, tolerance)
        ring = bridge_holes(
            np.asarray(polygon.exterior.coords)[:-1],
            [np.asarray(interior.coords)[:-1] for interior in polygon.interiors],
        )
        ring += (x0, y0)
        parts.append((polygon.area, ring.ravel().tolist()))
    parts.sort(key=lambda part: -part[0])
    return PolygonConversion([flat for _, flat in parts], tuple(dropped), tuple(filled))


def _trace_outlines(crop: np.ndarray) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Marching-squares outlines of a bool mask, as (exterior, holes) per 8-connected part.

    Rings are (N, 2) int64 arrays in DOUBLED corner coordinates (divide by 2 for pixel
    coordinates), without repeated or collinear vertices.

    Method: on a lattice at twice the resolution (plus a margin), pixel (r, c) sits at
    (2r + 2, 2c + 2) and is dilated to its 3x3 neighbourhood, which covers its edges and
    corners. OpenCV then traces the lattice; every contour point lies on a pixel edge
    line. Dropping the points that are pixel corners leaves the edge midpoints, i.e.
    the marching-squares contour (diagonal neighbours joined by a narrow bridge).
    """
    height, width = crop.shape
    lattice = np.zeros((2 * height + 3, 2 * width + 3), dtype=np.uint8)
    lattice[2 : 2 * height + 1 : 2, 2 : 2 * width + 1 : 2] = crop
    lattice = cv2.dilate(lattice, np.ones((3, 3), dtype=np.uint8))
    contours, hierarchy = cv2.findContours(lattice, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is None:
        return []
    rings = [_edge_midpoints(contour[:, 0, :].astype(np.int64) - 1) for contour in contours]
    outlines: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}
    for index, (_, _, _, parent) in enumerate(hierarchy[0]):
        if parent < 0:
            outlines.setdefault(index, (rings[index], []))
    for index, (_, _, _, parent) in enumerate(hierarchy[0]):
        if parent >= 0:
            outlines[parent][1].append(rings[index])
    return list(outlines.values())


def _edge_midpoints(points: np.ndarray) -> np.ndarray:
    """Keep a lattice contour's edge midpoints (odd coordinate sum); drop collinear ones."""
    ring = points[(points[:, 0] + points[:, 1]) % 2 == 1]
    step = np.diff(ring, axis=0, append=ring[:1])  # step[i] = ring[i + 1] - ring[i]
    before = np.concatenate([step[-1:], step[:-1]])
    turn = before[:, 0] * step[:, 1] - before[:, 1] * step[:, 0]
    return ring[turn != 0]


def _remove_small_regions(
    crop: np.ndarray, min_area: float, x0: int, y0: int
) -> tuple[np.ndarray, list[DroppedRegion], list[DroppedRegion]]:
    """Drop 8-connected parts and fill 4-connected holes with fewer than min_area pixels."""
    crop = crop.copy()
    dropped: list[DroppedRegion] = []
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        crop.astype(np.uint8), connectivity=8
    )
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < min_area:
            crop[labels == label] = False
            dropped.append(DroppedRegion(area, (float(x + x0), float(y + y0), float(w), float(h))))
    # Background components that do not reach the padded border are holes.
    padded = np.pad(~crop, 1, constant_values=True).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(padded, connectivity=4)
    outside = labels[0, 0]
    filled: list[DroppedRegion] = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if label != outside and area < min_area:
            crop[labels[1:-1, 1:-1] == label] = True
            filled.append(
                DroppedRegion(area, (float(x - 1 + x0), float(y - 1 + y0), float(w), float(h)))
            )
    return crop, dropped, filled


# --- rasterisation, area, bbox (pycocotools) -------------------------------------------


def validate_polygons(polygons: Sequence[Sequence[float]], height: int, width: int) -> None:
    """Raise ValueError naming the first bad polygon ("polygon 1 has 5 coordinates (odd)").

    A polygon needs an even number of finite coordinates and at least 3 points.
    Coordinates may lie a little outside the image (pycocotools clips), but not more
    than one image size away: that is corrupt data, and would make pycocotools
    allocate memory in proportion to the distance.
    """
    if isinstance(polygons, (str, bytes)) or not isinstance(polygons, Sequence):
        raise ValueError(f"polygons must be a list of coordinate lists, got {polygons!r:.80}")
    if len(polygons) == 0:
        raise ValueError("no polygon (an empty segmentation)")
    size = max(height, width)
    for index, polygon in enumerate(polygons):
        if isinstance(polygon, (str, bytes)) or not isinstance(polygon, Sequence):
            raise ValueError(f"polygon {index} is not a list of numbers")
        count = len(polygon)
        if count % 2:
            raise ValueError(f"polygon {index} has {count} coordinates (odd)")
        if count < 6:
            raise ValueError(f"polygon {index} has {count // 2} points (fewer than 3)")
        for value in polygon:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"polygon {index} holds a non-number {value!r:.40}")
            if not math.isfinite(value) or not -size <= value <= 2 * size:
                raise ValueError(
                    f"polygon {index} has coordinate {value} far outside the {width}x{height} image"
                )


def polygons_to_mask(polygons: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """COCO polygons -> HxW bool mask, rasterised by pycocotools (union of the rings)."""
    validate_polygons(polygons, height, width)
    rle = _polygons_rle(polygons, height, width)
    return Rle(height, width, rle["counts"].decode("ascii")).to_mask()


def _polygons_rle(polygons: Sequence[Sequence[float]], height: int, width: int) -> dict:
    rles = coco_mask.frPyObjects([[float(v) for v in p] for p in polygons], height, width)
    return coco_mask.merge(rles)


def segmentation_to_rle(
    segmentation: Sequence[Sequence[float]] | Rle, height: int, width: int
) -> dict:
    """Polygons or an Rle -> one pycocotools RLE dict (for pycocotools.mask.iou / area)."""
    if isinstance(segmentation, Rle):
        _check_rle_size(segmentation, height, width)
        return segmentation.to_pycocotools()
    return _polygons_rle(segmentation, height, width)


def segmentation_to_mask(
    segmentation: Sequence[Sequence[float]] | Rle, height: int, width: int
) -> np.ndarray:
    """Polygons or an Rle -> HxW bool mask (an Rle must have size height x width)."""
    if isinstance(segmentation, Rle):
        _check_rle_size(segmentation, height, width)
        return segmentation.to_mask()
    return polygons_to_mask(segmentation, height, width)


def segmentation_area_bbox(
    segmentation: Sequence[Sequence[float]] | Rle, height: int, width: int
) -> tuple[int, BBox]:
    """(pixel area, COCO bbox) of the mask pycocotools decodes from `segmentation`."""
    if isinstance(segmentation, Rle):
        _check_rle_size(segmentation, height, width)
        rle = segmentation.to_pycocotools()
    else:
        validate_polygons(segmentation, height, width)
        rle = _polygons_rle(segmentation, height, width)
    x, y, w, h = (float(v) for v in coco_mask.toBbox(rle))
    return int(coco_mask.area(rle)), (x, y, w, h)


def _check_rle_size(rle: Rle, height: int, width: int) -> None:
    if (rle.height, rle.width) != (height, width):
        raise ValueError(
            f"RLE size {rle.height}x{rle.width} (HxW) does not match the image {height}x{width}"
        )


def has_holes(mask: np.ndarray) -> bool:
    """Whether an HxW mask encloses background (a hole, 4-connected, of any size)."""
    array = as_mask(mask)
    rows = np.flatnonzero(array.any(axis=1))
    if rows.size == 0:
        return False
    cols = np.flatnonzero(array.any(axis=0))
    crop = array[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    padded = np.pad(~crop, 1, constant_values=True).astype(np.uint8)
    count, labels = cv2.connectedComponents(padded, connectivity=4)
    return count > 2  # the label 0 (foreground), the outside, and at least one hole
