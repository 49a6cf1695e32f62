"""SAM 2.1 video propagation: ``sam_core`` against the official ``sam2`` 1.1.0, same weights.

    .venv/bin/python bench/sam2_video.py [--size t|s|b+] [--frames 12] [--long 0]
    .venv/bin/python bench/sam2_video.py --frames 0 --long 200   # only the long clip

Writes a clip of ``--frames`` JPEG frames (a window moving over a real photo, 640x480),
builds the official video predictor of the size with random weights (no official weights
can be downloaded here; speed and memory do not depend on the values) and ours from its
state_dict, then, each in a fresh process: ``init_state``, one click on frame 0,
``propagate_in_video`` over the clip. Prints seconds per propagated frame and the peak
memory growth from before ``init_state`` (Linux ``VmHWM`` after a reset through
``/proc/self/clear_refs``). The official keeps every frame in memory (12 MiB each at
1024x1024 float32) and needs its stored bfloat16 memories cast to float32 on a CPU (as
the parity tests do). With ``--long N``, ours alone also runs an N-frame clip, to show
how memory grows with the clip's length (``--frames 0``: the long clip alone, with the
memory the official would need for the frames it keeps, 12 MiB each, for scale).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench import peak_memory  # noqa: E402 (after the path is set)

CONFIGS = {"t": "sam2.1_hiera_t", "s": "sam2.1_hiera_s", "b+": "sam2.1_hiera_b+"}


def write_clip(folder: Path, frames: int) -> None:
    import cv2

    photo = cv2.imread(str(REPO_ROOT / "tests/data/images/cars.jpg"))
    height, width = photo.shape[:2]
    for index in range(frames):
        x = int((width - 1200) * (index % 40) / 40)
        crop = photo[200:1100, x : x + 1200]
        cv2.imwrite(str(folder / f"{index:05d}.jpg"), cv2.resize(crop, (640, 480)))


def child(which: str, weights: str, name: str, clip: str) -> None:
    """Print 'seconds_per_frame peak_growth_mib' for one implementation."""
    import torch

    from tests.core.sam2_oracle import run_official_video_on_cpu
    from tests.oracle import official_sam2

    torch.set_grad_enabled(False)
    state_dict = torch.load(weights, weights_only=True)
    if which == "official":
        official_sam2()
        from sam2.build_sam import build_sam2_video_predictor

        predictor = build_sam2_video_predictor(f"configs/sam2.1/{name}.yaml", None, device="cpu")
        predictor.load_state_dict(state_dict)
        run_official_video_on_cpu(predictor)
    else:
        from sam_core.sam2.build import sam2_tracker_from_state_dict
        from sam_core.sam2.video_predictor import SAM2VideoPredictor

        predictor = SAM2VideoPredictor(sam2_tracker_from_state_dict(state_dict, "bench"))
    del state_dict
    before = peak_memory.start()
    with torch.inference_mode():
        state = predictor.init_state(clip)
        predictor.add_new_points_or_box(state, 0, 1, points=[[320, 240]], labels=[1])
        start = time.perf_counter()
        count = sum(1 for _ in predictor.propagate_in_video(state))
        seconds = (time.perf_counter() - start) / count
    print(f"{seconds} {peak_memory.growth_mib(before)}")


def measure(which: str, weights: Path, name: str, clip: Path) -> tuple[float, float]:
    command = [sys.executable, __file__, "--child", which, str(weights), name, str(clip)]
    output = subprocess.run(command, check=True, capture_output=True, text=True)
    seconds, mib = output.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(mib)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(CONFIGS), default="t")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--long", type=int, default=0)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    import torch

    from tests.oracle import official_sam2

    official_sam2()
    from sam2.build_sam import build_sam2_video_predictor

    name = CONFIGS[args.size]
    torch.manual_seed(0)
    model = build_sam2_video_predictor(f"configs/sam2.1/{name}.yaml", None, device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "weights.pt"
        torch.save(model.state_dict(), weights)
        del model
        results = {}
        if args.frames:
            clip = Path(folder) / "clip"
            clip.mkdir()
            write_clip(clip, args.frames)
            results = {which: measure(which, weights, name, clip) for which in ("official", "ours")}
        if args.long:
            long_clip = Path(folder) / "long"
            long_clip.mkdir()
            write_clip(long_clip, args.long)
            results[f"ours, {args.long} frames"] = measure("ours", weights, name, long_clip)
    print(f"SAM 2.1 {name} video, random weights, 640x480 frames, one object; "
          f"{os.cpu_count()} CPUs, {torch.backends.cpu.get_cpu_capability()}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    reference = results["official"][0] if "official" in results else None
    for which, (seconds, mib) in results.items():
        ratio = f" ({reference / seconds:4.2f}x the official)" if reference else ""
        print(f"  {which:18s} {seconds:6.2f} s/frame{ratio}  peak memory growth {mib:7.0f} MiB")
    if args.long:
        frames_alone = args.long * 12  # MiB: the official keeps each frame, 1024x1024 float32
        print(f"  (the official keeps every frame: {frames_alone} MiB for {args.long} frames)")


if __name__ == "__main__":
    main()
