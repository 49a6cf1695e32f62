"""``SAM2AutomaticMaskGenerator``: SAM 2's "segment everything" (official ``sam2`` API).

The same algorithm as SAM's generator (``sam_core.automatic_mask_generator``: a point
grid per crop, the multimask outputs of each click, filtering by predicted IoU and
stability, box NMS within and across crops), with SAM 2's predictor: clicks are scaled
to the squashed 1024x1024 frame, and the low-res logits are resized straight to the
crop (SAM 2's post-processing). Defaults as the official: ``pred_iou_thresh=0.8``.

``use_m2m=True`` adds the official one-step refinement: every output of every click is
decoded again with its own low-res logits (clamped to +-32, as the official predictor
returns them) as the mask prompt and one output, and the filters then judge the refined
masks and IoU. The official generator's in-predictor hole filling (``max_hole_area``)
needs its CUDA extension and is skipped on a CPU; here it is never applied, and
``min_mask_region_area`` acts in the final post-processing, as SAM's does.
"""

from __future__ import annotations

import numpy as np
import torch

from sam_core.automatic_mask_generator import SamAutomaticMaskGenerator
from sam_core.mask_logits import upscale_logits
from sam_core.sam2.model import Sam2
from sam_core.sam2.predictor import SAM2ImagePredictor

#: The official predictor clamps the low-res logits it returns (the m2m mask prompts).
LOW_RES_CLAMP = 32.0


class SAM2AutomaticMaskGenerator(SamAutomaticMaskGenerator):
    """Masks of everything in an image with a SAM 2 model (see the module docstring);
    ``generate(image, progress=, cancel=, embedding=)`` as SAM's generator."""

    def __init__(
        self,
        model: Sam2,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.8,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        mask_threshold: float = 0.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        use_m2m: bool = False,
        multimask_output: bool = True,
    ) -> None:
        if mask_threshold != model.mask_threshold:
            raise ValueError(f"mask_threshold must be the model's ({model.mask_threshold})")
        self.multimask_output = multimask_output
        self.use_m2m = use_m2m
        super().__init__(
            model,  # type: ignore[arg-type]
            points_per_side=points_per_side,
            points_per_batch=points_per_batch,
            pred_iou_thresh=pred_iou_thresh,
            stability_score_thresh=stability_score_thresh,
            stability_score_offset=stability_score_offset,
            box_nms_thresh=box_nms_thresh,
            crop_n_layers=crop_n_layers,
            crop_nms_thresh=crop_nms_thresh,
            crop_overlap_ratio=crop_overlap_ratio,
            crop_n_points_downscale_factor=crop_n_points_downscale_factor,
            point_grids=point_grids,
            min_mask_region_area=min_mask_region_area,
            output_mode=output_mode,
        )

    def _process_batch(self, points, crop_size, crop_box, orig_size):
        # The official keeps the grid points as float32 (its records show those values).
        return super()._process_batch(points.astype(np.float32), crop_size, crop_box, orig_size)

    def _decode_batch(
        self, points: np.ndarray, crop_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        low_res, iou_preds, point_rows = super()._decode_batch(points, crop_size)
        if not self.use_m2m:
            return low_res, iou_preds, point_rows
        refined, refined_iou = [], []
        step = self.points_per_batch
        for start in range(0, point_rows.shape[0], step):
            rows = point_rows[start : start + step].numpy()
            prompt = low_res[start : start + step].clamp(-LOW_RES_CLAMP, LOW_RES_CLAMP)
            logits, iou = self._decode_points(rows, crop_size, mask_input=prompt[:, None])
            refined.append(logits[:, 0])
            refined_iou.append(iou[:, 0])
        return torch.cat(refined), torch.cat(refined_iou), point_rows

    def _make_predictor(self, model):
        return SAM2ImagePredictor(model)

    def _reset_predictor(self) -> None:
        self.predictor.reset_predictor()

    def _decode_points(
        self,
        points: np.ndarray,
        crop_size: tuple[int, int],
        mask_input: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A positive click per row (crop pixels) -> the decoder's outputs; with
        ``mask_input`` (``Bx1x256x256``), one output per click, prompted by it."""
        predictor = self.predictor
        side = predictor.model.image_size
        scale = np.array([side / crop_size[1], side / crop_size[0]])
        in_points = torch.as_tensor(points * scale, dtype=torch.float, device=predictor.device)
        in_labels = torch.ones(in_points.shape[0], dtype=torch.int, device=in_points.device)
        return predictor.predict_low_res_torch(
            in_points[:, None, :],
            in_labels[:, None],
            mask_input=mask_input,
            multimask_output=self.multimask_output if mask_input is None else False,
        )

    def _upscale(self, low_res: torch.Tensor, crop_size: tuple[int, int]) -> torch.Tensor:
        side = self.predictor.model.image_size
        return upscale_logits(low_res, (side, side), crop_size, side, single_resize=True)
