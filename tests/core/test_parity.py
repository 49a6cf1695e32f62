"""Parity with the official segment_anything 1.0 on identical random weights.

Both implementations get the same tiny-encoder weights (every tensor random, see
conftest) and the same images; embeddings, low-res logits and IoU predictions must
agree to 1e-4 and the thresholded masks must be identical.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core import SamPredictor
from tests.core.conftest import photo, synthetic_image

TOLERANCE = 1e-4

# name -> (file, height, width): odd sizes, one portrait and one landscape photo.
PHOTOS = {
    "portrait": ("skateboard_portrait.jpg", 633, 421),
    "landscape": ("dog.jpg", 517, 777),
}


@pytest.fixture(scope="module", params=["portrait", "landscape", "synthetic"])
def predictors(request, tiny_model, official_tiny_model, official_sa):
    """(ours, official, image) with the image set in both predictors."""
    if request.param == "synthetic":
        image = synthetic_image(333, 501)
    else:
        name, height, width = PHOTOS[request.param]
        image = photo(request.getfixturevalue("real_data"), name, height, width)
    ours = SamPredictor(tiny_model)
    theirs = official_sa.SamPredictor(official_tiny_model)
    ours.set_image(image)
    theirs.set_image(image)
    return ours, theirs, image


def max_diff(a, b) -> float:
    a = torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a, dtype=torch.float64)
    b = torch.as_tensor(np.asarray(b) if not torch.is_tensor(b) else b, dtype=torch.float64)
    assert a.shape == b.shape
    return float((a - b).abs().max())


def test_image_embeddings_match(predictors):
    ours, theirs, image = predictors
    assert ours.original_size == tuple(theirs.original_size) == image.shape[:2]
    assert ours.input_size == tuple(theirs.input_size)
    assert ours.get_image_embedding().shape == (1, 256, 64, 64)
    diff = max_diff(ours.get_image_embedding(), theirs.get_image_embedding())
    print(f"embedding max abs diff {diff:.3g}")
    assert diff <= TOLERANCE


def _scenario(name: str, height: int, width: int):
    """Prompts (in original-image pixels) for a named scenario."""

    def pts(*xy):
        return np.array([[x * width, y * height] for x, y in xy])

    box = np.array([0.2 * width, 0.25 * height, 0.7 * width, 0.8 * height])
    one = {"point_coords": pts((0.5, 0.45)), "point_labels": np.array([1])}
    clicks = {
        "point_coords": pts((0.3, 0.4), (0.62, 0.5), (0.5, 0.81), (0.15, 0.2)),
        "point_labels": np.array([1, 0, 1, 0]),
    }
    return {
        "one_click_multimask": (one, True, False),
        "one_click_single": (one, False, False),
        "several_clicks_single": (clicks, False, False),
        "several_clicks_multimask": (clicks, True, False),
        "box_only": ({"box": box}, False, False),
        "box_and_negative_click": (
            {"box": box, "point_coords": pts((0.45, 0.5)), "point_labels": np.array([0])},
            True,
            False,
        ),
        "return_logits": (one, True, True),
    }[name]


SCENARIOS = [
    "one_click_multimask",
    "one_click_single",
    "several_clicks_single",
    "several_clicks_multimask",
    "box_only",
    "box_and_negative_click",
    "return_logits",
]


#: Boolean masks may differ only where a logit lies within float rounding of the threshold.
MAX_AMBIGUOUS_FLIPS = 20


def ambiguous_pixels(ours, kwargs) -> np.ndarray:
    """Where our full-resolution logits are so close to the threshold (0) that rounding
    differences within TOLERANCE could put the official logit on the other side."""
    logits = ours.predict(**{**kwargs, "return_logits": True})[0]
    return np.abs(logits) <= 2 * TOLERANCE


def assert_same_prediction(
    ours_out, theirs_out, return_logits: bool, ambiguous: np.ndarray | None = None
) -> None:
    masks, iou, low_res = ours_out
    their_masks, their_iou, their_low_res = theirs_out
    assert masks.shape == their_masks.shape and masks.dtype == their_masks.dtype
    assert low_res.shape == their_low_res.shape and low_res.shape[1:] == (256, 256)
    assert max_diff(low_res, their_low_res) <= TOLERANCE
    assert max_diff(iou, their_iou) <= TOLERANCE
    if return_logits:
        assert masks.dtype == np.float32
        assert max_diff(masks, their_masks) <= TOLERANCE
    else:
        assert masks.dtype == np.bool_
        differ = masks != their_masks
        if ambiguous is not None:
            assert not np.any(differ & ~ambiguous), "a mask differs away from the threshold"
            assert int(differ.sum()) <= MAX_AMBIGUOUS_FLIPS
        else:
            assert not np.any(differ)
        # The comparison means something only if the masks are not constant.
        counts = their_masks.reshape(len(their_masks), -1).sum(axis=1)
        size = their_masks[0].size
        assert np.any((counts >= 100) & (counts <= size - 100)), counts


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_predictions_match(predictors, scenario):
    ours, theirs, image = predictors
    prompts, multimask, return_logits = _scenario(scenario, *image.shape[:2])
    kwargs = {**prompts, "multimask_output": multimask, "return_logits": return_logits}
    ours_out = ours.predict(**kwargs)
    theirs_out = theirs.predict(**kwargs)
    assert ours_out[0].shape == (3 if multimask else 1, *image.shape[:2])
    print(
        f"{scenario}: low-res max abs diff {max_diff(ours_out[2], theirs_out[2]):.3g}, "
        f"iou {max_diff(ours_out[1], theirs_out[1]):.3g}"
    )
    ambiguous = None if return_logits else ambiguous_pixels(ours, kwargs)
    assert_same_prediction(ours_out, theirs_out, return_logits, ambiguous)


@pytest.mark.parametrize("multimask", [False, True])
def test_click_with_previous_logits_as_mask_input_matches(predictors, multimask):
    ours, theirs, image = predictors
    height, width = image.shape[:2]
    first = {"point_coords": np.array([[0.5 * width, 0.45 * height]]), "point_labels": [1]}
    _, iou, low_res = theirs.predict(**first, multimask_output=True)
    previous = low_res[np.argmax(iou)][None, :, :]  # 1x256x256 logits
    second = {
        "point_coords": np.array([[0.5 * width, 0.45 * height], [0.3 * width, 0.7 * height]]),
        "point_labels": np.array([1, 0]),
        "mask_input": previous,
        "multimask_output": multimask,
    }
    ours_out = ours.predict(**second)
    theirs_out = theirs.predict(**second)
    assert_same_prediction(ours_out, theirs_out, False, ambiguous_pixels(ours, second))
    # The mask input must change the result, or this test would not exercise it.
    without = theirs.predict(**{k: v for k, v in second.items() if k != "mask_input"})
    assert max_diff(without[2], theirs_out[2]) > 1e-2


def test_predict_torch_batched_matches(predictors):
    ours, theirs, image = predictors
    height, width = image.shape[:2]
    rng = np.random.default_rng(3)
    coords = rng.uniform(0, 1, (4, 3, 2)) * np.array([width, height])
    labels = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0]])
    corners = np.sort(rng.uniform(0, 1, (4, 2, 2)), axis=1) * np.array([width, height])
    boxes = corners.reshape(4, 4)

    coords_t = ours.transform.apply_coords_torch(torch.as_tensor(coords), image.shape[:2])
    boxes_t = ours.transform.apply_boxes_torch(torch.as_tensor(boxes), image.shape[:2])
    their_coords = theirs.transform.apply_coords_torch(torch.as_tensor(coords), image.shape[:2])
    assert max_diff(coords_t, their_coords) == 0
    labels_t = torch.as_tensor(labels, dtype=torch.int)

    for kwargs in (
        {"point_coords": coords_t, "point_labels": labels_t},
        {"point_coords": coords_t, "point_labels": labels_t, "boxes": boxes_t},
    ):
        masks, iou, low_res = ours.predict_torch(**kwargs, multimask_output=True)
        with torch.no_grad():
            their_masks, their_iou, their_low_res = theirs.predict_torch(
                **kwargs, multimask_output=True
            )
        assert masks.shape == (4, 3, height, width)
        assert max_diff(low_res, their_low_res) <= TOLERANCE
        assert max_diff(iou, their_iou) <= TOLERANCE
        logits = ours.predict_torch(**kwargs, multimask_output=True, return_logits=True)[0]
        differ = masks != their_masks
        assert not torch.any(differ & (logits.abs() > 2 * TOLERANCE))
        assert int(differ.sum()) <= MAX_AMBIGUOUS_FLIPS


def test_sam_forward_batched_matches(tiny_model, official_tiny_model):
    """``Sam.forward`` (the batched end-to-end API) on two images with several prompts."""
    records = []
    for seed, (height, width) in ((5, (211, 317)), (6, (389, 257))):
        image = synthetic_image(height, width, seed=seed)
        from sam_core.utils.transforms import ResizeLongestSide

        transform = ResizeLongestSide(1024)
        resized = torch.as_tensor(transform.apply_image(image)).permute(2, 0, 1).contiguous()
        coords = torch.tensor([[[0.4 * width, 0.5 * height]], [[0.7 * width, 0.2 * height]]])
        records.append(
            {
                "image": resized,
                "original_size": (height, width),
                "point_coords": transform.apply_coords_torch(coords, (height, width)),
                "point_labels": torch.ones(2, 1, dtype=torch.int),
                "boxes": transform.apply_boxes_torch(
                    torch.tensor([[10.0, 20.0, 0.8 * width, 0.9 * height]] * 2), (height, width)
                ),
            }
        )
    ours = tiny_model(records, multimask_output=False)
    theirs = official_tiny_model(records, multimask_output=False)
    for ours_out, their_out in zip(ours, theirs, strict=True):
        assert ours_out["masks"].shape == their_out["masks"].shape
        assert torch.equal(ours_out["masks"], their_out["masks"])
        assert max_diff(ours_out["low_res_logits"], their_out["low_res_logits"]) <= TOLERANCE
        assert max_diff(ours_out["iou_predictions"], their_out["iou_predictions"]) <= TOLERANCE
