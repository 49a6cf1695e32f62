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
#: SAM 2's: the whole image resized to the square (antialiased bilinear), ImageNet stats.
SAM2_PREPROCESSING_VERSION = "rgb-uint8/torch-antialiased-bilinear-square/imagenet/v1"
PREPROCESSING_VERSIONS = frozenset({PREPROCESSING_VERSION, SAM2_PREPROCESSING_VERSION})


@dataclass(frozen=True, eq=False)
class ImageEmbedding:
    """The image encoder's output for one image, with what is needed to decode prompts.

    Attributes:
        features: ``1xCxhxw`` float tensor on the CPU (``1x256x64x64`` for SAM and SAM 2).
        original_size: (H, W) of the image the user sees, in pixels.
        input_size: (h, w) of the image in the model's square input: after
            ``ResizeLongestSide``, before padding (SAM); the whole square (SAM 2).
        model_id: :func:`model_id` of the model that computed ``features``.
        preprocessing: :data:`PREPROCESSING_VERSION` (SAM) or
            :data:`SAM2_PREPROCESSING_VERSION` in force when it was computed.
        high_res_features: SAM 2's higher-resolution levels as its decoder uses them
            (``1x32x256x256``, ``1x64x128x128``); empty for SAM.
    """

    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    model_id: str
    preprocessing: str = PREPROCESSING_VERSION
    high_res_features: tuple[torch.Tensor, ...] = ()

    def __post_init__(self) -> None:
        if not torch.is_tensor(self.features):
            raise ValueError(f"features must be a tensor, got {type(self.features).__name__}")
        if self.features.ndim != 4 or self.features.shape[0] != 1:
            raise ValueError(f"features must be 1xCxhxw, got {tuple(self.features.shape)}")
        object.__setattr__(self, "original_size", _size_pair(self.original_size, "original"))
        object.__setattr__(self, "input_size", _size_pair(self.input_size, "input"))
        if not isinstance(self.model_id, str) or not self.model_id:
            raise ValueError("model_id must be a non-empty string")
        levels = tuple(self.high_res_features)
        for level in levels:
            if not torch.is_tensor(level) or level.ndim != 4 or level.shape[0] != 1:
                raise ValueError("high_res_features must be 1xCxhxw tensors")
        object.__setattr__(self, "high_res_features", levels)

    @property
    def nbytes(self) -> int:
        """Bytes of all feature levels."""
        tensors = (self.features, *self.high_res_features)
        return sum(t.numel() * t.element_size() for t in tensors)


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
    from sam_core.sam2.model import Sam2

    if isinstance(model, Sam2):
        model_type = model.model_type  # 2.0 and 2.1 share the image model's tensors
    else:
        try:
            model_type = detect_model_type(model.state_dict())
        except CheckpointError:
            model_type = "sam"
    identity = f"{model_type}-{digest.hexdigest()}"
    _ID_CACHE[model] = (signature, identity)
    return identity
