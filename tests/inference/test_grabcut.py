"""GrabCutSegmenter on real photos: prompts in, plausible masks out, measured against COCO."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps
from pycocotools import mask as mask_utils

from sam_annotator.inference import grabcut
from sam_annotator.inference.grabcut import GrabCutEncoding, GrabCutSegmenter
from sam_annotator.inference.segmenter import EncodedImage, Segmenter, UnsupportedOperationError
from sam_annotator.model.prompt_types import Candidate, PromptSet

# Boxes drawn by hand around the objects, XYXY in original pixels.
DOG_BOX = (0, 175, 420, 534)  # the bulldog in dog.jpg (800x534)
TRUCK_BOX = (85, 280, 1715, 845)  # the pick-up in truck.jpg (1800x1200)
TRUCK_SHADOW = (900, 790)  # on the dark ground under the truck, inside TRUCK_BOX
DOG_HEAD = (320, 290)  # on the bulldog's face


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


@pytest.fixture(scope="module")
def segmenter() -> GrabCutSegmenter:
    return GrabCutSegmenter()


@pytest.fixture(scope="module")
def dog(real_data: Path, segmenter: GrabCutSegmenter) -> GrabCutEncoding:
    return segmenter.encode(load_rgb(real_data / "images" / "dog.jpg"))


@pytest.fixture(scope="module")
def truck(real_data: Path, segmenter: GrabCutSegmenter) -> GrabCutEncoding:
    return segmenter.encode(load_rgb(real_data / "images" / "truck.jpg"))


def box_mask(size: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    out = np.zeros(size, bool)
    x0, y0, x1, y1 = (round(v) for v in box)
    out[y0:y1, x0:x1] = True
    return out


def disc(size: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.ogrid[: size[0], : size[1]]
    return (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


def best_mask(seg: GrabCutSegmenter, enc: EncodedImage, prompts: PromptSet) -> np.ndarray:
    candidates = seg.decode(enc, prompts)
    assert candidates, "expected at least one candidate"
    return seg.render(enc, candidates[0])


def test_it_is_a_segmenter(segmenter: GrabCutSegmenter, dog: GrabCutEncoding) -> None:
    assert isinstance(segmenter, Segmenter)
    assert isinstance(dog, EncodedImage)
    assert segmenter.name == "GrabCut (classical, no model)"
    assert segmenter.mask_input_supported
    assert dog.original_size == (534, 800)
    assert dog.model_id == segmenter.model_id
    assert max(dog.image.shape[:2]) == 640  # the downscaled working copy
    assert dog.nbytes == dog.image.nbytes


def test_encode_rejects_what_is_not_an_rgb_uint8_image(segmenter: GrabCutSegmenter) -> None:
    with pytest.raises(ValueError, match="uint8"):
        segmenter.encode(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        segmenter.encode(np.zeros((10, 10), np.uint8))


def test_no_object_prompt_gives_no_candidate(
    segmenter: GrabCutSegmenter, dog: GrabCutEncoding
) -> None:
    assert segmenter.decode(dog, PromptSet()) == []
    assert segmenter.decode(dog, PromptSet(points=((100, 300),), labels=(0,))) == []


def test_box_on_the_dog_gives_a_mask_inside_the_box(
    segmenter: GrabCutSegmenter, dog: GrabCutEncoding
) -> None:
    candidates = segmenter.decode(dog, PromptSet(box=DOG_BOX))
    assert 1 <= len(candidates) <= 3
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert [c.index for c in candidates] == list(range(len(candidates)))
    inside = box_mask(dog.original_size, DOG_BOX)
    for candidate in candidates:
        mask = segmenter.render(dog, candidate)
        assert mask.shape == dog.original_size and mask.dtype == bool
        assert np.count_nonzero(mask & ~inside) <= 0.01 * np.count_nonzero(mask)
        assert 0.35 <= np.count_nonzero(mask) / np.count_nonzero(inside) <= 0.95


def test_candidates_differ_meaningfully(segmenter: GrabCutSegmenter, truck) -> None:
    candidates = segmenter.decode(truck, PromptSet(points=((1100, 580),), labels=(1,)))
    masks = [segmenter.render(truck, c, (300, 450)) for c in candidates]
    for i in range(len(masks)):
        for j in range(i):
            assert iou(masks[i], masks[j]) < 0.97


def test_box_on_the_truck_covers_the_truck(segmenter: GrabCutSegmenter, truck) -> None:
    mask = best_mask(segmenter, truck, PromptSet(box=TRUCK_BOX))
    inside = box_mask(truck.original_size, TRUCK_BOX)
    assert np.count_nonzero(mask & ~inside) <= 0.01 * np.count_nonzero(mask)
    assert 0.5 <= np.count_nonzero(mask) / np.count_nonzero(inside) <= 0.95
    # The door panel and the bonnet, well inside the truck, are in the mask.
    assert mask[560, 760] and mask[500, 1450]


def test_negative_click_removes_the_region_around_it(segmenter: GrabCutSegmenter, truck) -> None:
    # The painted sure-background dot has a radius of about 22 px here; the region
    # checked is more than twice as wide, so it is GrabCut's answer, not the paint.
    size = truck.original_size
    before = best_mask(segmenter, truck, PromptSet(box=TRUCK_BOX))
    after = best_mask(
        segmenter, truck, PromptSet(box=TRUCK_BOX, points=(TRUCK_SHADOW,), labels=(0,))
    )
    near = disc(size, TRUCK_SHADOW, 50)
    assert before[near].mean() > 0.9  # GrabCut alone keeps the ground under the truck
    assert after[near].mean() < 0.4
    far = ~disc(size, TRUCK_SHADOW, 250)
    assert iou(before & far, after & far) > 0.9  # the truck itself stays


def test_negative_click_on_the_dog_face_removes_the_face_keeps_the_body(
    segmenter: GrabCutSegmenter, dog: GrabCutEncoding
) -> None:
    size = dog.original_size
    before = best_mask(segmenter, dog, PromptSet(box=DOG_BOX))
    after = best_mask(segmenter, dog, PromptSet(box=DOG_BOX, points=(DOG_HEAD,), labels=(0,)))
    near = disc(size, DOG_HEAD, 30)  # the painted dot has a radius of about 7 px here
    assert before[near].mean() > 0.9
    assert after[near].mean() < 0.4
    far = ~disc(size, DOG_HEAD, 80)
    assert iou(before & far, after & far) > 0.95


def test_positive_click_alone_offers_a_small_and_a_large_object(
    segmenter: GrabCutSegmenter, truck
) -> None:
    click = (1100, 580)  # on the front door
    candidates = segmenter.decode(truck, PromptSet(points=(click,), labels=(1,)))
    masks = [segmenter.render(truck, c) for c in candidates]
    inside = box_mask(truck.original_size, TRUCK_BOX)
    assert all(mask[click[1], click[0]] for mask in masks)
    assert all(np.count_nonzero(m & inside) >= 0.9 * np.count_nonzero(m) for m in masks)
    cover = [np.count_nonzero(m & inside) / np.count_nonzero(inside) for m in masks]
    assert min(cover) < 0.4 and max(cover) > 0.6  # part of the truck, and most of it


CAR_BOX = (250, 500, 1390, 1090)  # the dark red car on the left of cars.jpg (2250x1500)


def test_a_collapsed_grabcut_scores_low_and_is_retried_with_other_seeds(
    segmenter: GrabCutSegmenter, real_data: Path, monkeypatch
) -> None:
    # GrabCut's k-means start decides its answer: on this dark car, seeds 4 and 5 keep
    # only a sliver of chrome. The score must say so, and a retry must find the car.
    enc = segmenter.encode(load_rgb(real_data / "images" / "cars.jpg"))
    inside = box_mask(enc.original_size, CAR_BOX)

    def best() -> tuple[float, float]:
        top = segmenter.decode(enc, PromptSet(box=CAR_BOX))[0]
        mask = segmenter.render(enc, top)
        return top.score, np.count_nonzero(mask & inside) / np.count_nonzero(inside)

    score, cover = best()
    assert score > 0.5 and cover > 0.25  # the default seeds find the car

    monkeypatch.setattr(grabcut, "RUNS", ((4, 0.07), (5, 0.22)))
    monkeypatch.setattr(grabcut, "RETRY_SEEDS", ())
    score, cover = best()
    assert score < 0.1 and cover < 0.05  # collapsed, and the score admits it

    monkeypatch.setattr(grabcut, "RETRY_SEEDS", (3, 4))
    score, cover = best()
    assert score > 0.5 and cover > 0.25


def test_decode_is_deterministic_and_encodings_are_independent(
    segmenter: GrabCutSegmenter, dog: GrabCutEncoding, truck
) -> None:
    prompts = PromptSet(box=DOG_BOX, points=((150, 450),), labels=(1,))
    first = segmenter.decode(dog, prompts)
    segmenter.decode(truck, PromptSet(box=TRUCK_BOX))  # another image in between
    second = segmenter.decode(dog, prompts)
    assert [c.score for c in first] == [c.score for c in second]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(segmenter.render(dog, a), segmenter.render(dog, b))


def test_single_mask_output_is_the_best_candidate(
    segmenter: GrabCutSegmenter, dog: GrabCutEncoding
) -> None:
    prompts = PromptSet(box=DOG_BOX)
    best = segmenter.decode(dog, prompts)[0]
    (single,) = segmenter.decode(dog, prompts, multimask=False)
    assert single.index == best.index == 0
    assert single.score == best.score
    np.testing.assert_array_equal(segmenter.render(dog, single), segmenter.render(dog, best))
    # So asking for the single answer besides the alternatives adds no duplicate.
    with_single = segmenter.decode(dog, prompts, with_single=True)
    assert [c.index for c in with_single] == [c.index for c in segmenter.decode(dog, prompts)]


def test_render_at_display_size_matches_the_full_mask(segmenter: GrabCutSegmenter, truck) -> None:
    candidate = segmenter.decode(truck, PromptSet(box=TRUCK_BOX))[0]
    full = segmenter.render(truck, candidate)
    small = segmenter.render(truck, candidate, (300, 450))
    assert small.shape == (300, 450) and small.dtype == bool
    # Block-average the full mask down by 4 and compare.
    reduced = full.reshape(300, 4, 450, 4).mean(axis=(1, 3)) > 0.5
    assert iou(small, reduced) > 0.97
    with pytest.raises(ValueError, match="size"):
        segmenter.render(truck, candidate, (0, 10))


def test_render_refuses_foreign_candidates_and_encodings(
    segmenter: GrabCutSegmenter, dog: GrabCutEncoding, truck
) -> None:
    candidate = segmenter.decode(truck, PromptSet(box=TRUCK_BOX))[0]
    with pytest.raises(ValueError, match="not produced by GrabCut for this image"):
        segmenter.render(dog, candidate)
    with pytest.raises(ValueError, match="not produced by GrabCut"):
        segmenter.render(dog, Candidate(0.5, None, 0))

    class Foreign:
        original_size = (534, 800)
        model_id = "sam-vit_b-deadbeef"
        nbytes = 0

    with pytest.raises(ValueError, match="sam-vit_b-deadbeef"):
        segmenter.decode(Foreign(), PromptSet(box=DOG_BOX))


def test_unusual_boxes_do_not_crash(segmenter: GrabCutSegmenter, dog: GrabCutEncoding) -> None:
    h, w = dog.original_size
    whole = segmenter.decode(dog, PromptSet(box=(0, 0, w, h)))
    assert whole and all(segmenter.render(dog, c).any() for c in whole)
    for box in [(5000, 5000, 6000, 6000), (100, 100, 100, 100), (-50, -50, 20, 20)]:
        for candidate in segmenter.decode(dog, PromptSet(box=box)):
            assert segmenter.render(dog, candidate, (53, 80)).shape == (53, 80)


# Large, compact COCO objects, prompted with their ground-truth bbox. The IoU of GrabCut's
# best-scored candidate with the ground truth was measured at 0.68-0.86 on these
# (bus 0.85, persons 0.77 / 0.79 / 0.86, bear 0.68). Thin or cluttered ones fail honestly
# (motorcycle 150977: 0.37, skateboard 644215: 0.46) and are not asserted on.
COCO_OBJECTS = [167614, 436111, 185837, 197843, 588082]


def coco_objects(real_data: Path):
    """(annotation, its image's RGB, its HxW ground-truth mask) of each COCO_OBJECTS."""
    root = real_data / "coco"
    data = json.loads((root / "instances_val2017_subset.json").read_text())
    images = {image["id"]: image for image in data["images"]}
    annotations = {a["id"]: a for a in data["annotations"]}
    for ann_id in COCO_OBJECTS:
        ann = annotations[ann_id]
        info = images[ann["image_id"]]
        rles = mask_utils.frPyObjects(ann["segmentation"], info["height"], info["width"])
        truth = mask_utils.decode(mask_utils.merge(rles)).astype(bool)
        yield ann, load_rgb(root / "images" / info["file_name"]), truth


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_box_prompt_iou_against_coco_ground_truth(
    segmenter: GrabCutSegmenter, real_data: Path
) -> None:
    ious = []
    for ann, rgb, truth in coco_objects(real_data):
        x, y, w, h = ann["bbox"]
        enc = segmenter.encode(rgb)
        ious.append(iou(best_mask(segmenter, enc, PromptSet(box=(x, y, x + w, y + h))), truth))
    assert min(ious) >= 0.6, ious
    assert np.mean(ious) >= 0.7, ious


def test_grabcut_says_what_it_cannot_do(segmenter: GrabCutSegmenter, dog: GrabCutEncoding):
    image = np.zeros((*dog.original_size, 3), np.uint8)
    with pytest.raises(UnsupportedOperationError, match="needs a SAM model"):
        segmenter.propose_all(dog, image)


def test_a_mask_prompt_is_the_initial_labels_a_negative_click_cuts_from(
    segmenter: GrabCutSegmenter, dog: GrabCutEncoding
) -> None:
    """Refining an annotation: its mask is GrabCut's starting guess, so a negative click
    alone (no box) removes the dog's face and keeps the rest of the annotation."""
    size = dog.original_size
    annotation = best_mask(segmenter, dog, PromptSet(box=DOG_BOX))
    prompt = segmenter.mask_input_from_mask(dog, annotation)
    assert prompt.shape == (1, grabcut.MASK_PROMPT_SIDE, grabcut.MASK_PROMPT_SIDE)
    refine = PromptSet(points=(DOG_HEAD,), labels=(0,)).with_mask_input(prompt)
    after = best_mask(segmenter, dog, refine)
    near, far = disc(size, DOG_HEAD, 30), ~disc(size, DOG_HEAD, 80)
    assert annotation[near].mean() > 0.9 and after[near].mean() < 0.4
    assert iou(annotation & far, after & far) > 0.95
    # A positive click on another part adds it and keeps the annotation's own parts.
    corner = (700.5, 60.5)
    added = best_mask(
        segmenter, dog, PromptSet(points=(corner,), labels=(1,)).with_mask_input(prompt)
    )
    assert added[60, 700] and iou(annotation & ~added, annotation) < 0.1


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_refining_sloppy_annotations_gets_closer_to_coco_ground_truth(
    segmenter: GrabCutSegmenter, real_data: Path
) -> None:
    """Each COCO object's mask grown by 15 px (a sloppy annotation) as the mask prompt,
    plus one click inside: on average the result is much closer to the truth."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (31, 31))
    sloppy_ious, refined_ious = [], []
    for _ann, rgb, truth in coco_objects(real_data):
        sloppy = cv2.dilate(truth.astype(np.uint8), kernel).astype(bool)
        core = cv2.erode(truth.astype(np.uint8), kernel)
        ys, xs = np.nonzero(core if core.any() else truth)
        click = (xs[len(xs) // 2] + 0.5, ys[len(xs) // 2] + 0.5)
        enc = segmenter.encode(rgb)
        prompts = PromptSet(points=(click,), labels=(1,))
        refined = best_mask(
            segmenter, enc, prompts.with_mask_input(segmenter.mask_input_from_mask(enc, sloppy))
        )
        sloppy_ious.append(iou(sloppy, truth))
        refined_ious.append(iou(refined, truth))
    assert np.mean(refined_ious) > np.mean(sloppy_ious) + 0.08, (sloppy_ious, refined_ious)


def test_mask_prompts_of_the_wrong_size_are_refused(
    segmenter: GrabCutSegmenter, dog: GrabCutEncoding
) -> None:
    with pytest.raises(ValueError, match="the mask is 533x800"):
        segmenter.mask_input_from_mask(dog, np.zeros((533, 800), bool))
    sam_sized = PromptSet(box=DOG_BOX).with_mask_input(np.ones((1, 256, 256), np.float32))
    with pytest.raises(ValueError, match="1x640x640"):
        segmenter.decode(dog, sam_sized)
