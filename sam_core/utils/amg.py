"""Helpers of the automatic mask generator: point grids, crops, boxes, RLE, NMS, scores.

Frames: boxes are XYXY in pixels of the frame they are given in (a crop, or the original
image); `uncrop_*` moves crop-frame values into the original image. Masks are ``BxHxW``
bool tensors. Uncompressed RLE is COCO's: ``{"size": [h, w], "counts": [...]}`` in
column-major order, starting with a run of zeros.

Box non-maximum suppression is our own (no torchvision): greedy, highest score first
(stable order for equal scores), suppressing boxes whose IoU with a kept box is greater
than the threshold, as torchvision's ``nms`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import product

import cv2
import numpy as np
import torch
import torch.nn.functional as F

Box = Sequence[int]  # XYXY


# --- point grids and crops ----------------------------------------------------------------


def build_point_grid(n_per_side: int) -> np.ndarray:
    """``(n*n)x2`` points evenly spaced in [0, 1]^2, each at the centre of its cell (x, y)."""
    offset = 1 / (2 * n_per_side)
    one_side = np.linspace(offset, 1 - offset, n_per_side)
    xs = np.tile(one_side[None, :], (n_per_side, 1))
    ys = np.tile(one_side[:, None], (1, n_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def build_all_layer_point_grids(
    n_per_side: int, n_layers: int, scale_per_layer: int
) -> list[np.ndarray]:
    """One grid per crop layer; layer i has ``n_per_side / scale_per_layer**i`` per side."""
    return [
        build_point_grid(int(n_per_side / (scale_per_layer**layer)))
        for layer in range(n_layers + 1)
    ]


def generate_crop_boxes(
    im_size: tuple[int, int], n_layers: int, overlap_ratio: float
) -> tuple[list[list[int]], list[int]]:
    """XYXY crop boxes and their layer: the whole image, then 2^i x 2^i overlapping crops."""
    im_h, im_w = im_size
    short_side = min(im_h, im_w)
    boxes: list[list[int]] = [[0, 0, im_w, im_h]]
    layers = [0]

    def crop_len(orig_len: int, n_crops: int, overlap: int) -> int:
        return int(math.ceil((overlap * (n_crops - 1) + orig_len) / n_crops))

    for layer in range(n_layers):
        per_side = 2 ** (layer + 1)
        overlap = int(overlap_ratio * short_side * (2 / per_side))
        crop_w = crop_len(im_w, per_side, overlap)
        crop_h = crop_len(im_h, per_side, overlap)
        xs = [int((crop_w - overlap) * i) for i in range(per_side)]
        ys = [int((crop_h - overlap) * i) for i in range(per_side)]
        for x0, y0 in product(xs, ys):
            boxes.append([x0, y0, min(x0 + crop_w, im_w), min(y0 + crop_h, im_h)])
            layers.append(layer + 1)
    return boxes, layers


def batch_iterator(batch_size: int, *arrays) -> Iterator[list]:
    """Consecutive slices of ``batch_size`` items of every array (the last may be short)."""
    if not arrays or any(len(a) != len(arrays[0]) for a in arrays):
        raise ValueError("batch_iterator needs arrays of one common length")
    count = len(arrays[0])
    for start in range(0, count, batch_size):
        yield [a[start : start + batch_size] for a in arrays]


def batch_count(count: int, batch_size: int) -> int:
    return (count + batch_size - 1) // batch_size


# --- boxes --------------------------------------------------------------------------------


def batched_mask_to_box(masks: torch.Tensor) -> torch.Tensor:
    """``...xHxW`` bool masks -> ``...x4`` XYXY boxes of their pixels (inclusive max);
    an empty mask gives [0, 0, 0, 0]."""
    if masks.numel() == 0:
        return torch.zeros(*masks.shape[:-2], 4, device=masks.device)
    shape = masks.shape
    height, width = shape[-2:]
    flat = masks.flatten(0, -3) if masks.ndim > 2 else masks.unsqueeze(0)
    rows = flat.any(dim=-1)
    cols = flat.any(dim=-2)
    row_index = torch.arange(height, device=masks.device)[None, :]
    col_index = torch.arange(width, device=masks.device)[None, :]
    bottom = (rows * row_index).amax(dim=-1)
    top = (rows * row_index + height * ~rows).amin(dim=-1)
    right = (cols * col_index).amax(dim=-1)
    left = (cols * col_index + width * ~cols).amin(dim=-1)
    empty = (right < left) | (bottom < top)
    boxes = torch.stack([left, top, right, bottom], dim=-1) * (~empty).unsqueeze(-1)
    return boxes.reshape(*shape[:-2], 4)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_xyxy_to_xywh(box: torch.Tensor) -> torch.Tensor:
    xywh = box.clone()
    xywh[2] = xywh[2] - xywh[0]
    xywh[3] = xywh[3] - xywh[1]
    return xywh


def uncrop_boxes_xyxy(boxes: torch.Tensor, crop_box: Box) -> torch.Tensor:
    x0, y0 = crop_box[:2]
    offset = torch.tensor([[x0, y0, x0, y0]], device=boxes.device)
    if boxes.ndim == 3:
        offset = offset.unsqueeze(1)
    return boxes + offset


def uncrop_points(points: torch.Tensor, crop_box: Box) -> torch.Tensor:
    x0, y0 = crop_box[:2]
    offset = torch.tensor([[x0, y0]], device=points.device)
    if points.ndim == 3:
        offset = offset.unsqueeze(1)
    return points + offset


def uncrop_masks(masks: torch.Tensor, crop_box: Box, orig_h: int, orig_w: int) -> torch.Tensor:
    """Pad crop-frame masks with zeros to the original image size."""
    x0, y0, x1, y1 = crop_box
    if (x0, y0, x1, y1) == (0, 0, orig_w, orig_h):
        return masks
    pad_x, pad_y = orig_w - (x1 - x0), orig_h - (y1 - y0)
    return F.pad(masks, (x0, pad_x - x0, y0, pad_y - y0), value=0)


def is_box_near_crop_edge(
    boxes: torch.Tensor, crop_box: Box, orig_box: Box, atol: float = 20.0
) -> torch.Tensor:
    """Boxes (crop frame) within ``atol`` px of a crop edge that is not an image edge."""
    crop = torch.as_tensor(crop_box, dtype=torch.float, device=boxes.device)
    orig = torch.as_tensor(orig_box, dtype=torch.float, device=boxes.device)
    boxes = uncrop_boxes_xyxy(boxes, crop_box).float()
    near_crop = torch.isclose(boxes, crop[None, :], atol=atol, rtol=0)
    near_image = torch.isclose(boxes, orig[None, :], atol=atol, rtol=0)
    return torch.any(near_crop & ~near_image, dim=1)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, categories: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Indexes of the boxes kept by greedy NMS within each category, best score first.

    boxes: ``Nx4`` XYXY; scores: ``N``; categories: ``N`` integer labels (boxes of
    different categories never suppress each other).
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    b = boxes[order].double().cpu().numpy()
    labels = categories[order].cpu().numpy()
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    suppressed = np.zeros(len(b), dtype=bool)
    kept = []
    for i in range(len(b)):
        if suppressed[i]:
            continue
        kept.append(i)
        rest = np.arange(i + 1, len(b))
        rest = rest[~suppressed[rest] & (labels[rest] == labels[i])]
        if rest.size == 0:
            continue
        width = np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0])
        height = np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1])
        inter = np.clip(width, 0, None) * np.clip(height, 0, None)
        union = areas[i] + areas[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, inter / union, 0.0)
        suppressed[rest[iou > iou_threshold]] = True
    return order[torch.as_tensor(kept, dtype=torch.int64, device=order.device)]


# --- scores -------------------------------------------------------------------------------


def calculate_stability_score(
    logits: torch.Tensor, mask_threshold: float, threshold_offset: float
) -> torch.Tensor:
    """IoU of the masks thresholded at ``threshold +/- offset`` (``...xHxW`` logits)."""
    # Row sums stay far below int16's range; int32 for the totals (as the official code).
    high = (logits > (mask_threshold + threshold_offset)).sum(-1, dtype=torch.int16)
    low = (logits > (mask_threshold - threshold_offset)).sum(-1, dtype=torch.int16)
    return high.sum(-1, dtype=torch.int32) / low.sum(-1, dtype=torch.int32)


# --- RLE ----------------------------------------------------------------------------------


def mask_to_rle_pytorch(masks: torch.Tensor) -> list[dict]:
    """``BxHxW`` bool masks -> uncompressed COCO RLEs (column-major runs)."""
    batch, height, width = masks.shape
    flat = masks.permute(0, 2, 1).flatten(1)
    changes = (flat[:, 1:] ^ flat[:, :-1]).nonzero()
    result = []
    for i in range(batch):
        positions = changes[changes[:, 0] == i, 1]
        bounds = torch.cat(
            [
                torch.tensor([0], dtype=positions.dtype, device=positions.device),
                positions + 1,
                torch.tensor([height * width], dtype=positions.dtype, device=positions.device),
            ]
        )
        runs = (bounds[1:] - bounds[:-1]).cpu().tolist()
        counts = [0] + runs if bool(flat[i, 0]) else runs
        result.append({"size": [height, width], "counts": counts})
    return result


def rle_to_mask(rle: dict) -> np.ndarray:
    """Uncompressed COCO RLE -> HxW bool mask."""
    height, width = rle["size"]
    mask = np.empty(height * width, dtype=bool)
    position, value = 0, False
    for count in rle["counts"]:
        mask[position : position + count] = value
        position += count
        value = not value
    return mask.reshape(width, height).transpose()


def area_from_rle(rle: dict) -> int:
    return int(sum(rle["counts"][1::2]))


def coco_encode_rle(rle: dict) -> dict:
    """Uncompressed RLE -> COCO compressed RLE (``counts`` a str), via pycocotools."""
    from pycocotools import mask as coco_mask  # only needed for output_mode="coco_rle"

    height, width = rle["size"]
    encoded = coco_mask.frPyObjects(rle, height, width)
    encoded["counts"] = encoded["counts"].decode("utf-8")
    return encoded


# --- small regions ------------------------------------------------------------------------


def remove_small_regions(
    mask: np.ndarray, area_thresh: float, mode: str
) -> tuple[np.ndarray, bool]:
    """Fill holes (``mode="holes"``) or drop islands (``"islands"``) under ``area_thresh``
    pixels (8-connectivity); returns the mask and whether it changed."""
    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}")
    holes = mode == "holes"
    working = (holes ^ mask).astype(np.uint8)
    count, regions, stats, _ = cv2.connectedComponentsWithStats(working, connectivity=8)
    sizes = stats[:, -1][1:]
    small = [i + 1 for i, size in enumerate(sizes) if size < area_thresh]
    if not small:
        return mask, False
    fill = [0, *small]
    if not holes:
        fill = [i for i in range(count) if i not in fill]
        if not fill:  # every island is small: keep the largest
            fill = [int(np.argmax(sizes)) + 1]
    return np.isin(regions, fill), True
