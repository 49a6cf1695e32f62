"""SAM 2's prompt encoder and mask decoder (the "SAM heads").

Both extend SAM's (``sam_core.modeling``), with SAM 2's differences:

- prompt encoder: points may carry the box-corner labels 2 and 3 (the image predictor
  passes a box as two such points), each adding its corner embedding;
- mask decoder: an object-score token before the IoU token, with a 3-layer MLP head
  (``pred_obj_score_head``) whose logit says whether the object is there at all; the
  upscaling adds the image encoder's two high-resolution levels, projected by
  ``conv_s0`` (to C/8, 256x256) and ``conv_s1`` (to C/4, 128x128); IoU predictions pass
  a sigmoid; with a single output requested, the single-mask output is replaced by the
  best multimask output when its stability score is below 0.98 ("dynamic multimask").
  The two-way transformer is SAM's, with SAM 2's parameter names for its MLPs.

Frames and shapes: image embedding ``Bx256x64x64``; high-resolution features
``Bx32x256x256`` and ``Bx64x128x128`` (already through ``conv_s0`` / ``conv_s1``);
prompts in the 1024x1024 model-input frame; mask logits ``BxMx256x256``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sam_core.modeling.common import token_major
from sam_core.modeling.mask_decoder import MLP, MaskDecoder, SubpixelFeatures
from sam_core.modeling.prompt_encoder import PromptEncoder
from sam_core.modeling.transformer import TwoWayTransformer

BOX_TOP_LEFT_LABEL = 2
BOX_BOTTOM_RIGHT_LABEL = 3
STABILITY_DELTA = 0.05
STABILITY_THRESHOLD = 0.98


class Sam2PromptEncoder(PromptEncoder):
    """SAM's prompt encoder, plus box corners given as points (labels 2 and 3)."""

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        embedding = super()._embed_points(points, labels, pad)
        if pad:  # the padding point's label is -1: nothing to add there
            labels = torch.cat([labels, -torch.ones_like(labels[:, :1])], dim=1)
        labels = labels.unsqueeze(-1)
        for label, corner in ((BOX_TOP_LEFT_LABEL, 2), (BOX_BOTTOM_RIGHT_LABEL, 3)):
            embedding = torch.where(
                labels == label, embedding + self.point_embeddings[corner].weight, embedding
            )
        return embedding


def two_way_transformer(embedding_dim: int = 256) -> TwoWayTransformer:
    """SAM 2's two-way transformer: SAM's (depth 2, 8 heads, MLP 2048), with each block's
    MLP named as SAM 2 names it (``mlp.layers.0/1``, ReLU between)."""
    transformer = TwoWayTransformer(depth=2, embedding_dim=embedding_dim, num_heads=8, mlp_dim=2048)
    for layer in transformer.layers:
        layer.mlp = MLP(embedding_dim, 2048, embedding_dim, 2)
    return transformer


class Sam2MaskDecoder(MaskDecoder):
    """SAM 2's mask decoder (see the module docstring)."""

    def __init__(self, transformer_dim: int = 256) -> None:
        super().__init__(transformer_dim=transformer_dim, transformer=two_way_transformer())
        self.iou_prediction_head = MLP(
            transformer_dim, 256, self.num_mask_tokens, 3, sigmoid_output=True
        )
        self.obj_score_token = nn.Embedding(1, transformer_dim)
        self.conv_s0 = nn.Conv2d(transformer_dim, transformer_dim // 8, kernel_size=1)
        self.conv_s1 = nn.Conv2d(transformer_dim, transformer_dim // 4, kernel_size=1)
        self.pred_obj_score_head = MLP(transformer_dim, transformer_dim, 1, 3)

    def forward(  # type: ignore[override]
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        repeat_image: bool,
        high_res_features: Sequence[torch.Tensor] | SubpixelFeatures,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Official signature and outputs: (mask logits ``BxMx256x256``, IoU ``BxM``,
        the mask tokens ``BxM'xC`` of the outputs used for object pointers, object-score
        logits ``Bx1``); M = 3 with ``multimask_output``, else 1. ``repeat_image``: one
        image embedding for B prompt sets."""
        masks, iou_pred, mask_tokens, object_scores = self.predict_all(
            image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings,
            repeat_image, high_res_features,
        )  # fmt: skip
        if multimask_output:
            return masks[:, 1:], iou_pred[:, 1:], mask_tokens[:, 1:], object_scores
        if not self.training:
            masks, iou_pred = dynamic_single_output(masks, iou_pred)
        else:
            masks, iou_pred = masks[:, :1], iou_pred[:, :1]
        return masks, iou_pred, mask_tokens[:, :1], object_scores

    def predict_all(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        repeat_image: bool,
        high_res_features: Sequence[torch.Tensor] | SubpixelFeatures,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every output: logits ``Bx4x256x256`` (single first), IoU ``Bx4``, the 4 mask
        tokens ``Bx4xC`` and object-score logits ``Bx1``. ``high_res_features``: the
        official ``[feat_s0, feat_s1]``, or the same already rearranged (a predictor's,
        made once per image)."""
        output_tokens = torch.cat(
            [self.obj_score_token.weight, self.iou_token.weight, self.mask_tokens.weight], dim=0
        )
        batch = sparse_prompt_embeddings.size(0)
        tokens = torch.cat((output_tokens.expand(batch, -1, -1), sparse_prompt_embeddings), 1)
        src = image_embeddings
        if repeat_image:
            src = torch.repeat_interleave(src, batch, dim=0)
        height, width = src.shape[-2:]
        src = token_major(src + dense_prompt_embeddings)
        pos = token_major(image_pe).expand(batch, -1, -1)
        hs, src = self.transformer.forward_token_major(src, pos, tokens, outputs=len(output_tokens))
        mask_tokens = hs[:, 2 : 2 + self.num_mask_tokens]
        hyper_in = torch.stack(
            [mlp(mask_tokens[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], 1
        )
        if not isinstance(high_res_features, SubpixelFeatures):
            high_res_features = SubpixelFeatures.of(high_res_features)
        masks = self._upscaled_masks(src, hyper_in, height, width, high_res_features)
        iou_pred = self.iou_prediction_head(hs[:, 1])
        object_scores = self.pred_obj_score_head(hs[:, 0])
        return masks, iou_pred, mask_tokens, object_scores


def stability_scores(mask_logits: torch.Tensor, delta: float = STABILITY_DELTA) -> torch.Tensor:
    """IoU of each mask thresholded at +delta and at -delta (1 when both are empty)."""
    flat = mask_logits.flatten(-2)
    inner = (flat > delta).sum(-1).float()
    outer = (flat > -delta).sum(-1).float()
    return torch.where(outer > 0, inner / outer, 1.0)


def dynamic_single_output(
    masks: torch.Tensor, iou_pred: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The single-mask output where it is stable, else the multimask output with the best
    predicted IoU: ``Bx4xHxW``, ``Bx4`` -> ``Bx1xHxW``, ``Bx1``."""
    best = iou_pred[:, 1:].argmax(dim=-1)
    rows = torch.arange(masks.shape[0], device=masks.device)
    best_masks = masks[:, 1:][rows, best].unsqueeze(1)
    best_iou = iou_pred[:, 1:][rows, best].unsqueeze(1)
    stable = stability_scores(masks[:, :1]) >= STABILITY_THRESHOLD  # B x 1
    chosen_masks = torch.where(stable[..., None, None], masks[:, :1], best_masks)
    return chosen_masks, torch.where(stable, iou_pred[:, :1], best_iou)
