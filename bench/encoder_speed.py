"""Image encoder: our ``set_image`` against the official one, same weights, same run.

    .venv/bin/python bench/encoder_speed.py [--model vit_b] [--repeats 3] [--runs 2]
        [--image tests/data/images/cars.jpg] [--variants official,ours,ours+alloc]

Every measurement runs in a fresh process (so peak memory is its own), interleaved over
the variants, each with identical random weights (seed 0; the official ``Sam`` built
from ``segment_anything`` 1.0 classes). In each process the image is encoded ``--runs``
times: run 1 is "cold" (the first image after start-up), the later runs "warm" (what
every further image costs). Variants:

- ``official``: ``segment_anything.SamPredictor.set_image`` (for ``vit_t``: MobileSAM's
  reference ``mobile_sam.SamPredictor``, from ``mobilesam-mirror``);
- ``ours``: ``sam_core.SamPredictor.set_image``, default process settings;
- ``ours+alloc`` / ``official+alloc``: the same after
  ``sam_annotator.inference.allocator.keep_freed_memory()`` (what the app sets).

Prints per variant the cold and warm seconds (min / median over processes), the peak
resident-memory growth during ``set_image`` (VmHWM above the RSS before it, Linux
/proc), minor page faults, the speed ratio against the official measured in the same
run, and the largest absolute difference of each embedding from the official one.
Linux only (reads /proc/self/status and resets VmHWM through /proc/self/clear_refs).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_IMAGE = REPO / "tests" / "data" / "images" / "cars.jpg"
VARIANTS = ("official", "ours", "ours+alloc", "official+alloc")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets VmHWM to the current RSS


def worker(args: argparse.Namespace) -> None:
    """One process: build the model, encode the image ``--runs`` times, print JSON."""
    variant = args.worker
    if variant.endswith("+alloc"):
        from sam_annotator.inference.allocator import keep_freed_memory

        if not keep_freed_memory():
            raise SystemExit("keep_freed_memory() did not apply on this system")
    import gc

    import numpy as np
    import torch

    from sam_annotator.io.images import load_image
    from sam_core import SamPredictor, sam_model_registry
    from tests.core.conftest import build_official_sam, random_state_dict

    image = load_image(args.image)
    state = random_state_dict(sam_model_registry[args.model]().state_dict(), seed=0)
    if variant.startswith("official") and args.model == "vit_t":
        from tests.oracle import official_mobile_sam

        reference = official_mobile_sam()  # MobileSAM's own code (mobilesam-mirror)
        model = reference.sam_model_registry["vit_t"]()
        model.load_state_dict(state)
        predictor = reference.SamPredictor(model.eval())
    elif variant.startswith("official"):
        from tests.oracle import official_segment_anything

        model = build_official_sam(args.model)
        model.load_state_dict(state)
        predictor = official_segment_anything().SamPredictor(model.eval())
    else:
        model = sam_model_registry[args.model]()
        model.load_state_dict(state)
        predictor = SamPredictor(model.eval())
    del state
    gc.collect()
    baseline = _status_kib("VmRSS")
    times, peaks, faults = [], [], []
    for _ in range(args.runs):
        _reset_peak()
        minflt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        predictor.set_image(image)
        times.append(time.perf_counter() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - minflt)
        peaks.append((_status_kib("VmHWM") - baseline) / 1024)
    if args.save_embedding:
        np.save(args.save_embedding, predictor.get_image_embedding().detach().numpy())
    result = {
        "times": times,
        "peak_mib": peaks,
        "minflt": faults,
        "threads": torch.get_num_threads(),
        "shape": list(image.shape),
    }
    print(json.dumps(result))


def run_worker(args: argparse.Namespace, variant: str, save: Path | None) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        variant,
        "--model",
        args.model,
        "--image",
        str(args.image),
        "--runs",
        str(args.runs),
    ]
    if save is not None:
        command += ["--save-embedding", str(save)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_b", choices=["vit_b", "vit_l", "vit_h", "vit_t"])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--repeats", type=int, default=3, help="processes per variant")
    parser.add_argument("--runs", type=int, default=2, help="set_image calls per process")
    parser.add_argument("--variants", default="official,ours,ours+alloc")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--save-embedding", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    results: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        saved = {v: Path(tmp) / f"{v.replace('+', '_')}.npy" for v in variants}
        for repeat in range(args.repeats):
            for variant in variants:
                save = saved[variant] if repeat == 0 else None
                result = run_worker(args, variant, save)
                results[variant].append(result)
                print(
                    f"  [{repeat + 1}/{args.repeats}] {variant:>14}: "
                    + ", ".join(f"{t:.2f} s" for t in result["times"])
                    + f"; peak +{max(result['peak_mib']):.0f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
        diffs = _embedding_diffs(saved) if "official" in saved else {}

    first = results[variants[0]][0]
    height, width = first["shape"][:2]
    print(
        f"{args.model} set_image on {args.image.name} ({height}x{width}), random weights, "
        f"torch threads {first['threads']}, {args.repeats} processes x {args.runs} runs"
    )
    print(
        f"{'variant':>15} | {'cold min':>8} {'median':>7} | {'warm min':>8} {'median':>7} | "
        f"{'peak MiB':>8} | {'faults/run':>10} | {'x official':>10} | {'max |diff|':>10}"
    )
    summary = {}
    for variant, runs in results.items():
        cold = [r["times"][0] for r in runs]
        warm = [t for r in runs for t in r["times"][1:]] or cold
        peak = max(p for r in runs for p in r["peak_mib"])
        faults = statistics.median(f for r in runs for f in r["minflt"][1:] or r["minflt"])
        summary[variant] = (min(cold), min(warm))
        diff = diffs.get(variant)
        print(
            f"{variant:>15} | {min(cold):8.2f} {statistics.median(cold):7.2f} | "
            f"{min(warm):8.2f} {statistics.median(warm):7.2f} | {peak:8.0f} | {faults:10.0f} | "
            + (
                f"{summary['official'][1] / min(warm):9.2f}x"
                if "official" in summary
                else f"{'':>10}"
            )
            + (f" | {diff:10.2e}" if diff is not None else "")
        )
    print("x official: official warm min / variant warm min (higher is faster)")
    return 0


def _embedding_diffs(saved: dict[str, Path]) -> dict[str, float]:
    import numpy as np

    reference = np.load(saved["official"]).astype(np.float64)
    return {v: float(np.abs(np.load(p) - reference).max()) for v, p in saved.items()}


if __name__ == "__main__":
    sys.exit(main())
