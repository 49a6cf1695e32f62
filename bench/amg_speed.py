"""Segment everything: our generator against the official one, same weights, same run.

    .venv/bin/python bench/amg_speed.py [--model vit_tiny_test|vit_b] [--points 16] [--repeat 2]

Loads identical random weights into both, runs them interleaved on a real photo
(dog.jpg, 800x534) after a warm-up, and prints seconds per image, prompts per second
and the ratio. Thresholds are the official defaults except pred_iou_thresh, lowered so
that random weights keep masks (the official upsamples every output; we upsample only
the outputs that pass it, which is where the difference comes from).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sam_core import SamAutomaticMaskGenerator, sam_model_registry  # noqa: E402
from tests.core.conftest import build_official_sam, random_state_dict  # noqa: E402

PHOTO = REPO / "tests" / "data" / "images" / "dog.jpg"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_tiny_test", choices=["vit_tiny_test", "vit_b"])
    parser.add_argument("--points", type=int, default=16, help="points per side")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--pred-iou-thresh", type=float, default=0.5)
    args = parser.parse_args()
    image = np.asarray(Image.open(PHOTO).convert("RGB"))
    state = random_state_dict(sam_model_registry[args.model]().state_dict(), seed=0)
    ours = sam_model_registry[args.model]()
    ours.load_state_dict(state)
    official = build_official_sam(args.model)
    official.load_state_dict(state)
    from tests.oracle import official_segment_anything

    sa = official_segment_anything()
    options = {"points_per_side": args.points, "pred_iou_thresh": args.pred_iou_thresh}
    generators = {
        "ours": SamAutomaticMaskGenerator(ours.eval(), **options),
        "official": sa.SamAutomaticMaskGenerator(official.eval(), **options),
    }
    times: dict[str, list[float]] = {name: [] for name in generators}
    counts = {}
    with torch.inference_mode():
        for name, generator in generators.items():  # warm-up
            counts[name] = len(generator.generate(image))
        for _ in range(args.repeat):
            for name, generator in generators.items():
                start = time.perf_counter()
                generator.generate(image)
                times[name].append(time.perf_counter() - start)
    prompts = args.points**2
    print(
        f"{args.model}, {image.shape[1]}x{image.shape[0]}, {prompts} point prompts, "
        f"pred_iou_thresh {args.pred_iou_thresh}, torch threads {torch.get_num_threads()}"
    )
    for name in generators:
        best, median = min(times[name]), statistics.median(times[name])
        print(
            f"{name:>9}: min {best:6.2f} s, median {median:6.2f} s per image, "
            f"{prompts / best:6.1f} prompts/s, {counts[name]} masks"
        )
    ratio = min(times["official"]) / min(times["ours"])
    print(f"ours is {ratio:.2f}x the official speed (min over {args.repeat} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
