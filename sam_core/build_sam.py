"""Build SAM models (ViT-B/L/H, MobileSAM's vit_t and a tiny test model), optionally
from a checkpoint.

``sam_model_registry[model_type](checkpoint=None)`` mirrors the official registry. With a
checkpoint, the file is read safely (:mod:`sam_core.checkpoint`), its model type is
checked against the requested one from tensor shapes, and its keys and shapes are
checked before the weights are copied in. :func:`load_sam` detects the type itself.
"""

from __future__ import annotations

import os
from functools import partial

import torch
from torch import nn

from sam_core.checkpoint import (
    check_keys,
    check_model_type,
    detect_model_type,
    read_state_dict,
    warn_non_finite,
)
from sam_core.model_specs import (
    IMAGE_SIZE,
    MODEL_SPECS,
    PATCH_SIZE,
    PROMPT_EMBED_DIM,
    TINY_VIT_SPECS,
    VIT_SPECS,
    WINDOW_SIZE,
    ModelSpec,
    TinyViTSpec,
    ViTSpec,
    canonical_model_type,
)
from sam_core.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TinyViT,
    TwoWayTransformer,
)
from sam_core.modeling.sam import PIXEL_MEAN, PIXEL_STD
from sam_core.sam2 import Sam2, is_sam2_state_dict, sam2_from_state_dict
from sam_core.sam2.build import has_video_parts, sam2_tracker_from_state_dict
from sam_core.sam2.specs import SAM2_SPECS

CheckpointPath = str | os.PathLike[str]


def build_sam_vit_h(checkpoint: CheckpointPath | None = None) -> Sam:
    """ViT-H SAM (the official default), random weights or loaded from ``checkpoint``."""
    return _build_sam(VIT_SPECS["vit_h"], checkpoint)


build_sam = build_sam_vit_h


def build_sam_vit_l(checkpoint: CheckpointPath | None = None) -> Sam:
    """ViT-L SAM, random weights or loaded from ``checkpoint``."""
    return _build_sam(VIT_SPECS["vit_l"], checkpoint)


def build_sam_vit_b(checkpoint: CheckpointPath | None = None) -> Sam:
    """ViT-B SAM, random weights or loaded from ``checkpoint``."""
    return _build_sam(VIT_SPECS["vit_b"], checkpoint)


def build_sam_vit_t(checkpoint: CheckpointPath | None = None) -> Sam:
    """MobileSAM: a TinyViT image encoder (~6 M parameters) with SAM's prompt encoder and
    mask decoder; random weights or loaded from ``checkpoint`` (e.g. ``mobile_sam.pt``)."""
    return _build_sam(TINY_VIT_SPECS["vit_t"], checkpoint)


def build_sam_vit_tiny_test(checkpoint: CheckpointPath | None = None) -> Sam:
    """A tiny SAM for tests: official prompt encoder, decoder and input/output shapes, a
    2-block 32-wide image encoder. Useless for real images."""
    return _build_sam(VIT_SPECS["vit_tiny_test"], checkpoint)


sam_model_registry = {
    "default": build_sam_vit_h,
    "vit_h": build_sam_vit_h,
    "vit_l": build_sam_vit_l,
    "vit_b": build_sam_vit_b,
    "vit_t": build_sam_vit_t,
    "vit_tiny_test": build_sam_vit_tiny_test,
}


def load_sam(
    checkpoint: CheckpointPath,
    model_type: str | None = None,
    device: str | torch.device = "cpu",
) -> Sam | Sam2:
    """Load a SAM, MobileSAM or SAM 2 / 2.1 checkpoint whose model type is detected from
    its tensor shapes.

    Args:
        checkpoint: path of a ``.pth`` / ``.pt`` file (a state_dict, or ``{"model":
            state_dict}`` as SAM 2's releases are).
        model_type: if given ("vit_b", "vit_l", "vit_h", "vit_t", "default",
            "sam2.1_hiera_t", ...), the checkpoint must be of this type.
        device: where the model is placed.

    Returns:
        The model (a :class:`Sam`, or a :class:`~sam_core.sam2.Sam2`) in eval mode. A
        SAM 2 file with the video parts (every released one) gives a
        :class:`~sam_core.sam2.tracker.Sam2Tracker`, a ``Sam2`` that can also track
        objects through frames; an image-only file gives a ``Sam2``.

    Raises:
        CheckpointError: (a ``ValueError``) with a specific subclass for each problem.
    """
    state_dict = read_state_dict(checkpoint)
    if is_sam2_state_dict(state_dict) or model_type in SAM2_SPECS:
        if model_type is not None:
            check_model_type(state_dict, model_type, str(checkpoint))
        if has_video_parts(state_dict):  # a released file: the model can track too
            return sam2_tracker_from_state_dict(state_dict, str(checkpoint)).to(device)
        return sam2_from_state_dict(state_dict, str(checkpoint)).to(device)
    if model_type is None:
        spec = MODEL_SPECS[detect_model_type(state_dict)]
    else:
        spec = MODEL_SPECS[canonical_model_type(model_type)]
    return _from_state_dict(spec, state_dict, str(checkpoint)).to(device)


