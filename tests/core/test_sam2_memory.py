"""SAM 2's memory encoder and memory attention against the official modules on identical
random weights (the first parts of the video predictor)."""

from __future__ import annotations

import pytest
import torch

from sam_core.sam2.memory import MemoryAttention, MemoryEncoder
from tests.core.sam2_oracle import TINY_TEST_OVERRIDES, official_sam2_model


@pytest.fixture(scope="module")
def official():
    return official_sam2_model("sam2.1/sam2.1_hiera_t", seed=5, overrides=TINY_TEST_OVERRIDES)


def sub_state(model, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in model.state_dict().items() if k.startswith(prefix)}


def test_memory_encoder_matches_the_official(official):
    ours = MemoryEncoder().eval()
    ours.load_state_dict(sub_state(official, "memory_encoder."))  # strict: same names
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(2, 256, 64, 64, generator=generator)
    masks = torch.randn(2, 1, 1024, 1024, generator=generator) * 8
    with torch.inference_mode():
        expected = official.memory_encoder(features, masks)
        memory, position = ours(features, masks)
        torch.testing.assert_close(memory, expected["vision_features"], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(position, expected["vision_pos_enc"][0], rtol=0, atol=1e-6)
        probabilities = torch.sigmoid(masks)
        expected = official.memory_encoder(features, probabilities, skip_mask_sigmoid=True)
        memory, _ = ours(features, probabilities, skip_mask_sigmoid=True)
        torch.testing.assert_close(memory, expected["vision_features"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("frames, pointers", [(1, 0), (2, 16)])
def test_memory_attention_matches_the_official(official, frames, pointers):
    ours = MemoryAttention().eval()
    ours.load_state_dict(sub_state(official, "memory_attention."))
    generator = torch.Generator().manual_seed(frames * 10 + pointers)
    batch, tokens = 1, 64 * 64
    current = torch.randn(tokens, batch, 256, generator=generator)
    current_pos = torch.randn(tokens, batch, 256, generator=generator)
    memory_tokens = frames * tokens + pointers
    memory = torch.randn(memory_tokens, batch, 64, generator=generator)
    memory_pos = torch.randn(memory_tokens, batch, 64, generator=generator)
    with torch.inference_mode():
        expected = official.memory_attention(
            curr=[current],
            curr_pos=[current_pos],
            memory=memory,
            memory_pos=memory_pos,
            num_obj_ptr_tokens=pointers,
        )  # sequence-first in, sequence-first out
        got = ours(current.transpose(0, 1), memory.transpose(0, 1),
                   current_pos.transpose(0, 1), memory_pos.transpose(0, 1), pointers)  # fmt: skip
    torch.testing.assert_close(got.transpose(0, 1), expected, rtol=1e-4, atol=1e-4)
