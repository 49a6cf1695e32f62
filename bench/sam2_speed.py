"""SAM 2.1 for images: ``sam_core`` against the official ``sam2`` 1.1.0, same weights.

    .venv/bin/python bench/sam2_speed.py [--size t|s|b+] [--repeats 3] [--clicks 20]
        [--image tests/data/images/cars.jpg]

Builds the official model of the size (random weights: no official weights can be
downloaded here; speed does not depend on the values) and ours from its state_dict, then,
interleaved after a warm-up, times
- ``set_image``: the official ``SAM2ImagePredictor.set_image`` and ours;
- ``click``: ``predict`` with one positive click, multimask, masks at full resolution;
- ``app click``: what the app runs per click (``SamSegmenter.decode`` of all outputs at
  256x256 plus a display-size render of the best), against the official ``predict``;
- with ``--with-vit-b``, our SAM ViT-B ``set_image`` on the same photo, for the choice
  between SAM 2.1 Hiera-T and SAM ViT-B on a CPU;
- with ``--memory``, the peak memory growth of one ``set_image``: each predictor in a
  fresh process (the same weights through a file), the peak resident size during the
  call (Linux ``VmHWM`` after resetting it through ``/proc/self/clear_refs``) minus the
  resident size before it.
Prints min / median seconds, the ratio to the official and the largest difference of the
image embeddings, with the CPU's vector features; and the arithmetic floor of
``set_image``: its matrix products and attention counted in FLOP, over the best float32
matrix-product rate measured in the same run (no encoder doing that arithmetic in
float32 can be faster). The official package needs its
test-only stand-ins for torchvision (``tests/oracle.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench import peak_memory  # noqa: E402 (after the path is set)

CONFIGS = {"t": "sam2.1_hiera_t", "s": "sam2.1_hiera_s", "b+": "sam2.1_hiera_b+"}


def cpu_features() -> str:
    """CPU count and the vector instructions PyTorch's CPU kernels use here."""
    import torch

    return f"{os.cpu_count()} CPUs, {torch.backends.cpu.get_cpu_capability()}"


def timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(CONFIGS), default="t")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--image", default=str(REPO_ROOT / "tests/data/images/cars.jpg"))
    parser.add_argument(
        "--with-vit-b", action="store_true",
        help="also time our SAM ViT-B set_image on the photo (the model a CPU user would "
        "otherwise pick)",
    )  # fmt: skip
    parser.add_argument("--memory", action="store_true",
                        help="also measure each set_image's peak memory growth")
    parser.add_argument("--memory-child", nargs=3, metavar=("WHICH", "WEIGHTS", "SIZE"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child, args.image)
        return

    import numpy as np
    import torch
    from PIL import Image

    from sam_annotator.inference.allocator import keep_freed_memory
    from sam_annotator.inference.sam_segmenter import SamSegmenter
    from sam_annotator.model.prompt_types import PromptSet
    from sam_core.sam2 import SAM2ImagePredictor, sam2_from_state_dict
    from tests.oracle import official_sam2

    keep_freed_memory()
    official_sam2()
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor as OfficialPredictor

    torch.manual_seed(0)
    name = CONFIGS[args.size]
    official_model = build_sam2(f"configs/sam2.1/{name}.yaml", None, device="cpu", mode="eval")
    ours_model = sam2_from_state_dict(official_model.state_dict(), "bench")
    with Image.open(args.image) as opened:
        image = np.asarray(opened.convert("RGB"))
    official, ours = OfficialPredictor(official_model), SAM2ImagePredictor(ours_model)
    segmenter = SamSegmenter(ours_model)

    with torch.inference_mode():
        official.set_image(image)  # warm-up
        ours.set_image(image)
    diff = (official.get_image_embedding() - ours.get_image_embedding()).abs().max().item()
    encode = {"official": [], "ours": []}
    for _ in range(args.repeats):
        encode["official"] += timed(lambda: official.set_image(image), 1)
        encode["ours"] += timed(lambda: ours.set_image(image), 1)

    if args.with_vit_b:
        from sam_core import SamPredictor, build_sam_vit_b

        vit_b = SamPredictor(build_sam_vit_b())
        vit_b.set_image(image)  # warm-up
        encode["ours, SAM ViT-B"] = timed(lambda: vit_b.set_image(image), args.repeats)
        del vit_b

    height, width = image.shape[:2]
    point = np.array([[width * 0.5, height * 0.5]])
    label = np.array([1])
    encoded = segmenter.encode(image)
    prompts = PromptSet(points=((width * 0.5 + 0.5, height * 0.5 + 0.5),), labels=(1,))
    display = (height // 2, width // 2)

    def app_click() -> None:
        best = segmenter.decode(encoded, prompts)[0]
        segmenter.render(encoded, best, display)

    click = {"official": [], "ours": [], "app click": []}
    for _ in range(args.clicks):
        click["official"] += timed(lambda: official.predict(point, label), 1)
        click["ours"] += timed(lambda: ours.predict(point, label), 1)
        click["app click"] += timed(app_click, 1)

    memory = measure_memory(official_model, name, args.image) if args.memory else {}
    gflop, rate = set_image_gflop(ours, image), matrix_product_rate()

    print(f"SAM 2.1 {name}, {width}x{height} photo, random weights; {cpu_features()}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    print(f"embedding max difference to the official: {diff:.2e}")
    for title, runs in (("set_image (s)", encode), ("click (ms)", click)):
        scale = 1.0 if title.startswith("set") else 1e3
        reference = statistics.median(runs["official"])
        print(title)
        for label_name, values in runs.items():
            median = statistics.median(values)
            print(f"  {label_name:15s} min {min(values) * scale:8.2f}  median {median * scale:8.2f}"
                  f"  {reference / median:5.2f}x the official")  # fmt: skip
    floor = gflop / rate
    print(f"set_image arithmetic: {gflop:.0f} GFLOP in matrix products and attention; at the "
          f"best float32 product rate measured now ({rate:.0f} GFLOP/s) it alone takes "
          f"{floor:.2f} s: the official's median is "
          f"{statistics.median(encode['official']) / floor:.2f}x that, ours "
          f"{statistics.median(encode['ours']) / floor:.2f}x")  # fmt: skip
    if memory:
        print("set_image peak memory growth (MiB), each in a fresh process")
        for which, mib in memory.items():
            print(f"  {which:15s} {mib:8.0f}  {memory['official'] / mib:5.2f}x less than the"
                  " official")  # fmt: skip


def set_image_gflop(predictor, image) -> float:
    """GFLOP of one ``set_image`` of ``predictor``: matrix products, convolutions and
    attention (2 per multiply-add), counted by PyTorch's ``FlopCounterMode`` (taught the
    CPU attention kernel)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    def attention_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
        batch, heads, queries, width = query
        return 2 * batch * heads * queries * key[-2] * (width + value[-1])

    kernel = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    counter = FlopCounterMode(display=False, custom_mapping={kernel: attention_flop})
    with torch.inference_mode(), counter:
        predictor.set_image(image)
    return counter.get_total_flops() / 1e9


def matrix_product_rate() -> float:
    """The best float32 matrix-product rate (GFLOP/s) of a few of Hiera's product shapes
    on this CPU now: the pace of the arithmetic no encoder can avoid."""
    import torch

    best = 0.0
    for rows, inner, cols in ((4096, 384, 1536), (4096, 1536, 384), (1024, 768, 3072)):
        a, b = torch.randn(rows, inner), torch.randn(inner, cols)
        seconds = min(timed(lambda a=a, b=b: a @ b, 5)[1:])
        best = max(best, 2 * rows * inner * cols / seconds / 1e9)
    return best


def measure_memory(official_model, name: str, image_path: str) -> dict[str, float]:
    """{"official": MiB, "ours": MiB}: one set_image's peak growth, each in a fresh
    process given the same weights."""
    import subprocess
    import tempfile

    import torch

    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "weights.pt"
        torch.save(official_model.state_dict(), weights)
        result = {}
        for which in ("official", "ours"):
            command = [sys.executable, __file__, "--image", image_path,
                       "--memory-child", which, str(weights), name]  # fmt: skip
            output = subprocess.run(command, check=True, capture_output=True, text=True)
            result[which] = float(output.stdout.strip().splitlines()[-1])
    return result


def memory_child(which: str, weights: str, name: str, image_path: str) -> None:
    """Print the peak growth (MiB) of one set_image of `which` predictor."""
    import numpy as np
    import torch
    from PIL import Image

    from tests.oracle import official_sam2

    state = torch.load(weights, weights_only=True)
    if which == "official":
        official_sam2()
        from sam2.build_sam import build_sam2
        from sam2.sam2_image_predictor import SAM2ImagePredictor as Predictor

        model = build_sam2(f"configs/sam2.1/{name}.yaml", None, device="cpu", mode="eval")
        model.load_state_dict(state)
    else:
        from sam_core.sam2 import SAM2ImagePredictor as Predictor
        from sam_core.sam2 import sam2_from_state_dict

        model = sam2_from_state_dict(state, "bench")
    del state
    with Image.open(image_path) as opened:
        image = np.asarray(opened.convert("RGB"))
    predictor = Predictor(model)
    before = peak_memory.start()
    with torch.inference_mode():
        predictor.set_image(image)
    print(peak_memory.growth_mib(before))


if __name__ == "__main__":
    main()
