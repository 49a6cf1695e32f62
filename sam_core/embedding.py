"""A computed image embedding as a value, and the identity of the model that made it.

An :class:`ImageEmbedding` holds everything :class:`~sam_core.predictor.SamPredictor`
keeps after ``set_image``, so a cache can restore an image without re-running the image
encoder. ``model_id`` ties it to the exact weights: an embedding is only valid for the
model that computed it.
"""

from __future__ import annotations

import hashlib
import itertools
import weakref
from dataclasses import dataclass

import torch
from torch import nn

from sam_core.checkpoint import CheckpointError, detect_model_type

# Bump when the way images become model input changes (resize filter, rounding, padding,
# normalisation): embeddings made with another version must be recomputed.
PREPROCESSING_VERSION = "rgb-uint8/pil-bilinear-longest-side/pad-bottom-right/v1"


@dataclass(frozen=True, eq=False)
class ImageEmbedding:
    """The image encoder's output for one image, with what is needed to decode prompts.

    Attributes:
        features: ``1xCxhxw`` float tensor on the CPU (``1x256x64x64`` for SAM).
        original_size: (H, W) of the image the user sees, in pixels.
        input_size: (h, w) of the image after ``ResizeLongestSide``, before padding.
        model_id: :func:`model_id` of the model that computed ``features``.
        preprocessing: :data:`PREPROCESSING_VERSION` in force when it was computed.
    """

    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    model_id: str
    preprocessing: str = PREPROCESSING_VERSION

    def __post_init__(self) -> None:
        if not torch.is_tensor(self.features):
            raise ValueError(f"features must be a tensor, got {type(self.features).__name__}")
        if self.features.ndim != 4 or self.features.shape[0] != 1:
            raise ValueError(f"features must be 1xCxhxw, got {tuple(self.features.shape)}")
        object.__setattr__(self, "original_size", _size_pair(self.original_size, "original"))
        object.__setattr__(self, "input_size", _size_pair(self.input_size, "input"))
        if not isinstance(self.model_id, str) or not self.model_id:
            raise ValueError("model_id must be a non-empty string")


def _size_pair(size: object, name: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in size)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name}_size must be (height, width), got {size!r}") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"{name}_size must be positive, got {size!r}")
    return (height, width)


# model -> (signature of its tensors when hashed, model id)
_ID_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, str]] = weakref.WeakKeyDictionary()


def model_id(model: nn.Module) -> str:
    """A string naming the model and its exact weights: ``"<model type>-<32 hex digits>"``.

    The digest is BLAKE2b over every parameter and buffer (names, dtypes, shapes, bytes).
    It is computed once per model and cached; the cache is refreshed if a tensor is
    replaced or modified in place (e.g. by ``load_state_dict``) or moved.
    """
    tensors = sorted(
        itertools.chain(model.named_parameters(), model.named_buffers()), key=lambda kv: kv[0]
    )
    signature = tuple((name, t.data_ptr(), t._version, str(t.device)) for name, t in tensors)
    cached = _ID_CACHE.get(model)
    if cached is not None and cached[0] == signature:
        return cached[1]

    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in tensors:
        if tensor.device.type == "meta":
            raise ValueError(f"cannot identify a model whose tensor {name} has no data (meta)")
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().data)
    try:
        model_type = detect_model_type(model.state_dict())
    except CheckpointError:
        model_type = "sam"
    identity = f"{model_type}-{digest.hexdigest()}"
    _ID_CACHE[model] = (signature, identity)
    return identity
