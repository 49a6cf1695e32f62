"""The hyper-parameters of every SAM 2 model this package can build, as plain data.

Values of the official ``sam2`` 1.1.0 configs (``configs/sam2`` for SAM 2.0,
``configs/sam2.1`` for SAM 2.1; the image path is the same in both versions: they differ
in video-memory parameters only). ``sam2_tiny_test`` is a tiny randomly initialised
model for fast tests: a 7-block, 16-wide trunk with SAM 2's neck and heads, so every
shape the API shows is official.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_SIZE = 1024
D_MODEL = 256  # neck width, prompt embedding width
EMBEDDING_GRID = 64  # IMAGE_SIZE / 16: the image embedding's side
MASK_IN_CHANS = 16

#: Key prefixes of the video-tracking parts of a SAM 2 checkpoint (memory attention and
#: encoder, object pointers). The image model does not use them; a checkpoint may hold
#: them and nothing else beside the image model's own keys.
VIDEO_PREFIXES = (
    "memory_attention.",
    "memory_encoder.",
    "mask_downsample.",
    "maskmem_tpos_enc",
    "no_mem_pos_enc",
    "no_obj_ptr",
    "no_obj_embed_spatial",
    "obj_ptr_proj.",
    "obj_ptr_tpos_proj.",
)
#: Present in SAM 2.1 checkpoints only.
SAM2_1_MARKER = "no_obj_embed_spatial"
TRUNK_PATCH_KEY = "image_encoder.trunk.patch_embed.proj.weight"


@dataclass(frozen=True)
class Sam2Spec:
    """A Hiera trunk's size; see ``sam_core.sam2.hiera.Hiera`` for each field."""

    name: str  # tiny, small, base_plus, large, tiny_test
    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    global_att_blocks: tuple[int, ...]
    window_pos_embed_bkg_spatial_size: tuple[int, int]
    window_spec: tuple[int, ...]

    @property
    def depth(self) -> int:
        return sum(self.stages)

    @property
    def channel_list(self) -> list[int]:
        """The trunk's stage widths, lowest resolution first (as the neck lists them)."""
        return [self.embed_dim * 2**i for i in reversed(range(len(self.stages)))]


SIZES: dict[str, Sam2Spec] = {
    "t": Sam2Spec("tiny", 96, 1, (1, 2, 7, 2), (5, 7, 9), (7, 7), (8, 4, 14, 7)),
    "s": Sam2Spec("small", 96, 1, (1, 2, 11, 2), (7, 10, 13), (7, 7), (8, 4, 14, 7)),
    "b+": Sam2Spec("base_plus", 112, 2, (2, 3, 16, 3), (12, 16, 20), (14, 14), (8, 4, 14, 7)),
    "l": Sam2Spec("large", 144, 2, (2, 6, 36, 4), (23, 33, 43), (7, 7), (8, 4, 16, 8)),
}
TINY_TEST = Sam2Spec("tiny_test", 16, 1, (1, 2, 3, 1), (4,), (7, 7), (8, 4, 14, 7))

#: model type -> spec: "sam2.1_hiera_t", ..., "sam2_hiera_l" (SAM 2.0), "sam2_tiny_test".
SAM2_SPECS: dict[str, Sam2Spec] = {
    **{f"sam2.1_hiera_{size}": spec for size, spec in SIZES.items()},
    **{f"sam2_hiera_{size}": spec for size, spec in SIZES.items()},
    "sam2_tiny_test": TINY_TEST,
}


def sam2_model_type(embed_dim: int, depth: int, is_2_1: bool) -> str | None:
    """The model type of a trunk of this width and depth, or None."""
    for size, spec in SIZES.items():
        if (spec.embed_dim, spec.depth) == (embed_dim, depth):
            return f"sam2.1_hiera_{size}" if is_2_1 else f"sam2_hiera_{size}"
    if (TINY_TEST.embed_dim, TINY_TEST.depth) == (embed_dim, depth):
        return "sam2_tiny_test"
    return None
