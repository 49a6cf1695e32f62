"""The hyper-parameters of every SAM model this package can build, as plain data.

The official ViT-B/L/H values come from ``segment_anything`` 1.0, MobileSAM's ``vit_t``
(a TinyViT image encoder with SAM's prompt encoder and mask decoder) from its release.
``vit_tiny_test`` is a tiny, randomly initialised model for fast tests: the same prompt
encoder and mask decoder as the official models (so every API shape is official: 64x64
embedding grid, 256x256 low-res logits, 1024 input) but a 2-block, 32-wide image encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_SIZE = 1024
PATCH_SIZE = 16
PROMPT_EMBED_DIM = 256
WINDOW_SIZE = 14


@dataclass(frozen=True)
class ViTSpec:
    """What distinguishes one ViT-based SAM from another: the image encoder's size."""

    model_type: str
    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    encoder_global_attn_indexes: tuple[int, ...]


VIT_SPECS: dict[str, ViTSpec] = {
    "vit_h": ViTSpec("vit_h", 1280, 32, 16, (7, 15, 23, 31)),
    "vit_l": ViTSpec("vit_l", 1024, 24, 16, (5, 11, 17, 23)),
    "vit_b": ViTSpec("vit_b", 768, 12, 12, (2, 5, 8, 11)),
    "vit_tiny_test": ViTSpec("vit_tiny_test", 32, 2, 2, (1,)),
}


@dataclass(frozen=True)
class TinyViTSpec:
    """A MobileSAM image encoder (TinyViT): width, blocks, heads and window per stage."""

    model_type: str
    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_sizes: tuple[int, ...]
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    num_classes: int = 1000  # TinyViT's unused classifier, kept in mobile_sam.pt


TINY_VIT_SPECS: dict[str, TinyViTSpec] = {
    "vit_t": TinyViTSpec("vit_t", (64, 128, 160, 320), (2, 2, 6, 2), (2, 4, 5, 10), (7, 7, 14, 7)),
}

ModelSpec = ViTSpec | TinyViTSpec

#: Every buildable model type, ViT and TinyViT alike.
MODEL_SPECS: dict[str, ModelSpec] = {**VIT_SPECS, **TINY_VIT_SPECS}

# Registry aliases: the official registry maps "default" to ViT-H.
ALIASES = {"default": "vit_h"}


def canonical_model_type(model_type: str) -> str:
    """Resolve an alias ("default") to its model type; reject unknown names."""
    resolved = ALIASES.get(model_type, model_type)
    if resolved not in MODEL_SPECS:
        known = ", ".join(sorted([*MODEL_SPECS, *ALIASES]))
        raise ValueError(f"unknown SAM model type {model_type!r}; known types: {known}")
    return resolved
