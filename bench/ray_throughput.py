"""Throughput of `sam-annotator embed` in one process and on Ray with 1 and 2 workers.

Usage: python bench/ray_throughput.py [--images N] [--model tiny|vit_b] [--side PX]

Writes a random-weight checkpoint (no official weights here) and N distinct photos made
from tests/data/images (each a different crop, so no two share a cache key), then runs the
real command three ways in this one run, each into an empty cache folder:

- ``embed`` in this process (the reference: one model, torch on every core), and again
  with torch on one thread, as a Ray CPU worker runs it;
- ``embed --ray --workers 1`` and ``--workers 2`` on a local Ray instance started once
  beforehand (cluster start-up is not counted; spawning the actors and loading the model
  in each is).

Prints wall seconds, images/s, the ratio to the single-process run, and Ray's overhead
per image (``(ray_1_worker - single_process_1_thread) / N``), with the CPU's vector
features.
The small tiny-test model makes Ray's fixed costs visible; ``--model vit_b`` shows a
realistic per-image cost (seconds on a CPU), where those costs vanish.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # this checkout's package, not another installed copy


def cpu_features() -> str:
    """CPU count and the vector instructions PyTorch's CPU kernels use here."""
    import torch

    return f"{os.cpu_count()} CPUs, {torch.backends.cpu.get_cpu_capability()}"


def make_images(folder: Path, count: int, side: int) -> None:
    from PIL import Image

    sources = sorted((REPO_ROOT / "tests" / "data" / "images").glob("*.jpg"))
    photos = [Image.open(p).convert("RGB") for p in sources]
    for i in range(count):
        photo = photos[i % len(photos)]
        step = i // len(photos)
        box = (step * 7, step * 5, photo.width - step * 3, photo.height - step * 2)
        photo.crop(box).resize((side, side * 3 // 4)).save(folder / f"img{i:04d}.jpg")


def make_checkpoint(path: Path, model: str) -> None:
    import torch

    from sam_core import build_sam_vit_b, build_sam_vit_tiny_test

    torch.manual_seed(0)
    build = build_sam_vit_tiny_test if model == "tiny" else build_sam_vit_b
    torch.save(build().state_dict(), path)


def timed_embed(
    images: Path, checkpoint: Path, cache: Path, *extra: str, threads: int | None = None
) -> float:
    import torch

    from sam_annotator.__main__ import main

    args = ["embed", str(images), "--checkpoint", str(checkpoint), "--cache-dir", str(cache)]
    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            status = main([*args, *extra])
    finally:
        torch.set_num_threads(default_threads)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"embed {' '.join(extra)} failed ({status}):\n{err.getvalue()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--model", choices=("tiny", "vit_b"), default="tiny")
    parser.add_argument("--side", type=int, default=640, help="image width in pixels")
    args = parser.parse_args()

    import ray

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = root / "images"
        images.mkdir()
        make_images(images, args.images, args.side)
        checkpoint = root / "model.pth"
        make_checkpoint(checkpoint, args.model)
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        try:
            runs = {
                "single process": timed_embed(images, checkpoint, root / "c0"),
                "single, 1 thread": timed_embed(images, checkpoint, root / "c3", threads=1),
                "Ray, 1 worker": timed_embed(
                    images, checkpoint, root / "c1", "--ray", "--workers", "1"
                ),
                "Ray, 2 workers": timed_embed(
                    images, checkpoint, root / "c2", "--ray", "--workers", "2"
                ),
            }
        finally:
            ray.shutdown()
    n = args.images
    reference = runs["single process"]
    print(f"embed, {n} images of {args.side} px, {args.model} model; {cpu_features()}")
    for name, seconds in runs.items():
        print(
            f"  {name:17s} {seconds:7.2f} s  {n / seconds:6.2f} images/s  "
            f"{reference / seconds:5.2f}x the single process"
        )
    # A Ray CPU worker runs torch on one thread (it holds one CPU), so Ray's own cost is
    # measured against the single process on one thread as well.
    overhead = (runs["Ray, 1 worker"] - runs["single, 1 thread"]) / n
    print(f"  Ray's overhead per image (1 worker - single on 1 thread): {overhead * 1e3:+.0f} ms")


if __name__ == "__main__":
    main()
