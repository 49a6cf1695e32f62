"""The fast paths give the official results: blockwise encoder attention, the low-res
decoder path (all outputs from one call), the embedding kept in the decoder's layout,
the cached dense positional encoding.

Same random weights in ours and the official ``segment_anything`` 1.0 (see conftest).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from sam_core import SamPredictor, build_sam_vit_tiny_test
from sam_core.modeling import blockwise_attention, fused_ops, image_encoder
from sam_core.predictor import SINGLE_OUTPUT
from tests.core.conftest import random_state_dict, synthetic_image
from tests.core.test_parity import TOLERANCE, max_diff


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_image(301, 457, seed=4)


@pytest.fixture(scope="module")
def ours(tiny_model, image) -> SamPredictor:
    predictor = SamPredictor(tiny_model)
    predictor.set_image(image)
    return predictor


@pytest.fixture(scope="module")
def official(official_tiny_model, official_sa, image):
    predictor = official_sa.SamPredictor(official_tiny_model)
    predictor.set_image(image)
    return predictor


# -- encoder attention ---------------------------------------------------------------


def test_block_shape_bounds_every_block() -> None:
    per_block = blockwise_attention.SCORES_PER_BLOCK
    # ViT-B global attention: 12 heads x 4096 queries x 4096 keys -> one head, 256 queries.
    assert blockwise_attention.block_shape(12, 4096, 4096) == (1, per_block // 4096)
    # Windowed attention (14x14 windows): whole windows, as many as fit.
    assert blockwise_attention.block_shape(300, 196, 196) == (per_block // 196**2, 196)
    assert blockwise_attention.block_shape(3, 196, 196) == (3, 196)
    for batch, queries in ((12, 4096), (300, 196), (1, 10**6)):
        rows, cols = blockwise_attention.block_shape(batch, queries, queries)
        assert rows >= 1 and cols >= 1
        assert rows * cols * queries <= max(per_block, queries)


@pytest.mark.parametrize("scores_per_block", [1 << 20, 5000, 1])
def test_blockwise_attention_equals_the_official_attention(
    monkeypatch, official_sa, scores_per_block
) -> None:
    """A global-attention layer (3 heads on a 64x64 grid, rel-pos on) in blocks of any size:
    whole heads and query ranges, single rows, and the bias added blockwise."""
    monkeypatch.setattr(blockwise_attention, "SCORES_PER_BLOCK", scores_per_block)
    grid = (64, 64) if scores_per_block > 1 else (9, 11)
    kwargs = {"dim": 48, "num_heads": 3, "qkv_bias": True, "use_rel_pos": True}
    ours = image_encoder.Attention(**kwargs, input_size=grid).eval()
    theirs = official_sa.modeling.image_encoder.Attention(**kwargs, input_size=grid).eval()
    state = random_state_dict(ours.state_dict(), seed=7)
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    x = torch.randn(2, *grid, 48, generator=torch.Generator().manual_seed(8))
    with torch.inference_mode():
        diff = max_diff(ours(x), theirs(x))
    assert diff <= 1e-5, diff


def test_windowed_blocks_in_groups_of_windows_equal_the_official(monkeypatch, official_sa):
    """A windowed block on a grid that needs padding, windows split over several blocks."""
    monkeypatch.setattr(blockwise_attention, "SCORES_PER_BLOCK", 3 * 7 * 7 * 7 * 7)
    kwargs = {"dim": 32, "num_heads": 2, "use_rel_pos": True, "window_size": 7}
    ours = image_encoder.Block(**kwargs, input_size=(7, 7)).eval()
    theirs = official_sa.modeling.image_encoder.Block(**kwargs, input_size=(7, 7)).eval()
    state = random_state_dict(ours.state_dict(), seed=9)
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    x = torch.randn(1, 20, 17, 32, generator=torch.Generator().manual_seed(10))
    with torch.inference_mode():
        assert max_diff(ours(x), theirs(x)) <= 1e-5


def test_whole_encoder_with_small_blocks_matches_the_official(
    monkeypatch, tiny_model, official, image
) -> None:
    monkeypatch.setattr(blockwise_attention, "SCORES_PER_BLOCK", 70_000)
    ours = SamPredictor(tiny_model)
    ours.set_image(image)
    assert max_diff(ours.get_image_embedding(), official.get_image_embedding()) <= TOLERANCE


def test_vit_mlp_runs_fused_and_the_plain_path_agrees(
    monkeypatch, tiny_model, official_tiny_model, official_sa
) -> None:
    """The ViT blocks' MLP (GELU and residual inside the matrix products) is what the
    parity tests measure where oneDNN has the kernels; without them (autograd, another
    device, the switch off) the plain ops give the official embedding too."""
    calls = []
    fused_linear = image_encoder.linear

    def counting(x, layer, gelu=False, residual=None):
        calls.append(fused_ops._fused(x))
        return fused_linear(x, layer, gelu=gelu, residual=residual)

    monkeypatch.setattr(image_encoder, "linear", counting)
    predictor = SamPredictor(tiny_model)
    image = synthetic_image(120, 200, seed=9)
    official = official_sa.SamPredictor(official_tiny_model)
    predictor.set_image(image)
    official.set_image(image)
    assert len(calls) == 2 * len(tiny_model.image_encoder.blocks)
    assert all(calls) == fused_ops._HAS_FUSED_KERNELS
    fused = predictor.get_image_embedding()
    assert max_diff(fused, official.get_image_embedding()) <= TOLERANCE

    monkeypatch.setattr(fused_ops, "FUSED_CPU_KERNELS", False)
    predictor.set_image(image)
    assert max_diff(predictor.get_image_embedding(), official.get_image_embedding()) <= TOLERANCE
    assert not any(calls[2 * len(tiny_model.image_encoder.blocks) :])


@pytest.mark.parametrize(
    "activation",
    [torch.nn.GELU, functools.partial(torch.nn.GELU, approximate="tanh"), torch.nn.ReLU],
    ids=["gelu", "gelu-tanh", "relu"],
)
def test_vit_block_with_any_activation_matches_the_official(official_sa, activation) -> None:
    """Only the exact (erf) GELU is replaced by the fused kernel's; a block built with
    another activation runs that activation."""
    official = official_sa.modeling.image_encoder.Block(
        64, 4, act_layer=activation, use_rel_pos=True, input_size=(8, 8)
    ).eval()
    ours = image_encoder.Block(
        64, 4, act_layer=activation, use_rel_pos=True, input_size=(8, 8)
    ).eval()
    state = random_state_dict(official.state_dict(), seed=11)
    official.load_state_dict(state)
    ours.load_state_dict(state)
    tokens = torch.randn(2, 8, 8, 64, generator=torch.Generator().manual_seed(11))
    with torch.inference_mode():
        assert max_diff(ours(tokens), official(tokens)) <= TOLERANCE


# -- low-res decoder path ------------------------------------------------------------


def _prompts(image: np.ndarray, with_mask: bool, ours: SamPredictor) -> dict:
    height, width = image.shape[:2]
    prompts = {
        "point_coords": np.array([[0.4 * width, 0.5 * height], [0.7 * width, 0.3 * height]]),
        "point_labels": np.array([1, 0]),
        "box": np.array([0.1 * width, 0.2 * height, 0.8 * width, 0.9 * height]),
    }
    if with_mask:
        _, iou, low_res = ours.predict(**prompts)
        prompts["mask_input"] = low_res[np.argmax(iou)][None]
    return prompts


@pytest.mark.parametrize("with_mask", [False, True])
def test_predict_low_res_is_predict_multimask_and_single_in_one_call(
    ours, official, image, with_mask
) -> None:
    prompts = _prompts(image, with_mask, ours)
    low_res, iou = ours.predict_low_res(**prompts)
    assert low_res.shape == (4, 256, 256) and low_res.dtype == np.float32
    assert iou.shape == (4,) and iou.dtype == np.float32
    _, multi_iou, multi_low = ours.predict(**prompts, multimask_output=True)
    _, single_iou, single_low = ours.predict(**prompts, multimask_output=False)
    np.testing.assert_array_equal(low_res[:SINGLE_OUTPUT], multi_low)
    np.testing.assert_array_equal(iou[:SINGLE_OUTPUT], multi_iou)
    np.testing.assert_array_equal(low_res[SINGLE_OUTPUT:], single_low)
    np.testing.assert_array_equal(iou[SINGLE_OUTPUT:], single_iou)
    # ... and the official's answers to the same two calls.
    _, their_multi_iou, their_multi_low = official.predict(**prompts, multimask_output=True)
    _, their_single_iou, their_single_low = official.predict(**prompts, multimask_output=False)
    assert max_diff(low_res, np.concatenate([their_multi_low, their_single_low])) <= TOLERANCE
    assert max_diff(iou, np.concatenate([their_multi_iou, their_single_iou])) <= TOLERANCE


def test_upsample_low_res_is_the_official_full_resolution_mask(ours, official, image) -> None:
    prompts = _prompts(image, False, ours)
    low_res, _ = ours.predict_low_res(**prompts)
    logits = ours.upsample_low_res(low_res[SINGLE_OUTPUT])
    assert logits.shape == image.shape[:2]
    their_masks, _, _ = official.predict(**prompts, multimask_output=False)
    mask = (logits > ours.model.mask_threshold).numpy()
    assert np.array_equal(mask, their_masks[0])
    assert 100 < mask.sum() < mask.size - 100  # not a constant mask
    batch = ours.upsample_low_res(torch.as_tensor(low_res))
    assert batch.shape == (4, *image.shape[:2])
    assert torch.equal(batch[SINGLE_OUTPUT], logits)


def test_predict_low_res_torch_batches(ours) -> None:
    coords = torch.tensor([[[100.0, 200.0]], [[500.0, 300.0]]])
    labels = torch.ones(2, 1, dtype=torch.int)
    low_res, iou = ours.predict_low_res_torch(coords, labels)
    assert low_res.shape == (2, 4, 256, 256) and iou.shape == (2, 4)
    _, single_iou, single_low = ours.predict_torch(coords, labels, multimask_output=False)
    assert torch.equal(low_res[:, SINGLE_OUTPUT:], single_low)
    assert torch.equal(iou[:, SINGLE_OUTPUT:], single_iou)


def test_low_res_path_needs_an_image(tiny_model) -> None:
    with pytest.raises(ValueError, match="no image is set"):
        SamPredictor(tiny_model).predict_low_res(np.array([[1, 2]]), np.array([1]))


def test_decoder_features_are_made_once_per_image_in_token_rows(tiny_model, image) -> None:
    predictor = SamPredictor(tiny_model)
    predictor.set_image(image)
    features = predictor.get_image_embedding()
    assert features.is_contiguous()  # the official layout, for code that views it
    rows = predictor.decoder_features()
    assert rows.is_contiguous(memory_format=torch.channels_last) and not rows.is_contiguous()
    assert torch.equal(rows, features)
    assert predictor.decoder_features() is rows  # once per image, not per click

    # A tensor assigned to ``features`` (as tools do to restore a cached embedding) is used.
    predictor.features = torch.randn(features.shape)
    assert torch.equal(predictor.decoder_features(), predictor.features)
    predictor.set_image(image[::-1].copy())
    assert torch.equal(predictor.decoder_features(), predictor.get_image_embedding())
    assert not torch.equal(predictor.decoder_features(), features)


# -- dense positional encoding -------------------------------------------------------


def test_dense_pe_is_computed_once_and_follows_the_weights(official_sa) -> None:
    model = build_sam_vit_tiny_test()
    encoder = model.prompt_encoder
    first = encoder.get_dense_pe()
    assert encoder.get_dense_pe() is first  # cached
    assert not first.requires_grad and not first.is_inference()

    state = random_state_dict(model.state_dict(), seed=11)
    model.load_state_dict(state)  # changes the random-Fourier matrix in place
    updated = encoder.get_dense_pe()
    assert updated is not first and not torch.equal(updated, first)
    official = official_sa.modeling.PromptEncoder(
        embed_dim=256,
        image_embedding_size=(64, 64),
        input_image_size=(1024, 1024),
        mask_in_chans=16,
    )
    official.load_state_dict(
        {
            k[len("prompt_encoder.") :]: v
            for k, v in state.items()
            if k.startswith("prompt_encoder.")
        }
    )
    with torch.no_grad():
        assert torch.equal(updated, official.get_dense_pe())

    with torch.inference_mode():
        inside = encoder.get_dense_pe()
    assert inside is updated  # the cached value serves inference mode too

    replacement = torch.randn(2, 128, generator=torch.Generator().manual_seed(12))
    encoder.pe_layer.positional_encoding_gaussian_matrix = replacement  # a new buffer
    replaced = encoder.get_dense_pe()
    assert torch.equal(replaced, encoder.pe_layer(encoder.image_embedding_size)[None])
    assert not torch.equal(replaced, updated)
