"""How long the canvas takes to repaint a 2250x1500 photo with many annotations.

    .venv/bin/python bench/canvas_paint.py [--annotations 200] [--repeat 20]

Renders the real CanvasView offscreen (no display needed) at fit-to-window, zoomed 4x,
and while panning, with the candidate overlay shown, and prints the median and worst
frame times next to a reference measured in the same run: QPainter drawing the bare
photo scaled into the same viewport (the least any canvas must do).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QPointF, QRectF  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from sam_annotator.io.images import load_image  # noqa: E402
from sam_annotator.qt.canvas.overlay import mask_overlay_rgba, qimage_from_array  # noqa: E402
from sam_annotator.qt.canvas.scene import AnnotationView, CanvasScene  # noqa: E402
from sam_annotator.qt.canvas.view import CanvasView  # noqa: E402

PHOTO = Path(__file__).resolve().parents[1] / "tests" / "data" / "images" / "cars.jpg"


def frame_ms(view: CanvasView, repeat: int, move=None) -> list[float]:
    times = []
    target = QImage(view.viewport().size(), QImage.Format.Format_ARGB32_Premultiplied)
    for i in range(repeat):
        if move is not None:
            move(i)
        start = time.perf_counter()
        painter = QPainter(target)
        view.render(painter)
        painter.end()
        times.append((time.perf_counter() - start) * 1000)
    return times


def reference_ms(photo: QImage, size, repeat: int) -> list[float]:
    times = []
    target = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    for _ in range(repeat):
        start = time.perf_counter()
        painter = QPainter(target)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF(0, 0, size.width(), size.height()), photo)
        painter.end()
        times.append((time.perf_counter() - start) * 1000)
    return times


def polygons_for(count: int, width: int, height: int) -> list[list[list[float]]]:
    rng = np.random.default_rng(0)
    result = []
    for _ in range(count):
        cx, cy = rng.uniform(100, width - 100), rng.uniform(100, height - 100)
        radius = rng.uniform(20, 90)
        angles = np.linspace(0, 2 * np.pi, 60, endpoint=False)
        ring = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1)
        result.append([ring.ravel().tolist()])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if not PHOTO.exists():
        print(f"missing {PHOTO}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    rgb = load_image(PHOTO)
    height, width = rgb.shape[:2]
    scene = CanvasScene()
    view = CanvasView(scene)
    view.resize(1280, 800)
    view.show()
    app.processEvents()
    scene.set_image(rgb)
    colors = [QColor.fromHsv((i * 37) % 360, 200, 230) for i in range(args.annotations)]
    scene.set_annotations(
        AnnotationView(i + 1, polys, colors[i])
        for i, polys in enumerate(polygons_for(args.annotations, width, height))
    )
    view.fit()
    mask = np.zeros(view.display_mask_size(), bool)
    mask[100:400, 200:600] = True
    scene.set_candidate_overlay(mask_overlay_rgba(mask, QColor("dodgerblue")))
    app.processEvents()
    reference = reference_ms(qimage_from_array(rgb), view.viewport().size(), args.repeat)
    results = {"fit": frame_ms(view, args.repeat)}
    view.zoom_by(4.0, QPointF(640, 400))
    results["zoom 4x"] = frame_ms(view, args.repeat)

    def pan(i: int) -> None:
        view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + 15)

    results["panning at 4x"] = frame_ms(view, args.repeat, pan)
    ref = statistics.median(reference)
    print(f"photo {width}x{height}, {args.annotations} annotations, viewport 1280x800")
    print(f"reference (bare photo, one drawImage): median {ref:.1f} ms")
    for name, times in results.items():
        median = statistics.median(times)
        print(
            f"{name:>14}: median {median:6.1f} ms, worst {max(times):6.1f} ms, "
            f"{median / ref:4.1f}x the reference"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
