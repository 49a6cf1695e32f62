"""SAM 2's image encoder: the Hiera trunk and a feature-pyramid neck.

The neck maps each trunk stage to ``d_model`` (256) channels with a 1x1 convolution
(``convs.K.conv``, K = 0 for the lowest resolution) and adds to the chosen levels
(``fpn_top_down_levels``) the level below it, upsampled 2x (nearest). The official image
encoder then drops the lowest-resolution level (``scalp=1``): the output is three maps,
``Bx256x256x256``, ``Bx256x128x128`` and ``Bx256x64x64`` for a 1024 input (strides 4, 8,
16), high resolution first. ``position_encoding`` gives the sine encoding of a map, which
only the video memory uses.

Names and shapes as the official ``sam2.modeling.backbones.image_encoder``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.sam2.hiera import CHUNK_TOKENS, Hiera


class PositionEmbeddingSine(nn.Module):
    """The "Attention Is All You Need" sine encoding of a 2-D grid, normalised to
    ``2*pi`` over the grid: ``num_pos_feats`` channels, y's half first. No parameters."""

    def __init__(self, num_pos_feats: int, temperature: float = 10000.0) -> None:
        super().__init__()
        self.half = num_pos_feats // 2
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``BxCxHxW`` -> ``Bxnum_pos_featsxHxW`` (the same for every image)."""
        batch, _, height, width = x.shape
        eps, scale = 1e-6, 2 * math.pi
        y = torch.arange(1, height + 1, dtype=torch.float32, device=x.device)
        x_pos = torch.arange(1, width + 1, dtype=torch.float32, device=x.device)
        y = y / (height + eps) * scale
        x_pos = x_pos / (width + eps) * scale
        dim_t = torch.arange(self.half, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.half)

        def encode(values: torch.Tensor) -> torch.Tensor:
            angles = values[:, None] / dim_t  # N x half
            return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=2).flatten(1)

        pos_y = encode(y)[:, None, :].expand(height, width, -1)
        pos_x = encode(x_pos)[None, :, :].expand(height, width, -1)
        pos = torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1)
        return pos[None].expand(batch, -1, -1, -1).to(x.dtype)


class FpnNeck(nn.Module):
    """Lateral 1x1 convolutions and a top-down path on the chosen levels (see module)."""

    def __init__(
        self,
        d_model: int,
        backbone_channel_list: Sequence[int],
        fpn_top_down_levels: Sequence[int] = (2, 3),
    ) -> None:
        super().__init__()
        self.position_encoding = PositionEmbeddingSine(d_model)
        self.convs = nn.ModuleList()
        for channels in backbone_channel_list:  # lowest resolution first
            lateral = nn.Sequential()
            lateral.add_module("conv", nn.Conv2d(channels, d_model, kernel_size=1))
            self.convs.append(lateral)
        self.backbone_channel_list = list(backbone_channel_list)
        self.fpn_top_down_levels = set(fpn_top_down_levels)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The trunk's maps, high resolution first -> the same number of ``d_model`` maps."""
        last = len(self.convs) - 1
        out: list[torch.Tensor] = [torch.empty(0)] * len(features)
        previous = None
        for level in range(last, -1, -1):
            lateral = self.convs[last - level](features[level])
            if level in self.fpn_top_down_levels and previous is not None:
                lateral = lateral + F.interpolate(
                    previous.float(), scale_factor=2.0, mode="nearest"
                )
            out[level] = previous = lateral
        return out

    def forward_rows(
        self, features: Sequence[torch.Tensor], projections: Mapping[int, nn.Conv2d]
    ) -> list[torch.Tensor]:
        """:meth:`forward` at inference, a level's 1x1 convolutions as products on its
        token rows (the trunk's maps are channels-last in memory), ``CHUNK_TOKENS`` rows
        at a time; a level in ``projections`` leaves through that 1x1 convolution (SAM 2's
        ``conv_s0`` / ``conv_s1``), its ``d_model`` map made only a chunk at a time unless
        a higher-resolution level adds it top-down. Same values as :meth:`forward` then
        the projections, up to float rounding; maps ``BxCxHxW`` (contiguous)."""
        last = len(self.convs) - 1
        out: list[torch.Tensor] = [torch.empty(0)] * len(features)
        previous = None
        for level in range(last, -1, -1):
            grid = features[level].permute(0, 2, 3, 1)  # B x H x W x C (a view, usually)
            rows = grid.reshape(-1, grid.shape[-1])
            lateral = self.convs[last - level].conv
            top_down = None
            if level in self.fpn_top_down_levels and previous is not None:
                top_down = _upsample_rows(previous).reshape(-1, previous.shape[-1])
            keep = level - 1 in self.fpn_top_down_levels or level not in projections
            projection = projections.get(level)
            kept = rows.new_empty(rows.shape[0], lateral.out_channels) if keep else None
            result = kept
            if projection is not None:
                result = rows.new_empty(rows.shape[0], projection.out_channels)
            for start in range(0, rows.shape[0], CHUNK_TOKENS):
                chunk = slice(start, start + CHUNK_TOKENS)
                mapped = _pointwise(lateral, rows[chunk])
                if top_down is not None:
                    mapped += top_down[chunk]
                if kept is not None:
                    kept[chunk] = mapped
                if projection is not None:
                    result[chunk] = _pointwise(projection, mapped)
            if kept is not None:
                previous = kept.view(*grid.shape[:3], -1)
            out[level] = result.view(*grid.shape[:3], -1).permute(0, 3, 1, 2).contiguous()
        return out


def _pointwise(conv: nn.Conv2d, rows: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution on ``N x C_in`` token rows -> ``N x C_out``."""
    return F.linear(rows, conv.weight.view(conv.out_channels, -1), conv.bias)


def _upsample_rows(grid: torch.Tensor) -> torch.Tensor:
    """2x nearest upsampling of a ``BxHxWxC`` grid -> ``Bx2Hx2WxC`` (contiguous)."""
    batch, height, width, channels = grid.shape
    doubled = grid[:, :, None, :, None].expand(batch, height, 2, width, 2, channels)
    return doubled.reshape(batch, 2 * height, 2 * width, channels)


class Sam2ImageEncoder(nn.Module):
    """Trunk + neck; ``scalp`` lowest-resolution levels dropped (1 for SAM 2)."""

    def __init__(self, trunk: Hiera, neck: FpnNeck, scalp: int = 1) -> None:
        super().__init__()
        if trunk.channel_list != neck.backbone_channel_list:
            raise ValueError(
                f"trunk channels {trunk.channel_list} do not match the neck's "
                f"{neck.backbone_channel_list}"
            )
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """``Bx3x1024x1024`` normalised -> the feature maps, high resolution first."""
        features = self.neck(self.trunk(image))
        return features[: len(features) - self.scalp]

    def projected_levels(
        self, image: torch.Tensor, projections: Sequence[nn.Conv2d]
    ) -> list[torch.Tensor]:
        """:meth:`forward`, the first ``len(projections)`` (highest-resolution) levels
        each through its projection (SAM 2's ``conv_s0``, ``conv_s1``). At inference the
        neck works on token rows (:meth:`FpnNeck.forward_rows`): its largest map, 256
        channels at stride 4, then never exists whole."""
        if torch.is_grad_enabled():
            levels = self.forward(image)
            return [conv(level) for conv, level in zip(projections, levels, strict=False)] + \
                levels[len(projections) :]  # fmt: skip
        features = self.neck.forward_rows(self.trunk(image), dict(enumerate(projections)))
        return features[: len(features) - self.scalp]
