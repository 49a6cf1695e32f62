"""Fixtures for sam_core tests: tiny models with random weights, the official oracle, images.

Parity needs every weight to matter, so every parameter and persistent buffer is drawn
at random, including the tensors the official code initialises to zero (relative
position tables, the absolute position embedding, TinyViT's attention biases), the
random-Fourier matrix and BatchNorm running statistics.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from sam_core import SamPredictor, build_sam_vit_tiny_test
from sam_core.model_specs import IMAGE_SIZE, PATCH_SIZE, PROMPT_EMBED_DIM, VIT_SPECS, WINDOW_SIZE
from tests.oracle import official_segment_anything

_EMBEDDING_NAMES = (
    "point_embeddings",
    "not_a_point_embed",
    "no_mask_embed",
    "iou_token",
    "mask_tokens",
)


def random_state_dict(template: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """A state_dict with the keys and shapes of ``template`` and random, well-scaled values."""
    generator = torch.Generator().manual_seed(seed)
    result = {}
    for name, tensor in template.items():
        noise = torch.randn(tuple(tensor.shape), generator=generator)
        if name.endswith("num_batches_tracked"):  # BatchNorm's counter, unused in eval
            result[name] = tensor.clone()
            continue
        if name.endswith("positional_encoding_gaussian_matrix"):
            value = noise  # the official N(0, 1) scale, redrawn
        elif name.endswith("running_var"):  # BatchNorm (TinyViT): positive variances
            value = torch.exp(0.5 * noise)
        elif name.endswith("attention_biases"):  # TinyViT: zero-initialised officially
            value = 0.5 * noise
        elif "rel_pos" in name or name.endswith("pos_embed"):
            value = 0.3 * noise  # zero-initialised officially: make them matter
        elif any(part in name for part in _EMBEDDING_NAMES):
            value = 0.5 * noise
        elif tensor.ndim >= 2:
            value = noise / math.sqrt(math.prod(tensor.shape[1:]))
        elif name.endswith("weight"):  # LayerNorm / LayerNorm2d scales
            value = 1.0 + 0.2 * noise
        else:  # biases
            value = 0.1 * noise
        result[name] = value.to(tensor.dtype)
    return result


def build_official_sam(model_type: str):
    """The official ``Sam`` with one of our specs' hyper-parameters, from official classes."""
    sa = official_segment_anything()
    spec = VIT_SPECS[model_type]
    grid = IMAGE_SIZE // PATCH_SIZE
    model = sa.modeling.Sam(
        image_encoder=sa.modeling.ImageEncoderViT(
            depth=spec.encoder_depth,
            embed_dim=spec.encoder_embed_dim,
            img_size=IMAGE_SIZE,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=spec.encoder_num_heads,
            patch_size=PATCH_SIZE,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=list(spec.encoder_global_attn_indexes),
            window_size=WINDOW_SIZE,
            out_chans=PROMPT_EMBED_DIM,
        ),
        prompt_encoder=sa.modeling.PromptEncoder(
            embed_dim=PROMPT_EMBED_DIM,
            image_embedding_size=(grid, grid),
            input_image_size=(IMAGE_SIZE, IMAGE_SIZE),
            mask_in_chans=16,
        ),
        mask_decoder=sa.modeling.MaskDecoder(
            num_multimask_outputs=3,
            transformer=sa.modeling.TwoWayTransformer(
                depth=2, embedding_dim=PROMPT_EMBED_DIM, mlp_dim=2048, num_heads=8
            ),
            transformer_dim=PROMPT_EMBED_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
    )
    return model.eval()


@pytest.fixture(scope="session")
def tiny_state_dict() -> dict[str, torch.Tensor]:
    """Random weights for the tiny test model (seed 0)."""
    return random_state_dict(build_sam_vit_tiny_test().state_dict(), seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_state_dict):
    """Our tiny SAM with :func:`tiny_state_dict` loaded. Do not modify it."""
    model = build_sam_vit_tiny_test()
    model.load_state_dict(tiny_state_dict, strict=True)
    return model.eval()


@pytest.fixture(scope="session")
def official_tiny_model(tiny_state_dict):
    """The official implementation with the same tiny hyper-parameters and weights."""
    model = build_official_sam("vit_tiny_test")
    model.load_state_dict(tiny_state_dict, strict=True)
    return model.eval()


@pytest.fixture(scope="session")
def official_sa():
    """The official ``segment_anything`` package."""
    return official_segment_anything()


def synthetic_image(height: int, width: int, seed: int = 1) -> np.ndarray:
    """An ``HxWx3`` uint8 image with smooth shapes and noise (no external files needed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack(
        [
            128 + 100 * np.sin(xx / 17.0) * np.cos(yy / 23.0),
            255 * ((xx - width / 2) ** 2 + (yy - height / 3) ** 2 < (min(height, width) / 4) ** 2),
            255 * xx / width,
        ],
        axis=-1,
    )
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def photo(real_data: Path, name: str, height: int, width: int) -> np.ndarray:
    """A real photo, EXIF-applied, RGB, centre-cropped to exactly ``height x width``."""
    with Image.open(real_data / "images" / name) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    array = np.asarray(image)
    if array.shape[0] < height or array.shape[1] < width:
        raise ValueError(f"{name} is smaller than {height}x{width}")
    top = (array.shape[0] - height) // 2
    left = (array.shape[1] - width) // 2
    return np.ascontiguousarray(array[top : top + height, left : left + width])


@pytest.fixture(scope="session")
def tiny_predictor(tiny_model) -> SamPredictor:
    """A predictor on the tiny model (tests must set their own image)."""
    return SamPredictor(tiny_model)
