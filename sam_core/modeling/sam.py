"""``Sam``: image encoder + prompt encoder + mask decoder, with SAM's pre/post-processing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.mask_logits import upscale_logits
from sam_core.modeling.mask_decoder import MaskDecoder
from sam_core.modeling.prompt_encoder import PromptEncoder

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


class Sam(nn.Module):
    """SAM predicts object masks from an image and prompts.

    The image encoder may be any module with an ``img_size`` attribute that maps a
    ``Bx3x img_size x img_size`` normalised image to the ``BxCxhxw`` embedding the prompt
    encoder and mask decoder expect (``ImageEncoderViT`` here; TinyViT for MobileSAM).
    """

    mask_threshold: float = 0.0
    image_format: str = "RGB"

    def __init__(
        self,
        image_encoder: nn.Module,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        pixel_mean: Sequence[float] = PIXEL_MEAN,
        pixel_std: Sequence[float] = PIXEL_STD,
    ) -> None:
        """
        Args:
            image_encoder: the backbone that encodes the image.
            prompt_encoder: encodes points, boxes and masks.
            mask_decoder: predicts masks from the image and prompt embeddings.
            pixel_mean: per-channel RGB mean on the 0-255 scale.
            pixel_std: per-channel RGB standard deviation on the 0-255 scale.
        """
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        # Non-persistent: not part of the official checkpoints.
        self.register_buffer(
            "pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(-1, 1, 1), False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(-1, 1, 1), False
        )

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @torch.inference_mode()
    def forward(
        self, batched_input: list[dict[str, Any]], multimask_output: bool
    ) -> list[dict[str, torch.Tensor]]:
        """Predict masks end to end for several images (prefer ``SamPredictor`` for clicks).

        Args:
            batched_input: one dict per image with
                ``"image"``: ``3xHxW`` tensor already resized by ``ResizeLongestSide``;
                ``"original_size"``: (H, W) before resizing;
                optional ``"point_coords"`` ``BxNx2`` and ``"point_labels"`` ``BxN``,
                ``"boxes"`` ``Bx4`` XYXY, ``"mask_inputs"`` ``Bx1x256x256`` — coordinates
                in the resized-input frame.
            multimask_output: predict 3 masks per prompt instead of 1.

        Returns:
            One dict per image: ``"masks"`` ``BxCxHxW`` bool at the original size,
            ``"iou_predictions"`` ``BxC`` and ``"low_res_logits"`` ``BxCx256x256``.
        """
        images = torch.stack([self.preprocess(record["image"]) for record in batched_input])
        image_embeddings = self.image_encoder(images)

        outputs = []
        for record, embedding in zip(batched_input, image_embeddings, strict=True):
            points = None
            if "point_coords" in record:
                points = (record["point_coords"], record["point_labels"])
            sparse, dense = self.prompt_encoder(
                points=points, boxes=record.get("boxes"), masks=record.get("mask_inputs")
            )
            low_res_logits, iou_predictions = self.mask_decoder(
                image_embeddings=embedding.unsqueeze(0),
                image_pe=self.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask_output,
            )
            masks = self.postprocess_masks(
                low_res_logits,
                input_size=record["image"].shape[-2:],
                original_size=record["original_size"],
            )
            outputs.append(
                {
                    "masks": masks > self.mask_threshold,
                    "iou_predictions": iou_predictions,
                    "low_res_logits": low_res_logits,
                }
            )
        return outputs

    def postprocess_masks(
        self,
        masks: torch.Tensor,
        input_size: tuple[int, ...],
        original_size: tuple[int, ...],
    ) -> torch.Tensor:
        """Upscale ``BxCxhxw`` logits to the padded input, crop the padding, resize to the
        original image: ``BxCxHxW`` logits with (H, W) = ``original_size``.

        Args:
            masks: low-resolution logits from the mask decoder.
            input_size: (h, w) of the resized image before padding.
            original_size: (H, W) of the image before resizing.
        """
        return upscale_logits(masks, input_size, original_size, self.image_encoder.img_size)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise colours of a ``...x3xhxw`` image (0-255 scale) and pad it bottom/right
        with zeros to ``img_size x img_size``."""
        side = self.image_encoder.img_size
        height, width = x.shape[-2:]
        if height > side or width > side:
            raise ValueError(
                f"the resized image is {height}x{width}, larger than the model input "
                f"{side}x{side}; resize it with ResizeLongestSide({side}) first"
            )
        x = (x - self.pixel_mean) / self.pixel_std
        return F.pad(x, (0, side - width, 0, side - height))
