"""Mask decoder: image embedding + prompt embeddings -> mask logits and IoU predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.modeling.common import LayerNorm2d, token_major
from sam_core.modeling.fused_ops import is_erf_gelu, linear_weights


class MaskDecoder(nn.Module):
    """Predicts masks with a two-way transformer, an IoU token and ``1 + num_multimask``
    mask tokens; hypernetwork MLPs turn each mask token into weights for the upscaled
    image embedding.

    Mask token 0 is the single-mask output; tokens ``1:`` are the multimask outputs.
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: nn.Module,
        num_multimask_outputs: int = 3,
        activation: type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        """
        Args:
            transformer_dim: channel width of the transformer.
            transformer: the transformer (a :class:`TwoWayTransformer`).
            num_multimask_outputs: masks predicted when disambiguating.
            activation: activation of the output upscaling.
            iou_head_depth: layers of the IoU prediction MLP.
            iou_head_hidden_dim: hidden width of the IoU prediction MLP.
        """
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs

        self.iou_token = nn.Embedding(1, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)

        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            activation(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            activation(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3)
            for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth
        )

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict masks.

        Args:
            image_embeddings: ``1xCxhxw`` (one image; it is repeated per prompt) or
                ``BxCxhxw`` embeddings from the image encoder.
            image_pe: ``1xCxhxw`` positional encoding of the embedding grid.
            sparse_prompt_embeddings: ``BxNxC`` point and box embeddings.
            dense_prompt_embeddings: ``BxCxhxw`` mask embeddings.
            multimask_output: return the 3 multimask outputs instead of the single one.

        Returns:
            Mask logits ``BxMx(4h)x(4w)`` and IoU predictions ``BxM`` (M = 3 or 1).
        """
        masks, iou_pred = self.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse_prompt_embeddings,
            dense_prompt_embeddings=dense_prompt_embeddings,
        )
        mask_slice = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, mask_slice, :, :], iou_pred[:, mask_slice]

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All mask tokens' logits ``Bx(1+M)x(4h)x(4w)`` and IoU predictions ``Bx(1+M)``."""
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)

        # The image plus the mask prompt, one per prompt set, token-major (B x hw x C):
        # the layout every step below works in.
        height, width = image_embeddings.shape[-2:]
        src = token_major(image_embeddings + dense_prompt_embeddings)
        hs, src = self.transformer.forward_token_major(
            src, token_major(image_pe), tokens, outputs=output_tokens.shape[1]
        )
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : (1 + self.num_mask_tokens), :]

        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1,
        )
        masks = self._upscaled_masks(src, hyper_in, height, width)
        iou_pred = self.iou_prediction_head(iou_token_out)
        return masks, iou_pred

    def _upscaled_masks(
        self,
        image_tokens: torch.Tensor,
        hyper_in: torch.Tensor,
        height: int,
        width: int,
        high_res: SubpixelFeatures | None = None,
    ) -> torch.Tensor:
        """``output_upscaling`` then the hypernetwork product: ``B x hw x C`` image tokens
        and ``B x M x C/8`` mask weights -> ``B x M x 4h x 4w`` mask logits.

        Both transposed convolutions have kernel 2 and stride 2, so each cell of the
        embedding grid becomes a 4x4 block of output pixels computed from that cell alone.
        The chain therefore runs on token-major rows as matrix products (the first layer
        maps a cell to its 2x2 sub-pixels, each normalised over its own channels; the
        second maps each sub-pixel to its 2x2), the mask weights meet every output pixel's
        features, and only the M masks are rearranged into images: the values of the
        official upscale-then-product, without moving the large tensors between layouts.

        ``high_res`` (SAM 2): its high-resolution levels in the rows' order, added after
        the first and the second transposed convolution, before their activations, as
        SAM 2's decoder does.
        """
        first, norm, first_act, second, second_act = self.output_upscaling
        batch = image_tokens.shape[0]
        features = _subpixel_linear(first, image_tokens)  # B x hw*4 x C/4
        if high_res is not None:
            features.add_(high_res.s1.view(high_res.s1.shape[0], -1, features.shape[-1]))
        features = F.layer_norm(features, features.shape[-1:], norm.weight, norm.bias, norm.eps)
        features = first_act(features)
        if high_res is not None:
            features = _subpixel_linear(second, features)  # B x hw*16 x C/8
            features.add_(high_res.s0.view(high_res.s0.shape[0], -1, features.shape[-1]))
            features = second_act(features)
        elif is_erf_gelu(second_act):  # the GELU inside the product (see fused_ops)
            features = _subpixel_linear(second, features, gelu=True)  # B x hw*16 x C/8
        else:
            features = second_act(_subpixel_linear(second, features))
        masks = hyper_in @ features.transpose(1, 2)  # B x M x hw*16
        # Column (i, j, a, b, c, d) is output pixel (4i + 2a + c, 4j + 2b + d): pixel
        # shuffle places channel 8a + 4c + 2b + d of cell (i, j) there.
        count = masks.shape[1]
        masks = masks.view(batch, count, height, width, 2, 2, 2, 2)
        masks = masks.permute(0, 1, 4, 6, 5, 7, 2, 3).reshape(batch, count * 16, height, width)
        return F.pixel_shuffle(masks, 4)


