"""How long a GrabCut decode and render take on cars.jpg (2250x1500).

Usage: python bench/grabcut_speed.py [--repeats N] [--image PATH]

Prints min and median milliseconds per call for our GrabCutSegmenter (box, box plus a
negative click, one positive click; render at display size and at full size) and, as a
reference measured in the same run and interleaved with it, a plain
``cv2.grabCut(..., GC_INIT_WITH_RECT)`` with OpenCV's usual 5 iterations on the same
640-px working copy: what a straightforward port would cost per decode.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # this checkout's package, not another installed copy

from sam_annotator.inference.grabcut import GrabCutSegmenter  # noqa: E402
from sam_annotator.model.prompt_types import PromptSet  # noqa: E402

DEFAULT_IMAGE = REPO_ROOT / "tests" / "data" / "images" / "cars.jpg"
CAR_BOX = (250, 500, 1390, 1090)  # the red car on the left, XYXY original pixels
TREES = (400, 620)  # dark trees inside that box, behind the car
PINK_CAR = (1950, 650)  # the pink car's bonnet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    args = parser.parse_args()

    with Image.open(args.image) as im:
        image = np.asarray(im.convert("RGB"))
    seg = GrabCutSegmenter()
    t0 = time.perf_counter()
    enc = seg.encode(image)
    encode_ms = (time.perf_counter() - t0) * 1e3
    h, w = enc.original_size
    sy, sx = enc.scale
    x0, y0, x1, y1 = CAR_BOX
    rect = (round(x0 * sx), round(y0 * sy), round((x1 - x0) * sx), round((y1 - y0) * sy))
    work = np.ascontiguousarray(enc.image)
    candidate = seg.decode(enc, PromptSet(box=CAR_BOX))[0]
    display = (500, round(500 * w / h))

    def reference() -> None:
        labels = np.zeros(work.shape[:2], np.uint8)
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        cv2.setRNGSeed(0)
        cv2.grabCut(work, labels, rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)

    cases = {
        "reference: cv2.grabCut rect, 5 iter, 640 px": reference,
        "decode box": lambda: seg.decode(enc, PromptSet(box=CAR_BOX)),
        "decode box + negative click": lambda: seg.decode(
            enc, PromptSet(box=CAR_BOX, points=(TREES,), labels=(0,))
        ),
        "decode one positive click": lambda: seg.decode(
            enc, PromptSet(points=(PINK_CAR,), labels=(1,))
        ),
        f"render {display[0]}x{display[1]}": lambda: seg.render(enc, candidate, display),
        f"render full {h}x{w}": lambda: seg.render(enc, candidate),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):  # interleaved, so that load changes hit all alike
        for name, call in cases.items():
            t0 = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - t0) * 1e3)

    ref = statistics.median(times[next(iter(cases))])
    print(f"image {args.image.name} {w}x{h}; encode {encode_ms:.1f} ms; {args.repeats} repeats")
    print(f"{'case':48s} {'min ms':>8s} {'median ms':>10s} {'/ reference':>12s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:48s} {min(values):8.1f} {median:10.1f} {median / ref:12.2f}")


if __name__ == "__main__":
    main()