def _build_sam(spec: ModelSpec, checkpoint: CheckpointPath | None) -> Sam:
    if checkpoint is None:
        return _assemble(spec).eval()
    return _from_state_dict(spec, read_state_dict(checkpoint), str(checkpoint))


def _from_state_dict(spec: ModelSpec, state_dict: dict[str, torch.Tensor], source: str) -> Sam:
    """Check the type, keys and shapes, then build without random initialisation."""
    check_model_type(state_dict, spec.model_type, source)
    with torch.device("meta"):
        model = _assemble(spec)
    check_keys(model.state_dict(), state_dict, spec.model_type)
    warn_non_finite(state_dict, source)
    # The checkpoint overwrites every persistent tensor; allocate them uninitialised.
    model = model.to_empty(device="cpu")
    model.load_state_dict(state_dict, strict=True)
    _fill_non_persistent_buffers(model)
    return model.eval()


def _fill_non_persistent_buffers(model: Sam) -> None:
    """Restore the buffers that checkpoints do not hold (left uninitialised by to_empty):
    SAM's pixel statistics, and those of modules that can recompute their own (TinyViT's
    attention offset indexes)."""
    persistent = set(model.state_dict())
    others = {name for name, _ in model.named_buffers() if name not in persistent}
    restorable = {"pixel_mean", "pixel_std"}
    for prefix, module in model.named_modules():
        if hasattr(module, "init_non_persistent_buffers"):
            restorable |= {
                f"{prefix}.{name}" for name, _ in module.named_buffers(recurse=False)
            } - persistent
    if others != restorable:
        raise RuntimeError(f"unexpected non-persistent buffers to restore: {sorted(others)}")
    with torch.no_grad():
        model.pixel_mean.copy_(torch.tensor(PIXEL_MEAN).view(-1, 1, 1))
        model.pixel_std.copy_(torch.tensor(PIXEL_STD).view(-1, 1, 1))
        for module in model.modules():
            if hasattr(module, "init_non_persistent_buffers"):
                module.init_non_persistent_buffers()


def _assemble(spec: ModelSpec) -> Sam:
    """Construct the modules of a SAM with the official hyper-parameters."""
    grid = IMAGE_SIZE // PATCH_SIZE
    image_encoder = _image_encoder(spec)
    prompt_encoder = PromptEncoder(
        embed_dim=PROMPT_EMBED_DIM,
        image_embedding_size=(grid, grid),
        input_image_size=(IMAGE_SIZE, IMAGE_SIZE),
        mask_in_chans=16,
    )
    mask_decoder = MaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(
            depth=2, embedding_dim=PROMPT_EMBED_DIM, mlp_dim=2048, num_heads=8
        ),
        transformer_dim=PROMPT_EMBED_DIM,
        iou_head_depth=3,
        iou_head_hidden_dim=256,
    )
    return Sam(
        image_encoder=image_encoder,
        prompt_encoder=prompt_encoder,
        mask_decoder=mask_decoder,
        pixel_mean=PIXEL_MEAN,
        pixel_std=PIXEL_STD,
    )


def _image_encoder(spec: ModelSpec) -> ImageEncoderViT | TinyViT:
    if isinstance(spec, TinyViTSpec):
        return _tiny_vit_encoder(spec)
    return _vit_encoder(spec)


def _vit_encoder(spec: ViTSpec) -> ImageEncoderViT:
    return ImageEncoderViT(
        depth=spec.encoder_depth,
        embed_dim=spec.encoder_embed_dim,
        img_size=IMAGE_SIZE,
        mlp_ratio=4,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        num_heads=spec.encoder_num_heads,
        patch_size=PATCH_SIZE,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=spec.encoder_global_attn_indexes,
        window_size=WINDOW_SIZE,
        out_chans=PROMPT_EMBED_DIM,
    )


def _tiny_vit_encoder(spec: TinyViTSpec) -> TinyViT:
    return TinyViT(
        img_size=IMAGE_SIZE,
        embed_dims=spec.embed_dims,
        depths=spec.depths,
        num_heads=spec.num_heads,
        window_sizes=spec.window_sizes,
        mlp_ratio=spec.mlp_ratio,
        mbconv_expand_ratio=spec.mbconv_expand_ratio,
        local_conv_size=spec.local_conv_size,
        num_classes=spec.num_classes,
        out_chans=PROMPT_EMBED_DIM,
    )
