"""Unit parity of modeling helpers whose rarely-used paths SAM's own shapes do not reach.

With SAM's shapes the relative position tables always have the exact length and q and k
grids are equal; the interpolation and stretching in ``get_rel_pos`` are checked here
directly against the official functions.
"""

from __future__ import annotations

import pytest
import torch

from sam_core.modeling import image_encoder as ours
from sam_core.modeling.common import LayerNorm2d
from sam_core.modeling.prompt_encoder import PositionEmbeddingRandom


@pytest.fixture(scope="module")
def official_encoder(official_sa):
    return official_sa.modeling.image_encoder


@pytest.mark.parametrize(
    ("q_size", "k_size", "table_len"),
    [(14, 14, 27), (14, 14, 11), (5, 9, 17), (9, 5, 7), (7, 3, 30), (64, 64, 127)],
)
def test_get_rel_pos_matches_official(official_encoder, q_size, k_size, table_len):
    table = torch.randn(table_len, 8, generator=torch.Generator().manual_seed(table_len))
    expected = official_encoder.get_rel_pos(q_size, k_size, table)
    result = ours.get_rel_pos(q_size, k_size, table)
    assert result.shape == (q_size, k_size, 8)
    assert torch.equal(result, expected)


def test_get_rel_pos_interpolates_a_short_table(official_encoder):
    """A table of the wrong length is resized linearly, not indexed out of range."""
    table = torch.arange(5, dtype=torch.float32)[:, None]  # values 0..4
    result = ours.get_rel_pos(4, 4, table)  # needs 7 rows
    assert result.shape == (4, 4, 1)
    assert result.min() == 0 and result.max() == 4
    assert not torch.equal(result, ours.get_rel_pos(4, 4, torch.zeros(7, 1)))


@pytest.mark.parametrize(("q_hw", "k_hw"), [((6, 4), (6, 4)), ((3, 5), (6, 10)), ((4, 4), (2, 2))])
def test_decomposed_rel_pos_terms_match_the_official_bias(official_encoder, q_hw, k_hw):
    generator = torch.Generator().manual_seed(7)
    batch, channels = 3, 8
    q = torch.randn(batch, q_hw[0] * q_hw[1], channels, generator=generator)
    attn = torch.randn(batch, q_hw[0] * q_hw[1], k_hw[0] * k_hw[1], generator=generator)
    rel_h = torch.randn(2 * q_hw[0] - 1, channels, generator=generator)
    rel_w = torch.randn(2 * q_hw[1] - 1, channels, generator=generator)
    expected = official_encoder.add_decomposed_rel_pos(attn, q, rel_h, rel_w, q_hw, k_hw)
    # Our attention adds the two terms to the scores inside its blocked loop; the same sum:
    bias_h, bias_w = ours.decomposed_rel_pos_terms(q, rel_h, rel_w, q_hw, k_hw)
    scores = attn.view(batch, -1, *k_hw) + bias_h[:, :, :, None]
    result = (scores + bias_w[:, :, None, :]).view(batch, -1, k_hw[0] * k_hw[1])
    assert torch.equal(result, expected)


@pytest.mark.parametrize(("height", "width", "window"), [(64, 64, 14), (14, 28, 14), (5, 9, 4)])
def test_window_partition_round_trip_matches_official(official_encoder, height, width, window):
    x = torch.randn(2, height, width, 3)
    windows, padded = ours.window_partition(x, window)
    their_windows, their_padded = official_encoder.window_partition(x, window)
    assert padded == their_padded
    assert torch.equal(windows, their_windows)
    assert torch.equal(ours.window_unpartition(windows, window, padded, (height, width)), x)


def test_layernorm2d_matches_official(official_sa):
    official = official_sa.modeling.common.LayerNorm2d(6)
    mine = LayerNorm2d(6)
    with torch.no_grad():
        official.weight.normal_()
        official.bias.normal_()
    mine.load_state_dict(official.state_dict())
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    assert torch.equal(mine(x), official(x))
    normalised = LayerNorm2d(6)(x)
    assert torch.allclose(normalised.mean(1), torch.zeros(2, 5, 7), atol=1e-5)


def test_position_embedding_matches_official(official_sa):
    official = official_sa.modeling.prompt_encoder.PositionEmbeddingRandom(16)
    mine = PositionEmbeddingRandom(16)
    mine.load_state_dict(official.state_dict())
    assert torch.equal(mine((7, 5)), official((7, 5)))
    coords = torch.rand(2, 3, 2) * 100
    assert torch.equal(
        mine.forward_with_coords(coords, (80, 120)), official.forward_with_coords(coords, (80, 120))
    )


def test_attention_rejects_bad_head_count():
    with pytest.raises(ValueError, match="num_heads"):
        ours.Attention(dim=30, num_heads=4)
    with pytest.raises(ValueError, match="input_size"):
        ours.Attention(dim=32, num_heads=4, use_rel_pos=True, input_size=None)
