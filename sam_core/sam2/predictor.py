"""``SAM2ImagePredictor``: encode an image once, then predict masks for many prompts.

The API is the official ``sam2`` 1.1.0 one (``set_image``, ``set_image_batch``,
``predict``, ``get_image_embedding``, ``reset_predictor``, ``_features``, ``_orig_hw``).

Frames: prompts are original-image pixels (X right, Y down; boxes XYXY), or 0-1
coordinates with ``normalize_coords=False``. SAM 2 does not keep the aspect ratio: the
image is resized to 1024x1024 (bilinear, antialiased) and normalised with ImageNet
statistics, and prompts are scaled by 1024/W and 1024/H. The 256x256 low-resolution
logits cover the whole image and are resized (bilinear) straight to its size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sam_core.embedding import SAM2_PREPROCESSING_VERSION, ImageEmbedding, model_id
from sam_core.inputs import check_box, check_image, check_mask_input, check_points
from sam_core.mask_logits import upscale_logits
from sam_core.modeling.mask_decoder import SubpixelFeatures
from sam_core.predictor import ImageNotSetError
from sam_core.sam2.decoding import (
    BOX_BOTTOM_RIGHT_LABEL,
    BOX_TOP_LEFT_LABEL,
    dynamic_single_output,
)
from sam_core.sam2.model import PIXEL_MEAN, PIXEL_STD, Sam2

LOW_RES_SIZE = (256, 256)
LOGIT_CLAMP = 32.0


class SAM2ImagePredictor:
    """Computes an image's features once, then predicts masks for prompts quickly."""

    def __init__(self, sam_model: Sam2, mask_threshold: float = 0.0) -> None:
        self.model = sam_model
        self.mask_threshold = mask_threshold
        self.reset_predictor()

    @property
    def device(self) -> torch.device:
        return self.model.device

    def reset_predictor(self) -> None:
        self._is_image_set = False
        self._is_batch = False
        self._features: dict[str, object] | None = None
        self._orig_hw: list[tuple[int, int]] | None = None
        # Per image index: its high-resolution levels in the decoder's row order.
        self._subpixel_high_res: dict[int, SubpixelFeatures] = {}

    # -- images -----------------------------------------------------------------------------
    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """``HxWx3`` uint8 RGB -> ``3x1024x1024`` normalised model input."""
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).to(self.device)  # a copy
        pixels = pixels.permute(2, 0, 1).float().div_(255.0)
        size = (self.model.image_size, self.model.image_size)
        resized = F.interpolate(pixels[None], size, mode="bilinear", align_corners=False,
                                antialias=True)[0]  # fmt: skip
        mean = torch.tensor(PIXEL_MEAN, device=self.device).view(-1, 1, 1)
        std = torch.tensor(PIXEL_STD, device=self.device).view(-1, 1, 1)
        return (resized - mean) / std

    @torch.no_grad()
    def set_image(self, image: np.ndarray | Image.Image) -> None:
        """Compute the features of one ``HxWx3`` uint8 RGB image (array or PIL image)."""
        if isinstance(image, Image.Image):
            image = np.asarray(image.convert("RGB"))
        image = check_image(image)
        self.reset_predictor()
        self._set_features(self.preprocess(image)[None], [image.shape[:2]])

    @torch.no_grad()
    def set_image_batch(self, image_list: list[np.ndarray]) -> None:
        """Compute the features of several images (``predict_batch`` is not offered:
        use ``_predict(..., img_idx=i)``)."""
        if not isinstance(image_list, list) or not image_list:
            raise ValueError("set_image_batch takes a non-empty list of HxWx3 uint8 images")
        images = [check_image(image) for image in image_list]
        self.reset_predictor()
        batch = torch.stack([self.preprocess(image) for image in images])
        self._set_features(batch, [image.shape[:2] for image in images])
        self._is_batch = True

    def _set_features(self, batch: torch.Tensor, sizes: list[tuple[int, int]]) -> None:
        features = self.model.image_features(batch)
        self._features = {
            "image_embed": features.image_embed,
            "high_res_feats": features.high_res_feats,
        }
        self._orig_hw = [(int(h), int(w)) for h, w in sizes]
        self._is_image_set = True

    @property
    def model_id(self) -> str:
        """Identity of the model's weights (see :func:`sam_core.embedding.model_id`)."""
        return model_id(self.model)

    def export_embedding(self) -> ImageEmbedding:
        """The current (single) image's features as a value, all levels, on the CPU."""
        self._require_image()
        if self._is_batch:
            raise ValueError("export_embedding exports one image: use set_image")
        features: dict = self._features  # type: ignore[assignment]
        return ImageEmbedding(
            features=features["image_embed"].detach().to("cpu", copy=True),
            original_size=self._orig_hw[0],  # type: ignore[index]
            input_size=(self.model.image_size, self.model.image_size),
            model_id=self.model_id,
            preprocessing=SAM2_PREPROCESSING_VERSION,
            high_res_features=tuple(
                level.detach().to("cpu", copy=True) for level in features["high_res_feats"]
            ),
        )

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Restore the state ``set_image`` gave when ``embedding`` was exported
        (ValueError for another model's or preprocessing's embedding)."""
        if not isinstance(embedding, ImageEmbedding):
            raise ValueError(f"expected an ImageEmbedding, got {type(embedding).__name__}")
        if embedding.model_id != self.model_id:
            raise ValueError(
                f"this embedding was computed by model {embedding.model_id}, but this "
                f"predictor runs {self.model_id}; compute it again with set_image"
            )
        if embedding.preprocessing != SAM2_PREPROCESSING_VERSION:
            raise ValueError("this embedding was made with another preprocessing")
        if len(embedding.high_res_features) != 2:
            raise ValueError("a SAM 2 embedding needs its two high-resolution levels")
        self.reset_predictor()
        self._features = {
            "image_embed": embedding.features.to(self.device),
            "high_res_feats": [level.to(self.device) for level in embedding.high_res_features],
        }
        self._orig_hw = [embedding.original_size]
        self._is_image_set = True

    def get_image_embedding(self) -> torch.Tensor:
        """``Bx256x64x64``: the lowest-resolution features (``no_mem_embed`` added)."""
        self._require_image()
        return self._features["image_embed"]  # type: ignore[index]

    # -- prompts ----------------------------------------------------------------------------
    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks ``CxHxW`` (bool, or logits), IoU predictions ``C`` and low-resolution
        logits ``Cx256x256`` for one prompt set on the current image (C = 3 or 1)."""
        self._require_image()
        prompts = self._prompt_tensors(point_coords, point_labels, box, mask_input,
                                       normalize_coords)  # fmt: skip
        logits, iou, low_res = self._predict(*prompts, multimask_output, return_logits=True)
        masks = logits[0]
        if not return_logits:  # the official's bool masks as float: 0 / 1, in place
            torch.gt(masks, self.mask_threshold, out=masks)
        return (
            masks.cpu().numpy(),
            iou[0].float().cpu().numpy(),
            low_res[0].float().cpu().numpy(),
        )

    def predict_low_res(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every output for one prompt set (original-image pixels), from one decoder
        call, not upsampled: ``4x256x256`` float32 logits and ``4`` IoU predictions.
        Rows 0-2 are ``predict(multimask_output=True)``'s, row 3 (``SINGLE_OUTPUT``)
        ``predict(multimask_output=False)``'s (the dynamic single output)."""
        self._require_image()
        prompts = self._prompt_tensors(point_coords, point_labels, box, mask_input, True)
        with torch.no_grad():
            sparse, dense, repeat, high_res = self._embed_prompts(*prompts, img_idx=-1)
            features: dict = self._features  # type: ignore[assignment]
            masks, iou, _, _ = self.model.sam_mask_decoder.predict_all(
                features["image_embed"][-1:], self.model.sam_prompt_encoder.get_dense_pe(),
                sparse, dense, repeat, high_res,
            )  # fmt: skip
            single_masks, single_iou = dynamic_single_output(masks, iou)
            low_res = torch.cat([masks[:, 1:], single_masks], dim=1)
            scores = torch.cat([iou[:, 1:], single_iou], dim=1)
        return low_res[0].float().cpu().numpy(), scores[0].float().cpu().numpy()

    def _prompt_tensors(self, point_coords, point_labels, box, mask_input, normalize_coords):
        """Checked numpy prompts -> model-frame tensors (points ``1xNx2`` + labels ``1xN``,
        box ``1x2x2``, mask ``1x1x256x256``), each None when not given."""
        height, width = self._orig_hw[-1]  # type: ignore[index]
        scale = np.array([self.model.image_size, self.model.image_size], dtype=np.float64)
        if normalize_coords:
            scale = scale / np.array([width, height], dtype=np.float64)
        coords = labels = boxes = masks = None
        if point_coords is not None or point_labels is not None:
            points, point_labels_checked = check_points(point_coords, point_labels)
            coords = torch.as_tensor(points * scale, dtype=torch.float, device=self.device)[None]
            labels = torch.as_tensor(point_labels_checked, dtype=torch.int, device=self.device)
            labels = labels[None]
        if box is not None:
            corners = check_box(box).reshape(2, 2) * scale
            boxes = torch.as_tensor(corners, dtype=torch.float, device=self.device)[None]
        if mask_input is not None:
            mask = check_mask_input(mask_input, LOW_RES_SIZE)
            mask = np.array(mask, dtype=np.float32)  # a copy: the caller's may be read-only
            masks = torch.from_numpy(mask).to(self.device)[None]
        return coords, labels, boxes, masks

    @torch.no_grad()
    def _predict(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        img_idx: int = -1,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batched prompts in the 1024 model-input frame: ``BxNx2`` points with ``BxN``
        labels, ``Bx2x2`` (or ``Bx4``) boxes, ``Bx1x256x256`` mask logits ->
        (masks ``BxCxHxW``, IoU ``BxC``, low-resolution logits ``BxCx256x256``)."""
        self._require_image()
        low_res, iou = self.predict_low_res_torch(
            point_coords, point_labels, boxes, mask_input, multimask_output, img_idx
        )
        size = self._orig_hw[img_idx]  # type: ignore[index]
        square = (self.model.image_size, self.model.image_size)
        masks = upscale_logits(low_res, square, size, self.model.image_size, single_resize=True)
        low_res = low_res.clamp(-LOGIT_CLAMP, LOGIT_CLAMP)
        if not return_logits:
            masks = masks > self.mask_threshold
        return masks, iou, low_res

    @torch.no_grad()
    def predict_low_res_torch(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        img_idx: int = -1,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's output for batched model-frame prompts: logits
        ``BxCx256x256`` (not clamped) and IoU ``BxC``."""
        self._require_image()
        sparse, dense, repeat, high_res = self._embed_prompts(
            point_coords, point_labels, boxes, mask_input, img_idx
        )
        features: dict = self._features  # type: ignore[assignment]
        low_res, iou, _, _ = self.model.sam_mask_decoder(
            image_embeddings=features["image_embed"][img_idx].unsqueeze(0),
            image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=repeat,
            high_res_features=high_res,
        )
        return low_res, iou

    def _embed_prompts(self, point_coords, point_labels, boxes, mask_input, img_idx):
        """(sparse, dense prompt embeddings, one image for several prompt sets?, the
        image's high-resolution levels in the decoder's row order). A box goes first,
        as two points labelled 2 and 3, as the official predictor does."""
        points = None
        if point_coords is not None:
            points = (point_coords, point_labels)
        if boxes is not None:
            corners = boxes.reshape(-1, 2, 2)
            corner_labels = torch.tensor(
                [[BOX_TOP_LEFT_LABEL, BOX_BOTTOM_RIGHT_LABEL]], dtype=torch.int,
                device=corners.device,
            ).repeat(corners.shape[0], 1)  # fmt: skip
            if points is not None:
                points = (
                    torch.cat([corners, points[0]], 1),
                    torch.cat([corner_labels, points[1]], 1),
                )
            else:
                points = (corners, corner_labels)
        sparse, dense = self.model.sam_prompt_encoder(points=points, boxes=None, masks=mask_input)
        repeat_image = points is not None and points[0].shape[0] > 1
        return sparse, dense, repeat_image, self._high_res_rows(img_idx)

    def _high_res_rows(self, img_idx: int) -> SubpixelFeatures:
        """Image ``img_idx``'s high-resolution levels as the decoder reads them, made on
        its first prompt and kept until the image changes."""
        features: dict = self._features  # type: ignore[assignment]
        index = range(len(self._orig_hw))[img_idx]  # type: ignore[arg-type]
        if index not in self._subpixel_high_res:
            levels = [level[index].unsqueeze(0) for level in features["high_res_feats"]]
            self._subpixel_high_res[index] = SubpixelFeatures.of(levels)
        return self._subpixel_high_res[index]

    def _require_image(self) -> None:
        if not self._is_image_set:
            raise ImageNotSetError(
                "an image must be set with .set_image(...) before mask prediction"
            )
