"""``SamAutomaticMaskGenerator``: segment everything in an image with a grid of prompts.

The official algorithm: for every crop (the whole image, then optional overlapping crop
layers), encode the crop once, prompt SAM with a grid of single points in batches, keep
the multimask outputs whose predicted IoU and stability score pass their thresholds and
whose box does not touch an inner crop edge, suppress duplicates with box NMS within the
crop, then across crops (preferring smaller crops), and optionally remove small
disconnected regions and holes.

Beyond the official API (the defaults keep its behaviour): ``generate`` reports progress
after each point batch, can be cancelled between batches, and can reuse an embedding of
the whole image that the caller already has; masks are upsampled to full resolution only
for the outputs that pass the predicted-IoU threshold (the result is the same).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sam_core.embedding import ImageEmbedding
from sam_core.inputs import check_image
from sam_core.modeling import Sam
from sam_core.predictor import SamPredictor
from sam_core.utils.amg import (
    area_from_rle,
    batch_count,
    batch_iterator,
    batched_mask_to_box,
    batched_nms,
    box_area,
    box_xyxy_to_xywh,
    build_all_layer_point_grids,
    calculate_stability_score,
    coco_encode_rle,
    generate_crop_boxes,
    is_box_near_crop_edge,
    mask_to_rle_pytorch,
    remove_small_regions,
    rle_to_mask,
    uncrop_boxes_xyxy,
    uncrop_masks,
    uncrop_points,
)

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")
Cancel = threading.Event | Callable[[], bool]
Progress = Callable[[int, int], object]


class GenerationCancelled(Exception):
    """``generate`` was cancelled by its ``cancel`` argument."""


class _Columns:
    """Named columns of equal length (tensors, arrays or lists) filtered together."""

    def __init__(self, **columns: Any) -> None:
        self.columns = dict(columns)

    def __getitem__(self, key: str) -> Any:
        return self.columns[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.columns[key] = value

    def __delitem__(self, key: str) -> None:
        del self.columns[key]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def filter(self, keep: torch.Tensor) -> None:
        """Keep the rows selected by a bool mask or an index tensor."""
        indexes = keep.nonzero().flatten() if keep.dtype == torch.bool else keep
        indexes = indexes.cpu()
        for key, value in self.columns.items():
            if value is None:
                continue
            if torch.is_tensor(value):
                self.columns[key] = value[indexes.to(value.device)]
            elif isinstance(value, np.ndarray):
                self.columns[key] = value[indexes.numpy()]
            else:
                self.columns[key] = [value[i] for i in indexes.tolist()]

    def extend(self, other: _Columns) -> None:
        for key, value in other.columns.items():
            mine = self.columns.get(key)
            if mine is None:
                self.columns[key] = value
            elif torch.is_tensor(value):
                self.columns[key] = torch.cat([mine, value], dim=0)
            elif isinstance(value, np.ndarray):
                self.columns[key] = np.concatenate([mine, value], axis=0)
            else:
                self.columns[key] = mine + value

    def to_numpy(self) -> None:
        for key, value in self.columns.items():
            if torch.is_tensor(value):
                self.columns[key] = value.detach().cpu().numpy()


class SamAutomaticMaskGenerator:
    """Generates masks for a whole image (the official ``segment_anything`` API).

    Args:
        model: the SAM model.
        points_per_side: points along one side of the grid (``points_per_side**2`` in
            all); None requires ``point_grids``.
        points_per_batch: points run through the decoder at once (memory vs speed).
        pred_iou_thresh: minimum predicted IoU of a kept mask (in [0, 1]).
        stability_score_thresh: minimum stability score (IoU between the masks
            thresholded at ``mask_threshold +/- stability_score_offset``).
        stability_score_offset: the logit offset of the stability score.
        box_nms_thresh: box IoU above which duplicates within a crop are suppressed.
        crop_n_layers: extra crop layers (layer i has ``(2**i)**2`` crops).
        crop_nms_thresh: box IoU for suppressing duplicates across crops.
        crop_overlap_ratio: overlap of neighbouring crops, as a fraction of the short side
            at the first layer (scaled down for deeper layers).
        crop_n_points_downscale_factor: layer i uses ``points_per_side / factor**i``.
        point_grids: explicit normalised grids (``Nx2`` in [0, 1]), one per layer.
        min_mask_region_area: if > 0, disconnected regions and holes smaller than this
            many pixels are removed (OpenCV), then duplicates suppressed again.
        output_mode: "binary_mask" (HxW bool), "uncompressed_rle" or "coco_rle".
    """

    def __init__(
        self,
        model: Sam,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
    ) -> None:
        if (points_per_side is None) == (point_grids is None):
            raise ValueError("give exactly one of points_per_side and point_grids")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        if points_per_batch < 1:
            raise ValueError(f"points_per_batch must be >= 1, got {points_per_batch}")
        if crop_n_layers < 0:
            raise ValueError(f"crop_n_layers must be >= 0, got {crop_n_layers}")
        if points_per_side is not None:
            self.point_grids = build_all_layer_point_grids(
                points_per_side, crop_n_layers, crop_n_points_downscale_factor
            )
        else:
            self.point_grids = [np.asarray(grid, dtype=np.float64) for grid in point_grids]
            if len(self.point_grids) != crop_n_layers + 1:
                raise ValueError(
                    f"point_grids must hold one grid per layer ({crop_n_layers + 1}), "
                    f"got {len(self.point_grids)}"
                )
        self.predictor = self._make_predictor(model)
        self.points_per_batch = points_per_batch
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = output_mode

    @torch.inference_mode()
    def generate(
        self,
        image: np.ndarray,
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
        embedding: ImageEmbedding | None = None,
    ) -> list[dict[str, Any]]:
        """Masks of everything in an ``HxWx3`` uint8 RGB image.

        Returns one record per mask: ``segmentation`` (by ``output_mode``), ``area``
        (pixels), ``bbox`` (XYWH), ``predicted_iou``, ``point_coords`` (the prompt, in
        image pixels), ``stability_score`` and ``crop_box`` (XYWH).

        Extensions: ``progress(done, total)`` after every point batch; ``cancel`` (an
        Event or a callable returning True) stops at the next batch with
        GenerationCancelled; ``embedding`` of this image from this model is used for the
        whole-image crop instead of encoding it again.
        """
        image = check_image(image)
        orig_size = image.shape[:2]
        if embedding is not None and tuple(embedding.original_size) != tuple(orig_size):
            raise ValueError(
                f"the embedding is of a {embedding.original_size} image, not {orig_size}"
            )
        crop_boxes, layers = generate_crop_boxes(
            orig_size, self.crop_n_layers, self.crop_overlap_ratio
        )
        steps = _Steps(
            sum(
                batch_count(len(self.point_grids[layer]), self.points_per_batch) for layer in layers
            ),
            progress,
            cancel,
        )
        data = _Columns()
        for crop_box, layer in zip(crop_boxes, layers, strict=True):
            reuse = embedding if crop_box == [0, 0, orig_size[1], orig_size[0]] else None
            data.extend(self._process_crop(image, crop_box, layer, orig_size, reuse, steps))
        if len(crop_boxes) > 1 and len(data):
            # Prefer masks from smaller crops.
            scores = 1 / box_area(data["crop_boxes"])
            keep = batched_nms(
                data["boxes"].float(),
                scores.to(data["boxes"].device),
                torch.zeros_like(data["boxes"][:, 0]),
                iou_threshold=self.crop_nms_thresh,
            )
            data.filter(keep)
        data.to_numpy()
        if self.min_mask_region_area > 0 and len(data):
            self._remove_small_regions(data)
        return self._records(data)

    # -- per crop ------------------------------------------------------------------------
    def _process_crop(
        self,
        image: np.ndarray,
        crop_box: list[int],
        layer: int,
        orig_size: tuple[int, int],
        embedding: ImageEmbedding | None,
        steps: _Steps,
    ) -> _Columns:
        x0, y0, x1, y1 = crop_box
        crop = image[y0:y1, x0:x1, :]
        crop_size = crop.shape[:2]
        if embedding is not None:
            self.predictor.set_embedding(embedding)
        else:
            steps.check()
            self.predictor.set_image(crop)
        points = self.point_grids[layer] * np.array(crop_size)[None, ::-1]
        data = _Columns()
        for (batch,) in batch_iterator(self.points_per_batch, points):
            steps.check()
            data.extend(self._process_batch(batch, crop_size, crop_box, orig_size))
            steps.done()
        self._reset_predictor()
        if not len(data):
            return data
        keep = batched_nms(
            data["boxes"].float(),
            data["iou_preds"],
            torch.zeros_like(data["boxes"][:, 0]),
            iou_threshold=self.box_nms_thresh,
        )
        data.filter(keep)
        data["boxes"] = uncrop_boxes_xyxy(data["boxes"], crop_box)
        data["points"] = uncrop_points(data["points"], crop_box)
        data["crop_boxes"] = torch.tensor([crop_box] * len(data["rles"]))
        return data

    def _process_batch(
        self,
        points: np.ndarray,
        crop_size: tuple[int, int],
        crop_box: list[int],
        orig_size: tuple[int, int],
    ) -> _Columns:
        model = self.predictor.model
        orig_h, orig_w = orig_size
        low_res, iou_preds, point_rows = self._decode_batch(points, crop_size)
        if self.pred_iou_thresh > 0.0:  # before upsampling: same result, less work
            keep = iou_preds > self.pred_iou_thresh
            low_res, iou_preds, point_rows = low_res[keep], iou_preds[keep], point_rows[keep.cpu()]
        if low_res.shape[0] == 0:
            return _Columns()
        logits = self._upscale(low_res[:, None], crop_size)[:, 0]
        data = _Columns(masks=logits, iou_preds=iou_preds, points=point_rows)
        data["stability_score"] = calculate_stability_score(
            data["masks"], model.mask_threshold, self.stability_score_offset
        )
        if self.stability_score_thresh > 0.0:
            data.filter(data["stability_score"] >= self.stability_score_thresh)
        data["masks"] = data["masks"] > model.mask_threshold
        data["boxes"] = batched_mask_to_box(data["masks"])
        near_edge = is_box_near_crop_edge(data["boxes"], crop_box, [0, 0, orig_w, orig_h])
        if torch.any(near_edge):
            data.filter(~near_edge)
        data["masks"] = uncrop_masks(data["masks"], crop_box, orig_h, orig_w)
        data["rles"] = mask_to_rle_pytorch(data["masks"])
        del data["masks"]
        return data

    def _decode_batch(
        self, points: np.ndarray, crop_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every output of every click of ``points`` (``N x 2`` crop pixels), one row
        each: low-res logits ``Mx256x256``, their IoU ``M`` and the click ``Mx2``."""
        low_res, iou_preds = self._decode_points(points, crop_size)
        outputs = low_res.shape[1]
        point_rows = torch.as_tensor(points.repeat(outputs, axis=0))
        return low_res.flatten(0, 1), iou_preds.flatten(0, 1), point_rows

    # -- what depends on the model family (SAM here; SAM 2: sam_core.sam2.mask_generator) -
    def _make_predictor(self, model):
        return SamPredictor(model)

    def _reset_predictor(self) -> None:
        self.predictor.reset_image()

    def _decode_points(
        self, points: np.ndarray, crop_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One positive click per row of ``points`` (crop pixels) -> the multimask
        outputs ``Bx3x256x256`` and their IoU ``Bx3``."""
        predictor, model = self.predictor, self.predictor.model
        coords = predictor.transform.apply_coords(points, crop_size)
        in_points = torch.as_tensor(coords, dtype=torch.float, device=predictor.device)
        in_labels = torch.ones(in_points.shape[0], dtype=torch.int, device=in_points.device)
        sparse, dense = model.prompt_encoder(
            points=(in_points[:, None, :], in_labels[:, None]), boxes=None, masks=None
        )
        return model.mask_decoder(
            image_embeddings=predictor.decoder_features(),
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True,
        )

    def _upscale(self, low_res: torch.Tensor, crop_size: tuple[int, int]) -> torch.Tensor:
        """``Bx1x256x256`` -> logits at the crop's size (the official post-processing)."""
        return self.predictor.model.postprocess_masks(low_res, self.predictor.input_size, crop_size)

    # -- post-processing -----------------------------------------------------------------
    def _remove_small_regions(self, data: _Columns) -> None:
        """Fill small holes, drop small islands, then NMS again preferring unchanged masks."""
        masks, scores = [], []
        for rle in data["rles"]:
            mask = rle_to_mask(rle)
            mask, holes_changed = remove_small_regions(mask, self.min_mask_region_area, "holes")
            mask, islands_changed = remove_small_regions(mask, self.min_mask_region_area, "islands")
            masks.append(torch.as_tensor(mask).unsqueeze(0))
            scores.append(float(not holes_changed and not islands_changed))
        stacked = torch.cat(masks, dim=0)
        boxes = batched_mask_to_box(stacked)
        keep = batched_nms(
            boxes.float(),
            torch.as_tensor(scores),
            torch.zeros_like(boxes[:, 0]),
            iou_threshold=max(self.box_nms_thresh, self.crop_nms_thresh),
        )
        for index in keep.tolist():
            if scores[index] == 0.0:  # changed: store the cleaned mask and its box
                data["rles"][index] = mask_to_rle_pytorch(stacked[index].unsqueeze(0))[0]
                data["boxes"][index] = boxes[index].numpy()
        data.filter(keep)

    def _records(self, data: _Columns) -> list[dict[str, Any]]:
        if not len(data):
            return []
        if self.output_mode == "coco_rle":
            segmentations = [coco_encode_rle(rle) for rle in data["rles"]]
        elif self.output_mode == "binary_mask":
            segmentations = [rle_to_mask(rle) for rle in data["rles"]]
        else:
            segmentations = data["rles"]
        records = []
        for i, segmentation in enumerate(segmentations):
            records.append(
                {
                    "segmentation": segmentation,
                    "area": area_from_rle(data["rles"][i]),
                    "bbox": box_xyxy_to_xywh(torch.as_tensor(data["boxes"][i])).tolist(),
                    "predicted_iou": float(data["iou_preds"][i]),
                    "point_coords": [np.asarray(data["points"][i]).tolist()],
                    "stability_score": float(data["stability_score"][i]),
                    "crop_box": box_xyxy_to_xywh(torch.as_tensor(data["crop_boxes"][i])).tolist(),
                }
            )
        return records


class _Steps:
    """Progress over all point batches, and the cancel check between them."""

    def __init__(self, total: int, progress: Progress | None, cancel: Cancel | None) -> None:
        self.total = total
        self.count = 0
        self.progress = progress
        if cancel is None:
            self._cancelled: Callable[[], bool] = lambda: False
        elif isinstance(cancel, threading.Event):
            self._cancelled = cancel.is_set
        elif callable(cancel):
            self._cancelled = cancel
        else:
            raise ValueError("cancel must be a threading.Event or a callable")

    def check(self) -> None:
        if self._cancelled():
            raise GenerationCancelled("segment everything was cancelled")

    def done(self) -> None:
        self.count += 1
        if self.progress is not None:
            self.progress(self.count, self.total)
