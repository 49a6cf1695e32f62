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
