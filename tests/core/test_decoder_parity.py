"""The mask decoder's reordered computations against the official modules.

The decoder evaluates the cross attentions with the image-token projections folded
into the few prompt tokens, and the output upscaling as per-pixel matrix products on
token-major rows (see ``Attention`` and ``MaskDecoder._upscaled_masks``). These tests
compare those paths with the official modules on random weights: the attention on
both sides of the fold/no-fold boundary and batched, the whole decoder batched with
distinct prompts and mask inputs.
"""

from __future__ import annotations

import pytest
import torch

import sam_core.modeling
from sam_core.modeling.transformer import Attention
from tests.core.conftest import random_state_dict

TOLERANCE = 1e-5  # relative to the largest value compared


def assert_close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    scale = float(theirs.abs().max())
    assert scale > 0.1  # the comparison means something
    assert float((ours - theirs).abs().max()) <= TOLERANCE * max(1.0, scale)


@pytest.fixture(scope="module")
def attentions(official_sa):
    """(ours, official) cross attentions (256 wide, 8 heads, width 128) with one weights."""
    official = official_sa.modeling.transformer.Attention(256, 8, downsample_rate=2).eval()
    ours = Attention(256, 8, downsample_rate=2).eval()
    state = random_state_dict(official.state_dict(), seed=3)
    official.load_state_dict(state)
    ours.load_state_dict(state)
    return ours, official


# 8 heads x 16 tokens = 128 = the attention width: the last token count that folds.
@pytest.mark.parametrize("tokens", [1, 7, 16, 17, 30])
@pytest.mark.parametrize("batch", [1, 3])
def test_cross_attentions_equal_the_official_attention(attentions, monkeypatch, tokens, batch):
    ours, official = attentions
    generator = torch.Generator().manual_seed(tokens * 10 + batch)
    prompt = torch.randn(batch, tokens, 256, generator=generator)
    image_keys = torch.randn(batch, 1024, 256, generator=generator)
    image_values = torch.randn(batch, 1024, 256, generator=generator)

    calls = []
    official_order = Attention.forward

    def counting_forward(self, q, k, v):
        calls.append(q.shape[1])
        return official_order(self, q, k, v)

    monkeypatch.setattr(Attention, "forward", counting_forward)
    with torch.no_grad():
        to_image = ours.tokens_to_image(q=prompt, k=image_keys, v=image_values)
        to_tokens = ours.image_to_tokens(q=image_keys, k=prompt, v=prompt)
        expected_to_image = official(q=prompt, k=image_keys, v=image_values)
        expected_to_tokens = official(q=image_keys, k=prompt, v=prompt)
    assert_close(to_image, expected_to_image)
    assert_close(to_tokens, expected_to_tokens)
    # The folded order is taken exactly while it costs fewer operations.
    assert len(calls) == (0 if tokens <= 16 else 2)


def test_training_runs_the_official_order(attentions):
    """Under autograd nothing is folded: fine-tuning gets the official gradients, the
    key bias's (which folding would never touch) included."""
    ours, official = attentions
    prompt = torch.randn(2, 6, 256)
    image = torch.randn(2, 64, 256)
    ours.zero_grad()
    official.zero_grad()
    ours.tokens_to_image(q=prompt, k=image, v=image).square().sum().backward()
    ours.image_to_tokens(q=image, k=prompt, v=prompt).square().sum().backward()
    official(q=prompt, k=image, v=image).square().sum().backward()
    official(q=image, k=prompt, v=prompt).square().sum().backward()
    for ours_param, official_param in zip(ours.parameters(), official.parameters(), strict=True):
        assert ours_param.grad is not None
        assert torch.allclose(ours_param.grad, official_param.grad, rtol=1e-5, atol=1e-6)


def decoder_pair(official_sa, seed: int, mlp_dim: int = 2048, activation=torch.nn.GELU):
    """(ours, official) mask decoders (SAM's sizes) with one set of random weights."""

    def build(modeling):
        transformer = modeling.TwoWayTransformer(
            depth=2, embedding_dim=256, mlp_dim=mlp_dim, num_heads=8
        )
        return modeling.MaskDecoder(
            transformer_dim=256, transformer=transformer, activation=activation
        ).eval()

    official = build(official_sa.modeling)
    ours = build(sam_core.modeling)
    state = random_state_dict(official.state_dict(), seed=seed)
    official.load_state_dict(state)
    ours.load_state_dict(state)
    return ours, official


@pytest.fixture(scope="module")
def decoders(official_sa):
    return decoder_pair(official_sa, seed=5)


@pytest.mark.parametrize("prompt_tokens", [2, 9, 20])
def test_batched_decoder_equals_the_official(decoders, prompt_tokens):
    """Three prompt sets on one image, each with its own dense (mask) embedding: every
    output of every set equals the official decoder's."""
    ours, official = decoders
    generator = torch.Generator().manual_seed(prompt_tokens)
    image = torch.randn(1, 256, 64, 64, generator=generator)
    image_pe = torch.randn(1, 256, 64, 64, generator=generator)
    sparse = torch.randn(3, prompt_tokens, 256, generator=generator)
    dense = torch.randn(3, 256, 64, 64, generator=generator)
    with torch.inference_mode():
        masks, iou = ours.predict_masks(image, image_pe, sparse, dense)
        expected_masks, expected_iou = official.predict_masks(image, image_pe, sparse, dense)
    assert masks.shape == (3, 4, 256, 256) and masks.is_contiguous()
    assert_close(masks, expected_masks)
    assert_close(iou, expected_iou)
    # Distinct prompt sets give distinct answers (the batch is not one set repeated).
    assert float((masks[0] - masks[1]).abs().max()) > 0.1


def test_upscaled_masks_follow_the_official_pixel_order(decoders):
    """One hot feature per embedding cell lands in that cell's own 4x4 output block."""
    ours, official = decoders
    hyper_in = torch.randn(1, 4, 32)

    def both(tokens):
        with torch.inference_mode():
            masks = ours._upscaled_masks(tokens, hyper_in, 64, 64)
            image = tokens.transpose(1, 2).reshape(1, 256, 64, 64)
            upscaled = official.output_upscaling(image)
            return masks, (hyper_in @ upscaled.flatten(2)).view(1, 4, 256, 256)

    tokens = torch.zeros(1, 64 * 64, 256)
    blank, expected_blank = both(tokens)
    tokens[0, 5 * 64 + 9] = torch.randn(256)  # cell (row 5, column 9)
    masks, expected = both(tokens)
    assert_close(blank, expected_blank)
    assert_close(masks, expected)
    changed = (masks[0] - blank[0]).abs().amax(0) > 1e-6
    rows, cols = torch.nonzero(changed, as_tuple=True)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 23, 36, 39)


def test_a_decoder_with_another_activation_matches_the_official(official_sa):
    """The fused GELU is used only for the official GELU; another activation runs as is."""
    ours, official = decoder_pair(official_sa, seed=6, mlp_dim=512, activation=torch.nn.ReLU)
    generator = torch.Generator().manual_seed(6)
    image = torch.randn(1, 256, 64, 64, generator=generator)
    image_pe = torch.randn(1, 256, 64, 64, generator=generator)
    sparse = torch.randn(2, 3, 256, generator=generator)
    dense = torch.randn(2, 256, 64, 64, generator=generator)
    with torch.inference_mode():
        masks, iou = ours.predict_masks(image, image_pe, sparse, dense)
        expected_masks, expected_iou = official.predict_masks(image, image_pe, sparse, dense)
    assert_close(masks, expected_masks)
    assert_close(iou, expected_iou)
