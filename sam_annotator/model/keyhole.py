"""Join holes to their outer ring with zero-width cuts ("keyhole" polygons).

A COCO polygon list is rasterised as a union, so a hole cannot be a ring of its own.
Instead each hole is spliced into the outer ring: the ring walks from a vertex `q` of the
outer ring to a vertex `p` of the hole, around the hole in the opposite direction, back
to `p` and `q`, and on. The cut `q -> p -> q` has zero width, so:

- even-odd rasterisers (pycocotools) cross the cut twice and see nothing of it;
- non-zero-winding rasterisers (PIL, Qt's winding fill, OpenCV) count the hole with
  winding number +1 - 1 = 0, i.e. as background,

and every reader draws the hole as background.

Coordinates are (x, y) float arrays. Orientation is measured with the shoelace sum
`sum(x_i * y_(i+1) - x_(i+1) * y_i)` in pixel coordinates (y pointing down): outer rings
positive (clockwise on screen), holes negative.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def signed_area(ring: np.ndarray) -> float:
    """Shoelace area of an (N, 2) ring (implicitly closed); positive for outer rings."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]) + x[-1] * y[0] - x[0] * y[-1])


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _leftmost(ring: np.ndarray) -> int:
    """Index of the vertex with the smallest x (then the smallest y)."""
    return int(np.lexsort((ring[:, 1], ring[:, 0]))[0])


def _inside_corner(ring: np.ndarray, index: int, direction: np.ndarray) -> bool:
    """Whether `direction` from vertex `index` points strictly into the polygon's interior.

    The interior lies to the left of each edge in the ring's positive orientation, i.e.
    the open angle swept from the outgoing edge to the incoming edge (reversed).
    """
    vertex = ring[index]
    outgoing = ring[(index + 1) % len(ring)] - vertex
    incoming_reversed = ring[index - 1] - vertex
    if _cross(outgoing, incoming_reversed) > 0:  # convex corner: a wedge under 180 degrees
        return bool(_cross(outgoing, direction) > 0 and _cross(direction, incoming_reversed) > 0)
    # reflex or straight corner: inside unless in the closed exterior wedge
    return not (_cross(incoming_reversed, direction) >= 0 and _cross(direction, outgoing) >= 0)


class _Edges:
    """The edges of a ring with their bounding boxes, for repeated segment tests."""

    def __init__(self, ring: np.ndarray) -> None:
        self.start = ring
        self.end = np.concatenate([ring[1:], ring[:1]])
        self.low = np.minimum(self.start, self.end)
        self.high = np.maximum(self.start, self.end)

    def segment_is_clear(self, p: np.ndarray, q: np.ndarray) -> bool:
        """Whether segment p-q touches no edge except the edges that end at q."""
        seg_low, seg_high = np.minimum(p, q), np.maximum(p, q)
        near = np.flatnonzero(
            (self.low[:, 0] <= seg_high[0])
            & (self.high[:, 0] >= seg_low[0])
            & (self.low[:, 1] <= seg_high[1])
            & (self.high[:, 1] >= seg_low[1])
        )
        a, b = self.start[near], self.end[near]
        keep = ~(np.all(a == q, axis=1) | np.all(b == q, axis=1))
        a, b = a[keep], b[keep]
        if len(a) == 0:
            return True
        pq = q - p
        o1 = _cross(pq, a - p)
        o2 = _cross(pq, b - p)
        edge = b - a
        o3 = _cross(edge, p - a)
        o4 = _cross(edge, q - a)
        # Any contact blocks: a crossing, a touch, or (bounding boxes overlap, checked
        # above) a collinear overlap.
        return not bool(np.any((o1 * o2 <= 0) & (o3 * o4 <= 0)))


def _nearest_left_of(ring: np.ndarray, p: np.ndarray, first: int = 8) -> Iterator[int]:
    """Indices of the ring's vertices with x < p.x, nearest to p first."""
    candidates = np.flatnonzero(ring[:, 0] < p[0])
    distances = np.sum((ring[candidates] - p) ** 2, axis=1)
    if len(candidates) > first:  # usually the nearest vertex is visible: sort only a few
        nearest = np.argpartition(distances, first)[:first]
        nearest = nearest[np.argsort(distances[nearest], kind="stable")]
        yield from (int(i) for i in candidates[nearest])
        rest = np.setdiff1d(np.arange(len(candidates)), nearest)
        yield from (int(i) for i in candidates[rest[np.argsort(distances[rest], kind="stable")]])
    else:
        yield from (int(i) for i in candidates[np.argsort(distances, kind="stable")])


def bridge_holes(exterior: np.ndarray, holes: Sequence[np.ndarray]) -> np.ndarray:
    """One keyhole ring from an outer ring (positive orientation) and its holes.

    exterior: (N, 2) float, not closed, positive `signed_area`; holes: (M_i, 2) float,
    not closed, negative `signed_area`, disjoint from each other and from the exterior
    (as in a valid polygon). Returns a (K, 2) ring, not closed, that holds every vertex
    of the inputs plus two repeated vertices per hole (the ends of its cut).

    Holes are bridged in order of their leftmost vertex `p`, each to the nearest vertex
    `q` of the ring built so far with q.x < p.x whose segment q-p crosses no edge (the
    method of mapbox/earcut: such a visible vertex always exists), so no cut crosses a
    ring or an earlier cut.
    """
    ring = np.asarray(exterior, dtype=np.float64)
    ordered = sorted(
        (np.asarray(hole, dtype=np.float64) for hole in holes),
        key=lambda hole: tuple(hole[_leftmost(hole)]),
    )
    for hole in ordered:
        start = _leftmost(hole)
        p = hole[start]
        edges = _Edges(ring)
        for q_index in _nearest_left_of(ring, p):
            q = ring[q_index]
            if _inside_corner(ring, q_index, p - q) and edges.segment_is_clear(p, q):
                break
        else:
            raise RuntimeError(
                f"no cut found from hole vertex {tuple(p)}: the polygon is not valid"
            )
        hole_from_p = np.roll(hole, -start, axis=0)
        ring = np.concatenate(
            [ring[: q_index + 1], hole_from_p, hole_from_p[:1], ring[q_index:]], axis=0
        )
    return ring
