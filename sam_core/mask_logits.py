"""SAM's low-resolution mask logits and the original image: both directions, one place.

The mask decoder answers on a ``S x S`` grid (``S = image_size / 4``: 256x256 for SAM's
1024 input) that spans the *padded* square model input: the resized image (``input_size``,
``ResizeLongestSide``) sits in its top-left corner, the rest is padding. These functions
are the only code that knows that frame:

- :func:`logits_to_size`: low-res logits -> logits of the original image at any size. At
  the original size this is exactly the official post-processing (upscale to the padded
  input, crop the padding, resize to the image: what ``SamPredictor.predict`` returns, and
  what the app accepts); at any other size (display, previews) one bilinear resample of
  the same geometry, much cheaper.
- :func:`mask_to_logits`: an existing HxW mask -> a ``1xSxS`` mask prompt in that frame,
  so an annotation can be refined with further clicks.

SAM 2 squashes the whole image onto the square: its frame is this one with ``input_size``
equal to the square, and its full-size post-processing is one resize (``single_resize``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

#: Logit magnitude given to a pixel that is certainly inside / outside a mask prompt made
#: from a binary mask: ``log((1 - eps) / eps)`` with ``eps = 1e-3``, about 6.9 (SAM's own
#: logits for confident pixels are of that order).
MASK_PROMPT_LOGIT = math.log((1 - 1e-3) / 1e-3)


def upscale_logits(
    logits: torch.Tensor,
    input_size: tuple[int, int],
    original_size: tuple[int, int],
    image_size: int,
    single_resize: bool = False,
) -> torch.Tensor:
    """``BxCxSxS`` low-res logits -> ``BxCxHxW`` logits, (H, W) = ``original_size``.

    The official post-processing: SAM's bilinear to ``image_size`` square, crop to
    ``input_size``, bilinear to ``original_size`` (``align_corners=False`` both times);
    with ``single_resize`` SAM 2's, whose input is the whole image squashed to the square
    (``input_size`` is the square): one bilinear resize to ``original_size``.
    """
    if single_resize:
        return F.interpolate(logits, tuple(original_size), mode="bilinear", align_corners=False)
    masks = F.interpolate(logits, (image_size, image_size), mode="bilinear", align_corners=False)
    masks = masks[..., : input_size[0], : input_size[1]]
    return F.interpolate(masks, tuple(original_size), mode="bilinear", align_corners=False)


def logits_to_size(
    logits: np.ndarray | torch.Tensor,
    input_size: tuple[int, int],
    original_size: tuple[int, int],
    image_size: int,
    size: tuple[int, int] | None = None,
    single_resize: bool = False,
) -> np.ndarray:
    """``...xSxS`` low-res logits -> float32 ``...xhxw`` logits of the original image.
    ``single_resize``: SAM 2's post-processing at the original size (:func:`upscale_logits`).

    ``size`` (h, w) defaults to ``original_size``; there the result is exactly
    :func:`upscale_logits` (the official masks). Any other size is one bilinear resample
    of the same geometry (see :func:`_resample`), a few hundred microseconds for a
    display-sized mask instead of tens of milliseconds. Threshold the result with
    ``> model.mask_threshold`` for the mask.
    """
    size = tuple(original_size) if size is None else tuple(size)
    if torch.is_tensor(logits):
        array = logits.detach().to("cpu", torch.float32)
    else:  # a copy: the caller's array may be read-only
        array = torch.from_numpy(np.array(logits, dtype=np.float32))
    lead, side = array.shape[:-2], array.shape[-2:]
    batch = array.reshape(-1, *side)
    if size == tuple(original_size):
        with torch.inference_mode():
            out = upscale_logits(
                batch[:, None], input_size, original_size, image_size, single_resize
            )[:, 0]
        return out.numpy().reshape(*lead, *size)
    planes = [_resample(plane.numpy(), input_size, size, image_size) for plane in batch]
    return np.stack(planes).reshape(*lead, *size)


def _resample(
    logits: np.ndarray, input_size: tuple[int, int], size: tuple[int, int], image_size: int
) -> np.ndarray:
    """One SxS plane -> logits of the original image at ``size``, one bilinear step.

    The image occupies the top-left ``input_size / 4`` part of the grid (not a whole number
    of cells in general). Output pixel (i, j) samples the grid at ``((j + 0.5) * sx - 0.5,
    (i + 0.5) * sy - 0.5)`` with ``sx = part width / width``, bilinear, edges replicated:
    an affine warp, computed as ``cv2.resize`` with the exact scale factors (several times
    faster than ``warpAffine``). The crop keeps one cell beyond the image part, so the last
    samples interpolate real neighbours.
    """
    side = logits.shape[0]
    valid_h = input_size[0] * side / image_size
    valid_w = input_size[1] * side / image_size
    height, width = size
    crop = np.ascontiguousarray(
        logits[: min(side, math.ceil(valid_h) + 1), : min(side, math.ceil(valid_w) + 1)]
    )
    # With dsize (0, 0), resize uses fx, fy exactly and makes round(crop * f) pixels: at
    # least `size`, as the crop is at least the image part.
    scaled = cv2.resize(
        crop, (0, 0), fx=width / valid_w, fy=height / valid_h, interpolation=cv2.INTER_LINEAR
    )
    return scaled[:height, :width]


def mask_to_logits(
    mask: np.ndarray, input_size: tuple[int, int], image_size: int, side: int
) -> np.ndarray:
    """An HxW bool mask of the original image -> a read-only ``1 x side x side`` float32
    mask prompt in the low-res frame (see the module docstring).

    The mask is area-averaged onto the grid cells the image covers; a cell's inside
    fraction ``p`` becomes the logit ``log(p / (1 - p))`` clipped to
    ``±MASK_PROMPT_LOGIT``; padding cells are outside. Raises ValueError for anything but
    a non-empty 2-D mask.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"mask must be a non-empty HxW array, got shape {mask.shape}")
    cells_h = max(1, min(side, round(input_size[0] * side / image_size)))
    cells_w = max(1, min(side, round(input_size[1] * side / image_size)))
    inside = cv2.resize(
        (mask > 0).astype(np.float32), (cells_w, cells_h), interpolation=cv2.INTER_AREA
    )
    eps = 1.0 / (1.0 + math.exp(MASK_PROMPT_LOGIT))
    fraction = np.zeros((side, side), dtype=np.float32)
    fraction[:cells_h, :cells_w] = inside
    fraction = np.clip(fraction, eps, 1.0 - eps)
    logits = np.log(fraction / (1.0 - fraction)).astype(np.float32)[None]
    logits.setflags(write=False)
    return logits
