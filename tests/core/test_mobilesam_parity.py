"""MobileSAM (vit_t) parity with the reference ``mobile_sam`` package on the same weights.

Both models get one random state_dict in which every tensor matters (conftest's
``random_state_dict``: BatchNorm running statistics, attention biases, the neck, the
prompt encoder and decoder), and the same odd-sized photos. Through our ``SamPredictor``
and ``mobile_sam.SamPredictor``: embeddings, low-res logits and IoU predictions agree to
1e-4, for clicks, boxes, previous logits as mask input, with and without multimask
output, and the thresholded masks are identical at every pixel whose logit is not
within float noise (1e-4) of the threshold.

Why that proviso: our encoder computes the same function with other kernels (folded
BatchNorm, fused oneDNN convolutions, SDPA), so embeddings differ by ~1e-5 and a pixel
whose upsampled logit is ~1e-7 from zero may land on the other side. The reference
does the same to itself: run with 1 thread instead of 2, its embeddings move by ~5e-6
and the same one-pixel flips appear (see docs/mobilesam.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core import SamPredictor, build_sam_vit_t
from sam_core.modeling import fused_ops
from tests.core.conftest import photo, random_state_dict
from tests.core.test_parity import SCENARIOS, _scenario, max_diff
from tests.oracle import official_mobile_sam

TOLERANCE = 1e-4
# At most this many pixels of a prediction may differ, all of them ambiguous.
MAX_AMBIGUOUS_FLIPS = 20

# name -> (file, height, width): odd sizes, one portrait and one landscape photo.
PHOTOS = {
    "portrait": ("skateboard_portrait.jpg", 633, 421),
    "landscape": ("dog.jpg", 517, 777),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run this module on one thread: on a busy 2-core machine, OpenMP barriers between
    two threads make the decoder's many small ops up to 10x slower in wall time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def vit_t_state_dict() -> dict[str, torch.Tensor]:
    return random_state_dict(build_sam_vit_t().state_dict(), seed=7)


@pytest.fixture(scope="module")
def our_vit_t(vit_t_state_dict):
    model = build_sam_vit_t()  # already in eval mode: weights loaded afterwards must count
    model.load_state_dict(vit_t_state_dict, strict=True)
    return model


@pytest.fixture(scope="module")
def their_vit_t(vit_t_state_dict):
    model = official_mobile_sam().build_sam_vit_t()
    model.load_state_dict(vit_t_state_dict, strict=True)
    return model.eval()  # the reference caches its attention biases in eval(): refresh


@pytest.fixture(scope="module", params=sorted(PHOTOS))
def predictors(request, real_data, our_vit_t, their_vit_t):
    """(ours, reference, image) with the image set in both predictors."""
    name, height, width = PHOTOS[request.param]
    image = photo(real_data, name, height, width)
    ours = SamPredictor(our_vit_t)
    theirs = official_mobile_sam().SamPredictor(their_vit_t)
    ours.set_image(image)
    theirs.set_image(image)
    return ours, theirs, image


def test_image_embeddings_match(predictors):
    ours, theirs, image = predictors
    assert ours.original_size == tuple(theirs.original_size) == image.shape[:2]
    assert ours.input_size == tuple(theirs.input_size)
    embedding = ours.get_image_embedding()
    assert embedding.shape == (1, 256, 64, 64) and embedding.is_contiguous()
    diff = max_diff(embedding, theirs.get_image_embedding())
    print(f"vit_t embedding max abs diff {diff:.3g} (values std {float(embedding.std()):.3g})")
    assert diff <= TOLERANCE
    assert float(embedding.std()) > 0.1  # a real signal, not a constant


def assert_same_prediction(ours, theirs, prompts: dict, return_logits: bool) -> np.ndarray:
    """Our ``predict`` output equals the reference's (``theirs`` is its predictor); returns
    our masks."""
    masks, iou, low_res = ours.predict(**prompts, return_logits=return_logits)
    their_logits, their_iou, their_low_res = theirs.predict(**prompts, return_logits=True)
    their_masks = their_logits if return_logits else their_logits > theirs.model.mask_threshold
    assert masks.shape == their_masks.shape and masks.dtype == their_masks.dtype
    assert low_res.shape == their_low_res.shape and low_res.shape[1:] == (256, 256)
    print(
        f"low-res max abs diff {max_diff(low_res, their_low_res):.3g}, "
        f"iou {max_diff(iou, their_iou):.3g}"
    )
    assert max_diff(low_res, their_low_res) <= TOLERANCE
    assert max_diff(iou, their_iou) <= TOLERANCE
    if return_logits:
        assert masks.dtype == np.float32
        assert max_diff(masks, their_masks) <= TOLERANCE
        return masks
    assert masks.dtype == np.bool_
    clear = np.abs(their_logits) > TOLERANCE
    assert np.array_equal(masks[clear], their_masks[clear])
    flips = int((masks != their_masks).sum())
    print(f"masks: {flips} pixels differ, all within {TOLERANCE} of the threshold")
    assert flips <= MAX_AMBIGUOUS_FLIPS
    # The comparison means something only if the masks are not constant.
    counts = their_masks.reshape(len(their_masks), -1).sum(axis=1)
    size = their_masks[0].size
    assert np.any((counts >= 100) & (counts <= size - 100)), counts
    return masks


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_predictions_match(predictors, scenario):
    ours, theirs, image = predictors
    prompts, multimask, return_logits = _scenario(scenario, *image.shape[:2])
    masks = assert_same_prediction(
        ours, theirs, {**prompts, "multimask_output": multimask}, return_logits
    )
    assert masks.shape == (3 if multimask else 1, *image.shape[:2])


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
    assert_same_prediction(ours, theirs, second, return_logits=False)
    # The mask input must change the result, or this test would not exercise it.
    with_input = theirs.predict(**second)[2]
    without = theirs.predict(**{k: v for k, v in second.items() if k != "mask_input"})[2]
    assert max_diff(without, with_input) > 1e-2


def test_plain_pytorch_path_matches(monkeypatch, predictors, our_vit_t):
    """Without oneDNN's fused kernels (another device, autograd) the numbers agree too."""
    ours, theirs, image = predictors
    resized = torch.as_tensor(ours.transform.apply_image(image)).permute(2, 0, 1)[None]
    monkeypatch.setattr(fused_ops, "FUSED_CPU_KERNELS", False)
    with torch.inference_mode():
        plain = our_vit_t.image_encoder(our_vit_t.preprocess(resized.float()))
    diff = max_diff(plain, theirs.get_image_embedding())
    print(f"plain-op embedding max abs diff {diff:.3g}")
    assert diff <= TOLERANCE


def test_the_fused_kernels_run_by_default(our_vit_t):
    """The speed path is the one the parity tests above measured, where available."""
    x = torch.zeros(1, 3, 8, 8)
    with torch.inference_mode():
        assert fused_ops._fused(x) == fused_ops._HAS_FUSED_KERNELS
    with torch.enable_grad():
        assert not fused_ops._fused(x)  # autograd gets the plain, differentiable ops
