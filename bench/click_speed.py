"""Click-to-mask: the app's decode + display render against the official ``predict``.

    .venv/bin/python bench/click_speed.py [--repeats 30] [--display 1000x1500]
        [--image tests/data/images/cars.jpg] [--default-allocator]

The photo (1500x2250) is encoded once with ViT-B random weights (seed 0); the official
predictor gets the very same embedding. Then, interleaved, after a warm-up, for two
prompt states of the app's policy (``sam_annotator.model.prompts``):

- "1 click": one positive click -> the three multimask candidates;
- "3 clicks + mask": two positive and one negative click plus the previous candidate's
  low-res logits as ``mask_input`` -> multimask candidates and the single output.

it times
- ``official``: ``segment_anything.SamPredictor.predict`` as a tool calls it per click
  (multimask, and a second ``multimask_output=False`` call where the policy also wants
  the single output), masks at full resolution;
- ``ours predict``: ``sam_core.SamPredictor.predict`` with the same calls (same API);
- ``app click``: what the GUI worker runs per click, prompts to a shown mask:
  ``SamSegmenter.decode`` (all outputs from one decoder call, 256x256)
  plus ``render`` of the best candidate at the display size (``--display``, HxW);
- ``accept``: ``render`` of the chosen candidate at full resolution (the official
  post-processing), done once per object.

The process runs with the app's memory settings
(``sam_annotator.inference.allocator.keep_freed_memory()``, which ``sam-annotator`` sets
at start), so freed click temporaries are reused rather than faulted in again; all
variants share them. ``--default-allocator`` measures without.

Prints min / median milliseconds and the ratio against the official.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sam_annotator.inference.allocator import keep_freed_memory  # noqa: E402
from sam_annotator.inference.sam_segmenter import SamSegmenter  # noqa: E402
from sam_annotator.io.images import load_image  # noqa: E402
from sam_annotator.model.prompt_types import PromptSet  # noqa: E402
from sam_core import sam_model_registry  # noqa: E402
from tests.core.conftest import build_official_sam, random_state_dict  # noqa: E402
from tests.oracle import official_segment_anything  # noqa: E402

DEFAULT_IMAGE = REPO / "tests" / "data" / "images" / "cars.jpg"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--display", default="1000x1500", help="display mask size HxW")
    parser.add_argument(
        "--default-allocator", action="store_true", help="skip the app's memory settings"
    )
    args = parser.parse_args()
    if not args.default_allocator and not keep_freed_memory():
        raise SystemExit("keep_freed_memory() did not apply here; use --default-allocator")
    display = tuple(int(v) for v in args.display.lower().split("x"))

    image = load_image(args.image)
    height, width = image.shape[:2]
    state = random_state_dict(sam_model_registry["vit_b"]().state_dict(), seed=0)
    model = sam_model_registry["vit_b"]()
    model.load_state_dict(state)
    segmenter = SamSegmenter(model.eval())
    official_model = build_official_sam("vit_b")
    official_model.load_state_dict(state)
    official = official_segment_anything().SamPredictor(official_model.eval())

    start = time.perf_counter()
    encoded = segmenter.encode(image)
    print(f"(encoded once in {time.perf_counter() - start:.1f} s)", file=sys.stderr)
    embedding = encoded.embedding
    official.reset_image()
    official.features = embedding.features.clone()
    official.original_size = embedding.original_size
    official.input_size = embedding.input_size
    official.is_image_set = True
    ours = segmenter._decoder  # a sam_core.SamPredictor on the same model
    ours.set_embedding(embedding)

    # Prompt states in continuous image coordinates (the app's frame) ...
    first = PromptSet(points=((0.45 * width, 0.55 * height),), labels=(1,))
    previous = segmenter.decode(encoded, first)[0]
    several = PromptSet(
        points=(
            (0.45 * width, 0.55 * height),
            (0.6 * width, 0.5 * height),
            (0.3 * width, 0.3 * height),
        ),
        labels=(1, 1, 0),
        mask_input=previous.low_res_logits,
    )
    scenarios = {"1 click": (first, False), "3 clicks + mask": (several, True)}

    def predictor_calls(predictor, prompts: PromptSet, with_single: bool):
        kwargs = {
            "point_coords": prompts.point_coords() - 0.5,
            "point_labels": prompts.point_labels(),
            "mask_input": None if prompts.mask_input is None else prompts.mask_input.copy(),
        }

        def run():
            out = predictor.predict(**kwargs, multimask_output=True)
            if with_single:
                predictor.predict(**kwargs, multimask_output=False)
            return out

        return run

    def app_click(prompts: PromptSet, with_single: bool):
        generation = [0]

        def run():
            generation[0] += 1
            # New prompts per click (the segmenter remembers its latest answer): move the
            # first click by a fraction of a pixel.
            nudge = 0.25 * (generation[0] % 8)
            points = ((prompts.points[0][0] + nudge, prompts.points[0][1]), *prompts.points[1:])
            fresh = PromptSet(points, prompts.labels, prompts.box, prompts.mask_input)
            candidates = segmenter.decode(encoded, fresh, with_single=with_single)
            return segmenter.render(encoded, candidates[0], display)

        return run

    def accept(prompts: PromptSet):
        candidate = segmenter.decode(encoded, prompts, with_single=True)[0]
        return lambda: segmenter.render(encoded, candidate, None)

    print(
        f"click-to-mask on {args.image.name} ({height}x{width}), ViT-B decoder, display "
        f"{display[0]}x{display[1]}, torch threads {torch.get_num_threads()}, "
        f"{'default' if args.default_allocator else 'app'} memory settings, "
        f"{args.repeats} interleaved repeats after a warm-up"
    )
    with torch.inference_mode():
        for name, (prompts, with_single) in scenarios.items():
            variants = {
                "official": predictor_calls(official, prompts, with_single),
                "ours predict": predictor_calls(ours, prompts, with_single),
                "app click": app_click(prompts, with_single),
                "accept": accept(prompts),
            }
            times = {v: [] for v in variants}
            for run in variants.values():
                run()  # warm-up
            for _ in range(args.repeats):
                for variant, run in variants.items():
                    start = time.perf_counter()
                    run()
                    times[variant].append(1000 * (time.perf_counter() - start))
            calls = "2 predict calls" if with_single else "1 predict call"
            print(f"{name} ({calls} for the official):")
            reference = min(times["official"])
            for variant, values in times.items():
                best = min(values)
                print(
                    f"  {variant:>13}: min {best:7.1f} ms, median {statistics.median(values):7.1f}"
                    f" ms, {reference / best:5.1f}x the official"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