class SubpixelFeatures(NamedTuple):
    """SAM 2's two high-resolution levels laid out as the upscaler's rows (see
    ``MaskDecoder._upscaled_masks``), for an ``h x w`` embedding grid: ``s0`` is
    ``feat_s0`` (``B x C/8 x 4h x 4w``) as ``B x h x w x 2 x 2 x 2 x 2 x C/8``, ``s1`` is
    ``feat_s1`` (``B x C/4 x 2h x 2w``) as ``B x h x w x 2 x 2 x C/4``: row
    ``(i, j, a, b, c, d)`` holds pixel ``(4i + 2a + c, 4j + 2b + d)``. Rearranging costs
    a few milliseconds (a strided gather); predictors make it once per image."""

    s0: torch.Tensor
    s1: torch.Tensor

    @classmethod
    def of(cls, high_res_features: Sequence[torch.Tensor]) -> SubpixelFeatures:
        """From the official ``[feat_s0, feat_s1]`` (image layout, high resolution first)."""
        feat_s0, feat_s1 = high_res_features
        return cls(_in_subpixel_order(feat_s0, 2), _in_subpixel_order(feat_s1, 1))


def _in_subpixel_order(image: torch.Tensor, levels: int) -> torch.Tensor:
    """``B x C x (2^k h) x (2^k w)`` -> ``B x h x w x (2 x 2) * k x C`` (k = ``levels``):
    each image axis split into its cell and one sub-pixel index per level (coarsest
    first), then the cell, the sub-pixel pairs and the channels in that order."""
    batch, channels, height, width = image.shape
    cell = 2**levels
    split = image.view(batch, channels, height // cell, *[2] * levels, width // cell,
                       *[2] * levels)  # fmt: skip
    order = [0, 2, 3 + levels]  # B, i, j
    for level in range(levels):
        order += [3 + level, 4 + levels + level]  # a, b of this level
    return split.permute(*order, 1).contiguous()


def _subpixel_linear(
    conv: nn.ConvTranspose2d, rows: torch.Tensor, gelu: bool = False
) -> torch.Tensor:
    """A 2x2 stride-2 transposed convolution on ``B x P x C_in`` pixel rows ->
    ``B x 4P x C_out`` (then GELU if ``gelu``): each pixel's row becomes the rows of its
    2x2 output block (row-major: top-left, top-right, bottom-left, bottom-right)."""
    in_channels, out_channels, kernel_h, kernel_w = conv.weight.shape
    weight = conv.weight.permute(2, 3, 1, 0).reshape(-1, in_channels)  # (2x2 x C_out) x C_in
    bias = None if conv.bias is None else conv.bias.repeat(kernel_h * kernel_w)
    out = linear_weights(rows.reshape(-1, in_channels), weight, bias, gelu=gelu)
    return out.view(rows.shape[0], -1, out_channels)


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU (or ``activation``) between them, optionally
    a final sigmoid. Parameters ``layers.N``: SAM's and SAM 2's MLPs alike."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        sigmoid_output: bool = False,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.act = activation()
        hidden = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out)
            for n_in, n_out in zip([input_dim, *hidden], [*hidden, output_dim], strict=True)
        )
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = self.act(layer(x)) if i < self.num_layers - 1 else layer(x)
        if self.sigmoid_output:
            x = torch.sigmoid(x)
        return x
