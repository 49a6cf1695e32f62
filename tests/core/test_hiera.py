"""Hiera's inference shortcuts keep the official arithmetic: the position embedding is
reused between images only while the weights and the grid stay the same."""

from __future__ import annotations

import torch

from sam_core.sam2 import build_sam2


def test_the_position_embedding_is_reused_until_the_weights_change():
    model = build_sam2("sam2_tiny_test")
    trunk = model.image_encoder.trunk
    with torch.inference_mode():
        first = trunk.position_embedding(64, 64)
        assert trunk.position_embedding(64, 64) is first
        assert trunk.position_embedding(32, 32).shape[1:3] == (32, 32)
    model.load_state_dict({k: torch.randn_like(v) for k, v in model.state_dict().items()})
    with torch.inference_mode():
        again = trunk.position_embedding(32, 32)
    with torch.enable_grad():
        fresh = trunk.position_embedding(32, 32)
    torch.testing.assert_close(again, fresh.detach(), rtol=0, atol=0)
