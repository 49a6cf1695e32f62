"""sam_core.mask_logits: SAM's low-res logits <-> the original image, both directions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from sam_core import build_sam_vit_tiny_test, logits_to_size, mask_to_logits
from sam_core.mask_logits import MASK_PROMPT_LOGIT, upscale_logits


@pytest.mark.parametrize("size", [(534, 800), (267, 400), (100, 150)])
def test_one_step_resample_matches_the_official_two_step_upsampling(size) -> None:
    # A smooth logit field (real SAM logits are smooth; random-model ones are noise).
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
    field = np.sin(xx / 9.0) + np.cos(yy / 13.0)
    with torch.inference_mode():
        official = upscale_logits(torch.from_numpy(field)[None, None], (683, 1024), size, 1024)
    ours = logits_to_size(field, (683, 1024), (2 * size[0], 2 * size[1]), 1024, size)
    assert np.abs(ours - official[0, 0].numpy()).max() < 0.02  # of an amplitude of 2


def affine_resample(logits: np.ndarray, input_size, size) -> np.ndarray:
    """The display resample by its definition: one bilinear affine warp, edges replicated."""
    valid_h, valid_w = input_size[0] / 4, input_size[1] / 4
    sx, sy = valid_w / size[1], valid_h / size[0]
    matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(logits, matrix, size[::-1], flags=flags, borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize(
    ("input_size", "size"),
    [
        ((683, 1024), (1000, 1500)),  # enlarged, the image part not a whole number of cells
        ((683, 1024), (100, 150)),  # reduced
        ((1024, 683), (1500, 1000)),  # portrait
        ((1024, 1024), (512, 512)),  # the whole grid, exactly twice
        ((1024, 1024), (256, 256)),  # the grid itself
        ((1024, 1022), (7, 5)),  # the part ends inside the last cell
        ((16, 1024), (3, 700)),  # a strip a few cells high
    ],
)
def test_display_resample_is_the_affine_warp(input_size, size) -> None:
    field = np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32)
    ours = logits_to_size(field, input_size, (2 * size[0], 2 * size[1]), 1024, size)
    assert ours.shape == size and ours.dtype == np.float32
    np.testing.assert_allclose(ours, affine_resample(field, input_size, size), atol=1e-4)


def test_at_the_original_size_it_is_the_models_official_postprocessing() -> None:
    torch.manual_seed(0)
    model = build_sam_vit_tiny_test().eval()
    field = torch.randn(3, 256, 256)
    with torch.inference_mode():
        official = model.postprocess_masks(field[:, None], (683, 1024), (534, 800))[:, 0]
    ours = logits_to_size(field.numpy(), (683, 1024), (534, 800), 1024)
    assert ours.shape == (3, 534, 800)
    np.testing.assert_array_equal(ours, official.numpy())


@pytest.mark.parametrize(
    ("original", "input_size"), [((534, 800), (683, 1024)), ((640, 427), (1024, 683))]
)
def test_a_mask_becomes_a_prompt_that_upsamples_back_to_itself(original, input_size) -> None:
    mask = np.zeros(original, bool)
    h, w = original
    mask[h // 5 : h // 2, w // 4 : 3 * w // 4] = True  # a block ...
    mask[h // 3 : h // 3 + 40, w // 3 : w // 3 + 40] = False  # ... with a hole
    prompt = mask_to_logits(mask, input_size, 1024, 256)
    assert prompt.shape == (1, 256, 256) and prompt.dtype == np.float32
    assert not prompt.flags.writeable
    assert np.abs(prompt).max() == pytest.approx(MASK_PROMPT_LOGIT, rel=1e-5)
    # The padding is outside; the image part holds the mask.
    assert (prompt[0, round(input_size[0] / 4) + 1 :, :] < 0).all()
    back = logits_to_size(prompt[0], input_size, original, 1024) > 0
    iou = (back & mask).sum() / (back | mask).sum()
    assert iou > 0.97


def test_mask_to_logits_refuses_what_is_not_a_mask() -> None:
    with pytest.raises(ValueError, match="HxW"):
        mask_to_logits(np.zeros((4, 4, 3), bool), (1024, 1024), 1024, 256)
    with pytest.raises(ValueError, match="HxW"):
        mask_to_logits(np.zeros((0, 4), bool), (1024, 1024), 1024, 256)
