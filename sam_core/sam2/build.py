"""Build SAM 2 image models, optionally from an official checkpoint.

``sam2_model_registry[model_type](checkpoint=None)`` builds ``sam2.1_hiera_t/s/b+/l``,
``sam2_hiera_t/s/b+/l`` (SAM 2.0) or ``sam2_tiny_test``. Checkpoints (``{"model":
state_dict}`` as released, e.g. ``sam2.1_hiera_tiny.pt``) are read safely
(``weights_only=True``, :mod:`sam_core.checkpoint`); the model type is detected from the
trunk's width and depth, and the 2.1 marker tensor. The image model's keys and shapes
must match exactly; the only other keys allowed are those of the video parts
(:data:`~sam_core.sam2.specs.VIDEO_PREFIXES`), which the image model leaves aside.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import partial

import torch

from sam_core.checkpoint import (
    CheckpointKeysError,
    ModelTypeMismatchError,
    UnknownModelTypeError,
    read_state_dict,
    warn_non_finite,
)
from sam_core.sam2.model import Sam2
from sam_core.sam2.specs import (
    SAM2_1_MARKER,
    SAM2_SPECS,
    TRUNK_PATCH_KEY,
    VIDEO_PREFIXES,
    sam2_model_type,
)

CheckpointPath = str | os.PathLike[str]
_TRUNK_BLOCK = re.compile(r"image_encoder\.trunk\.blocks\.(\d+)\.")


def is_sam2_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return TRUNK_PATCH_KEY in state_dict


def detect_sam2_model_type(state_dict: Mapping[str, torch.Tensor]) -> str:
    """The SAM 2 model type of a state_dict, from shapes (UnknownModelTypeError)."""
    patch = state_dict.get(TRUNK_PATCH_KEY)
    if patch is None:
        raise UnknownModelTypeError(f"not a SAM 2 checkpoint: it has no {TRUNK_PATCH_KEY!r}")
    width = int(patch.shape[0])
    blocks = {int(m.group(1)) for key in state_dict if (m := _TRUNK_BLOCK.match(key))}
    depth = max(blocks) + 1 if blocks else 0
    found = sam2_model_type(width, depth, SAM2_1_MARKER in state_dict)
    if found is None:
        raise UnknownModelTypeError(
            f"the Hiera trunk is {width} wide with {depth} blocks, which matches no SAM 2 "
            "model (tiny 96/12, small 96/16, base_plus 112/24, large 144/48)"
        )
    return found


def build_sam2(model_type: str, checkpoint: CheckpointPath | None = None) -> Sam2:
    """The model ``model_type``, random (``checkpoint=None``) or from a checkpoint, in
    eval mode. CheckpointError (a ValueError) for a file that is not that model."""
    if model_type not in SAM2_SPECS:
        raise ValueError(f"unknown SAM 2 model type {model_type!r}; known: {', '.join(SAM2_SPECS)}")
    if checkpoint is None:
        return Sam2(SAM2_SPECS[model_type], model_type).eval()
    state_dict = read_state_dict(checkpoint)
    detected = detect_sam2_model_type(state_dict)
    if detected != model_type:
        raise ModelTypeMismatchError(detected, model_type, str(checkpoint))
    return sam2_from_state_dict(state_dict, str(checkpoint))


def sam2_from_state_dict(state_dict: Mapping[str, torch.Tensor], source: str) -> Sam2:
    """The detected model with these weights (keys and shapes checked first)."""
    model_type = detect_sam2_model_type(state_dict)
    with torch.device("meta"):
        model = Sam2(SAM2_SPECS[model_type], model_type)
    return _load_checked(model, state_dict, source, ignored=VIDEO_PREFIXES)


def has_video_parts(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether a SAM 2 checkpoint holds (some of) the video-tracking tensors."""
    return any(key.startswith(VIDEO_PREFIXES) for key in state_dict)


def sam2_tracker_from_state_dict(state_dict: Mapping[str, torch.Tensor], source: str):
    """SAM 2 with its video memory (:class:`~sam_core.sam2.tracker.Sam2Tracker`) from a
    whole official checkpoint: every key, the video parts included, must match."""
    from sam_core.sam2.tracker import Sam2Tracker

    model_type = detect_sam2_model_type(state_dict)
    with torch.device("meta"):
        model = Sam2Tracker(SAM2_SPECS[model_type], model_type, SAM2_1_MARKER in state_dict)
    return _load_checked(model, state_dict, source, ignored=())


def _load_checked(
    model: Sam2, state_dict: Mapping[str, torch.Tensor], source: str, ignored: tuple[str, ...]
) -> Sam2:
    """Load `state_dict` into a meta-device `model` after checking names and shapes (keys
    starting with `ignored` may be left over); CheckpointKeysError lists what differs."""
    expected = model.state_dict()
    used = {k: v for k, v in state_dict.items() if k in expected}
    unexpected = [k for k in state_dict if k not in expected and not k.startswith(ignored)]
    missing = [k for k in expected if k not in state_dict]
    mismatched = [
        (k, tuple(v.shape), tuple(expected[k].shape))
        for k, v in used.items()
        if tuple(v.shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        raise CheckpointKeysError(missing, unexpected, mismatched, model.spec.name)
    warn_non_finite(used, source)
    model = model.to_empty(device="cpu")
    model.load_state_dict(used, strict=True)
    return model.eval()


def _builder(model_type: str) -> Callable[..., Sam2]:
    return partial(build_sam2, model_type)


sam2_model_registry: dict[str, Callable[..., Sam2]] = {
    model_type: _builder(model_type) for model_type in SAM2_SPECS
}
