"""The official ``sam2`` 1.1.0 models these tests compare with, built without weights
files: hydra composes the official config (with overrides for the tiny test trunk), and
every tensor is then drawn at random (``random_state_dict``)."""

from __future__ import annotations

import torch

from tests.core.conftest import random_state_dict
from tests.oracle import official_sam2

TINY_TEST_OVERRIDES = [
    "++model.image_encoder.trunk.embed_dim=16",
    "++model.image_encoder.trunk.stages=[1,2,3,1]",
    "++model.image_encoder.trunk.global_att_blocks=[4]",
    "++model.image_encoder.neck.backbone_channel_list=[128,64,32,16]",
]


def official_sam2_model(config: str, seed: int, overrides: list[str] | None = None):
    """The official SAM2Base of ``config`` ("sam2.1/sam2.1_hiera_t", "sam2/sam2_hiera_s",
    ...) in eval mode with random weights (seeded)."""
    official_sam2()
    from sam2.build_sam import build_sam2

    model = build_sam2(f"configs/{config}.yaml", None, device="cpu", mode="eval",
                       hydra_overrides_extra=list(overrides or []))  # fmt: skip
    model.load_state_dict(random_state_dict(model.state_dict(), seed))
    return model


def official_predictor(model):
    official_sam2()
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    return SAM2ImagePredictor(model)


def save_checkpoint(model, path) -> None:
    """As the official releases are saved: ``{"model": state_dict}``."""
    torch.save({"model": model.state_dict()}, path)


def run_official_video_on_cpu(predictor) -> None:
    """Let the official SAM2VideoPredictor run on a CPU: it stores mask memories in
    bfloat16 and relies on CUDA autocast to mix them with float32 (on a CPU its memory
    attention fails: "mat1 and mat2 must have the same dtype"). Its stored memories are
    cast to float32 where it stores them, after their bfloat16 rounding, so it computes
    from the same values as ours."""
    run, encode = predictor._run_single_frame_inference, predictor._run_memory_encoder

    def run_fp32(*args, **kwargs):
        out, masks = run(*args, **kwargs)
        if out["maskmem_features"] is not None:
            out["maskmem_features"] = out["maskmem_features"].float()
        return out, masks

    def encode_fp32(*args, **kwargs):
        features, position = encode(*args, **kwargs)
        return features.float(), position

    predictor._run_single_frame_inference = run_fp32
    predictor._run_memory_encoder = encode_fp32


def official_video_model(config: str, seed: int):
    """The official SAM2VideoPredictor of `config` on the tiny test trunk, random weights
    (seeded), as ``build_sam2_video_predictor`` builds it."""
    official_sam2()
    from sam2.build_sam import build_sam2_video_predictor

    model = build_sam2_video_predictor(f"configs/{config}.yaml", None, device="cpu", mode="eval",
                                       hydra_overrides_extra=list(TINY_TEST_OVERRIDES))  # fmt: skip
    model.load_state_dict(random_state_dict(model.state_dict(), seed))
    return model
