"""Resize images so their long side fits the model input, and map prompts along with them.

Frames: "original" coordinates are pixels of the image the user sees (X right, Y down);
"input" coordinates are pixels of the resized image whose long side is ``target_length``
(1024 for SAM). Boxes are XYXY.

``apply_image`` reproduces the official preprocessing exactly: Pillow's antialiased
bilinear resize of the uint8 image, to ``int(side * target / long_side + 0.5)`` pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


class ResizeLongestSide:
    """Resize to long side ``target_length`` and transform coordinates and boxes to match.

    Numpy methods take single images / arrays; torch methods take batched tensors.
    """

    def __init__(self, target_length: int) -> None:
        if target_length <= 0:
            raise ValueError(f"target_length must be positive, got {target_length}")
        self.target_length = target_length

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        """``HxWx3`` (or ``HxW`` / ``HxWx1`` / ``HxWx4``) uint8 -> the same layout resized
        to ``get_preprocess_shape(H, W)``, with Pillow's bilinear filter."""
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise ValueError(f"apply_image expects a uint8 image, got dtype {image.dtype}")
        if image.ndim == 3 and image.shape[2] == 1:
            return self.apply_image(image[:, :, 0])[:, :, None]
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
            raise ValueError(
                f"apply_image expects an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {image.shape}"
            )
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"apply_image got an empty image of shape {image.shape}")
        new_h, new_w = self.get_preprocess_shape(image.shape[0], image.shape[1], self.target_length)
        pil_image = Image.fromarray(np.ascontiguousarray(image))
        return np.array(pil_image.resize((new_w, new_h), Image.Resampling.BILINEAR))

    def apply_coords(self, coords: np.ndarray, original_size: tuple[int, ...]) -> np.ndarray:
        """``...x2`` XY coordinates in the original frame -> float64 input-frame coordinates.

        Args:
            coords: array whose last axis is (x, y).
            original_size: (H, W) of the original image.
        """
        old_h, old_w = original_size
        new_h, new_w = self.get_preprocess_shape(old_h, old_w, self.target_length)
        coords = np.array(coords, dtype=np.float64, copy=True)
        coords[..., 0] = coords[..., 0] * (new_w / old_w)
        coords[..., 1] = coords[..., 1] * (new_h / old_h)
        return coords

    def apply_boxes(self, boxes: np.ndarray, original_size: tuple[int, ...]) -> np.ndarray:
        """``Bx4`` (or ``4``) XYXY boxes in the original frame -> ``Bx4`` float64 input frame."""
        boxes = self.apply_coords(np.asarray(boxes).reshape(-1, 2, 2), original_size)
        return boxes.reshape(-1, 4)

    def apply_image_torch(self, image: torch.Tensor) -> torch.Tensor:
        """``BxCxHxW`` float images -> resized with antialiased bilinear interpolation.

        Close to, but not bit-identical with, :meth:`apply_image`, which is what the model
        expects. (The official version computes the size from the batch and channel axes;
        this one uses H and W.)
        """
        if image.ndim != 4:
            raise ValueError(f"apply_image_torch expects BxCxHxW, got shape {tuple(image.shape)}")
        target = self.get_preprocess_shape(image.shape[2], image.shape[3], self.target_length)
        return F.interpolate(image, target, mode="bilinear", align_corners=False, antialias=True)

    def apply_coords_torch(
        self, coords: torch.Tensor, original_size: tuple[int, ...]
    ) -> torch.Tensor:
        """``...x2`` XY tensor in the original frame -> float32 input-frame coordinates."""
        old_h, old_w = original_size
        new_h, new_w = self.get_preprocess_shape(old_h, old_w, self.target_length)
        coords = coords.to(torch.float, copy=True)
        coords[..., 0] = coords[..., 0] * (new_w / old_w)
        coords[..., 1] = coords[..., 1] * (new_h / old_h)
        return coords

    def apply_boxes_torch(
        self, boxes: torch.Tensor, original_size: tuple[int, ...]
    ) -> torch.Tensor:
        """``Bx4`` XYXY tensor in the original frame -> ``Bx4`` float32 input frame."""
        boxes = self.apply_coords_torch(boxes.reshape(-1, 2, 2), original_size)
        return boxes.reshape(-1, 4)

    @staticmethod
    def get_preprocess_shape(old_h: int, old_w: int, long_side_length: int) -> tuple[int, int]:
        """(h, w) after scaling (old_h, old_w) so the long side is ``long_side_length``,
        each side rounded half up."""
        scale = long_side_length * 1.0 / max(old_h, old_w)
        new_h = int(old_h * scale + 0.5)
        new_w = int(old_w * scale + 0.5)
        return (new_h, new_w)
