"""The image canvas: view (zoom/pan/input), scene (what is drawn), items, overlays.

Coordinates: scene coordinates are COCO coordinates: pixel (row i, column j) covers the
square [j, j+1] x [i, i+1], so polygons from a COCO file are drawn as they are. SAM's point
prompts are pixel indexes (its prompt encoder adds 0.5 to reach the pixel centre), so a
click at scene position (x, y) is the SAM point (x - 0.5, y - 0.5): see `scene_to_sam`.
"""
