"""Validation of predictor inputs: clear ``ValueError``s instead of asserts.

Each ``check_*`` function returns the input as a numpy array of the expected shape and
dtype, or raises a ``ValueError`` that says what was wrong and what to pass instead.
Coordinates are (x, y) pixels; boxes XYXY.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def check_image(image: np.ndarray) -> np.ndarray:
    """An ``HxWx3`` uint8 array, or a ValueError that says how to get one."""
    image = np.asarray(image)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        raise ValueError(
            f"expected an HxWx3 RGB image, got a single-channel (grayscale) image of shape "
            f"{image.shape}; convert it, e.g. np.repeat(gray[..., None], 3, axis=2) or "
            "PIL's image.convert('RGB')"
        )
    if image.ndim == 3 and image.shape[2] == 4:
        raise ValueError(
            f"expected an HxWx3 RGB image, got 4 channels (RGBA?) of shape {image.shape}; "
            "drop the alpha channel with image[..., :3] or PIL's image.convert('RGB')"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got an array of shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(
            f"expected a uint8 image with values 0-255, got dtype {image.dtype}; for floats "
            "in [0, 1] use (image * 255).round().astype(np.uint8)"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"the image is empty (shape {image.shape})")
    return image


def check_points(point_coords: object, point_labels: object) -> tuple[np.ndarray, np.ndarray]:
    """``Nx2`` float64 coordinates and ``N`` int64 labels in {0, 1}, or a ValueError."""
    if point_coords is None:
        raise ValueError("point_labels were given without point_coords")
    if point_labels is None:
        raise ValueError("point_coords were given without point_labels (1 = object, 0 = not)")
    coords = _numeric(point_coords, "point_coords")
    labels = _numeric(point_labels, "point_labels")
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] == 0:
        raise ValueError(
            f"point_coords must be an Nx2 array of (x, y) pixels, got shape {coords.shape}"
            + ("; for one point use [[x, y]]" if coords.shape == (2,) else "")
        )
    if labels.ndim != 1:
        raise ValueError(f"point_labels must be a 1-D array of N labels, got {labels.shape}")
    if labels.shape[0] != coords.shape[0]:
        raise ValueError(
            f"got {coords.shape[0]} point_coords but {labels.shape[0]} point_labels; "
            "give one label per point"
        )
    if not np.all(np.isfinite(coords)):
        raise ValueError("point_coords must be finite numbers")
    if not np.all(np.isin(labels, (0, 1))):
        bad = sorted({float(v) for v in labels[~np.isin(labels, (0, 1))]})
        raise ValueError(f"point_labels must be 1 (object) or 0 (background), got {bad}")
    return coords.astype(np.float64), labels.astype(np.int64)


def check_box(box: object) -> np.ndarray:
    """A ``4`` float64 XYXY box with x0 <= x1 and y0 <= y1, or a ValueError."""
    values = _numeric(box, "box")
    if values.size != 4 or values.ndim > 2 or (values.ndim == 2 and values.shape[0] != 1):
        raise ValueError(f"box must be 4 numbers (x0, y0, x1, y1), got shape {values.shape}")
    x0, y0, x1, y1 = values.reshape(4).astype(np.float64)
    if not np.all(np.isfinite([x0, y0, x1, y1])):
        raise ValueError("box must be finite numbers")
    if x0 > x1 or y0 > y1:
        raise ValueError(
            f"box must be (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, got "
            f"({x0:g}, {y0:g}, {x1:g}, {y1:g})"
        )
    return np.array([x0, y0, x1, y1])


def check_mask_input(mask_input: object, size: tuple[int, int]) -> np.ndarray:
    """A ``1xHxW`` float array (H, W = ``size``), or a ValueError."""
    mask = _numeric(mask_input, "mask_input")
    if mask.shape != (1, *size):
        raise ValueError(
            f"mask_input must be 1x{size[0]}x{size[1]} logits (e.g. low_res_logits[i:i+1] "
            f"of a previous prediction), got shape {mask.shape}"
        )
    return mask


def _numeric(value: object, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == np.bool_:
        return array.astype(np.int64)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    return array


def positive_pair(size: Sequence[int], name: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (height, width), got {size!r}") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return (height, width)


def check_torch_prompts(
    point_coords: torch.Tensor | None,
    point_labels: torch.Tensor | None,
    boxes: torch.Tensor | None,
    mask_input: torch.Tensor | None,
    mask_size: tuple[int, int],
) -> None:
    """Shape checks for :meth:`SamPredictor.predict_torch` (batch sizes must agree)."""
    batch_sizes = []
    if (point_coords is None) != (point_labels is None):
        raise ValueError("point_coords and point_labels must be given together")
    if point_coords is not None:
        if point_coords.ndim != 3 or point_coords.shape[2] != 2:
            raise ValueError(f"point_coords must be BxNx2, got {tuple(point_coords.shape)}")
        if tuple(point_labels.shape) != tuple(point_coords.shape[:2]):
            raise ValueError(
                f"point_labels must be BxN = {tuple(point_coords.shape[:2])}, "
                f"got {tuple(point_labels.shape)}"
            )
        batch_sizes.append(point_coords.shape[0])
    if boxes is not None:
        if boxes.shape[-1] != 4 or boxes.ndim not in (2, 3):
            raise ValueError(f"boxes must be Bx4 XYXY, got {tuple(boxes.shape)}")
        batch_sizes.append(boxes.shape[0])
    if mask_input is not None:
        if mask_input.ndim != 4 or tuple(mask_input.shape[1:]) != (1, *mask_size):
            raise ValueError(
                f"mask_input must be Bx1x{mask_size[0]}x{mask_size[1]}, "
                f"got {tuple(mask_input.shape)}"
            )
        batch_sizes.append(mask_input.shape[0])
    if len(set(batch_sizes)) > 1:
        raise ValueError(f"the prompts' batch sizes differ: {batch_sizes}")
