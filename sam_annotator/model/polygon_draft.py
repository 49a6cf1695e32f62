"""A polygon being drawn by hand, vertex by vertex (pure logic, no Qt).

Coordinates are continuous image coordinates (pixel (i, j) covers [j, j+1) x [i, i+1)),
as the canvas reports them. A draft closes into one COCO ring once it has three vertices
that enclose an area; whether that ring covers a pixel is the document's rule
(``Document.make_annotation`` refuses zero-area geometry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: A click this close to the first vertex (in image pixels at the current zoom, as given
#: by the caller) closes the polygon.
CLOSE_TOLERANCE_PX = 8.0


@dataclass
class PolygonDraft:
    vertices: list[tuple[float, float]] = field(default_factory=list)

    def add(self, x: float, y: float) -> None:
        """Append a vertex (a click on the previous vertex is ignored)."""
        if self.vertices and self.vertices[-1] == (x, y):
            return
        self.vertices.append((float(x), float(y)))

    def remove_last(self) -> bool:
        """Remove the last vertex; False when there was none."""
        if not self.vertices:
            return False
        self.vertices.pop()
        return True

    def closes_at(self, x: float, y: float, tolerance: float) -> bool:
        """Whether a click at (x, y) is on the first vertex of a closable draft."""
        if not self.can_close:
            return False
        first_x, first_y = self.vertices[0]
        return math.hypot(x - first_x, y - first_y) <= tolerance

    @property
    def can_close(self) -> bool:
        """Three or more vertices enclosing a non-zero area (shoelace)."""
        return len(self.vertices) >= 3 and abs(self.signed_area()) > 1e-9

    def signed_area(self) -> float:
        points = self.vertices
        return 0.5 * sum(
            x0 * y1 - x1 * y0
            for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)
        )

    def ring(self) -> list[float]:
        """The flat COCO ring [x0, y0, x1, y1, ...]."""
        return [value for vertex in self.vertices for value in vertex]
