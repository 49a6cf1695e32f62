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


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Every parameter random (zero-initialised ones would hide a misplaced term)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model.eval()


def test_inference_in_pieces_gives_the_official_order_of_computation(monkeypatch):
    """Without autograd the trunk attends strips of windows and runs its MLPs and the
    neck on chunks of token rows (see ``MultiScaleBlock.forward``). With pieces made
    small, a 352x288 input gives strips that end in padded windows (stage 3: 22x18 grid,
    window 14), pooled strips and several chunks per level: the values must be those of
    the whole-grid order that autograd uses."""
    from sam_core.sam2 import hiera, image_encoder

    monkeypatch.setattr(hiera, "CHUNK_TOKENS", 64)
    monkeypatch.setattr(image_encoder, "CHUNK_TOKENS", 64)
    model = _randomised(build_sam2("sam2_tiny_test"))
    image = torch.randn(1, 3, 352, 288, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pieces = model.encoder_levels(image)
    with torch.enable_grad():
        whole = [level.detach() for level in model.encoder_levels(image)]
    assert [level.shape[1:] for level in pieces] == [(32, 88, 72), (64, 44, 36), (256, 22, 18)]
    for got, want in zip(pieces, whole, strict=True):
        assert got.is_contiguous()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_encoding_an_image_never_holds_a_whole_hidden_or_neck_map():
    """The largest buffer encoding a 1024 image allocates is the input or a stage-1 map
    (256x256 tokens x the trunk's width), not the MLP's 4x wider hidden layer or the
    neck's 256-channel map at stride 4: that is what keeps the peak memory low."""
    model = build_sam2("sam2_tiny_test").eval()
    trunk_width = model.image_encoder.trunk.channel_list[-1]
    image = torch.zeros(1, 3, 1024, 1024)
    with torch.no_grad(), torch.profiler.profile(profile_memory=True) as profile:
        model.image_features(image)
    largest = max(event.cpu_memory_usage for event in profile.events())
    stage_1_map = 256 * 256 * trunk_width * 4
    assert stage_1_map <= largest <= max(image.numel() * 4, stage_1_map), largest
