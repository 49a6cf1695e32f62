"""The TinyViT image encoder of MobileSAM (``vit_t``).

A 1024x1024 normalised image becomes a ``Bx256x64x64`` embedding, the same contract as
SAM's ViT encoder, so SAM's prompt encoder and mask decoder work on it unchanged:

- ``patch_embed``: two 3x3 stride-2 convolutions -> ``Bx64x256x256``;
- ``layers[0]``: MBConv blocks (inverted residual convolutions) at 256x256;
- ``layers[1:]``: TinyViT blocks (attention inside local windows with learned relative
  biases, a 3x3 depthwise convolution, an MLP) at 128x128, 64x64 and 64x64 tokens; each
  stage but the last ends with a ``PatchMerging`` that halves the grid (the last merging
  keeps it, so the output grid is ``img_size / 16``);
- ``neck``: 1x1 and 3x3 convolutions with channel LayerNorms -> 256 channels.

Module and parameter names follow the MobileSAM release, so ``mobile_sam.pt`` loads
unchanged; its unused ImageNet classifier (``norm_head``, ``head``) is kept for that.

Inference numerics equal the reference up to float rounding, organised for speed on
CPUs: convolution + BatchNorm pairs are folded into one convolution; convolutions run
channels-last, token grids are handed to them as views instead of copies; attention
runs through ``scaled_dot_product_attention`` (its fused kernel) with the relative
biases as an additive mask; and without autograd on a CPU, oneDNN's fused kernels apply
GELU and residual additions inside the convolutions and linear layers that produce
them (:mod:`.fused_ops`), saving whole passes over large activations.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.modeling.common import LayerNorm2d
from sam_core.modeling.fused_ops import conv2d, linear


class Conv2dBN(nn.Module):
    """A bias-free ``Conv2d`` (``c``) followed by ``BatchNorm2d`` (``bn``).

    In eval mode the BatchNorm's running statistics are folded into the convolution's
    weight and bias on the fly (a few thousand numbers), so each pair costs one pass
    over its output instead of two.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bn_weight_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.c = nn.Conv2d(
            in_chans, out_chans, kernel_size, stride, padding, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_chans)
        nn.init.constant_(self.bn.weight, bn_weight_init)

    def forward(
        self,
        x: torch.Tensor,
        gelu: bool = False,
        residual: torch.Tensor | None = None,
        padding: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """``bn(c(x))``, then ``+ residual`` if given, then GELU if ``gelu``; ``padding``
        (rows, columns) overrides the convolution's own."""
        conv = self.c
        padding = conv.padding if padding is None else padding
        if self.training:
            y = self.bn(F.conv2d(x, conv.weight, None, conv.stride, padding, 1, conv.groups))
            y = y if residual is None else y + residual
            return F.gelu(y) if gelu else y
        weight, bias = self.folded_weights()
        return conv2d(x, weight, bias, conv.stride, padding, conv.groups, gelu, residual)

    def folded_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight and bias of the single convolution equal to ``bn(c(x))`` in eval."""
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = self.c.weight * scale[:, None, None, None]
        return weight, bn.bias - bn.running_mean * scale


def tokens_as_image(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``BxLxC`` tokens (row-major over a ``height x width`` grid) -> ``BxCxHxW``.

    A view with channels-last strides, no copy; convolutions accept it as it is.
    """
    batch, _, channels = x.shape
    return x.view(batch, height, width, channels).permute(0, 3, 1, 2)


def image_as_tokens(x: torch.Tensor) -> torch.Tensor:
    """``BxCxHxW`` -> ``Bx(H*W)xC`` tokens (a free view when ``x`` is channels-last)."""
    return x.flatten(2).transpose(1, 2).contiguous()


class PatchEmbed(nn.Module):
    """``Bx in_chans xSxS`` image -> ``Bx embed_dim x S/4 x S/4`` (two stride-2 3x3 convs)."""

    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            Conv2dBN(in_chans, embed_dim // 2, 3, 2, 1),
            nn.GELU(),
            Conv2dBN(embed_dim // 2, embed_dim, 3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, _, second = self.seq  # the GELU module (no weights) runs fused
        return second(first(x, gelu=True))


class MBConv(nn.Module):
    """Inverted residual block on ``BxCxHxW``: 1x1 expand, 3x3 depthwise, 1x1 project,
    residual add, GELU (shape preserved).

    In eval mode the image is processed in bands of :attr:`band_rows` rows (plus one
    row above and below for the depthwise conv), so the 4x wider hidden activations
    stay in the CPU cache instead of costing fresh 64 MB allocations at 1024 px.
    """

    band_rows = 16

    def __init__(self, chans: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(chans * expand_ratio)
        self.conv1 = Conv2dBN(chans, hidden)
        self.conv2 = Conv2dBN(hidden, hidden, 3, 1, 1, groups=hidden)
        self.conv3 = Conv2dBN(hidden, chans, bn_weight_init=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height = x.shape[2]
        if self.training or height <= self.band_rows:
            y = self.conv1(x, gelu=True)
            y = self.conv2(y, gelu=True)
            return self.conv3(y, gelu=True, residual=x)
        bands = []
        for top in range(0, height, self.band_rows):
            bottom = min(top + self.band_rows, height)
            above, below = min(top, 1), min(height - bottom, 1)  # halo rows in the image
            y = self.conv1(x[:, :, top - above : bottom + below], gelu=True)
            # Outside the image, the depthwise conv sees its zero padding.
            y = F.pad(y, (0, 0, 1 - above, 1 - below))
            y = self.conv2(y, gelu=True, padding=(0, 1))
            bands.append(self.conv3(y, gelu=True, residual=x[:, :, top:bottom]))
        return torch.cat(bands, dim=2)


class PatchMerging(nn.Module):
    """Downsampling between stages: 1x1 conv, 3x3 depthwise conv (stride 2, or 1 for the
    last merging), 1x1 conv. Takes ``BxCxHxW`` or ``BxLxC`` tokens on the
    ``input_resolution`` grid; returns ``BxL'x out_dim`` tokens."""

    def __init__(
        self, input_resolution: tuple[int, int], dim: int, out_dim: int, stride: int
    ) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.conv1 = Conv2dBN(dim, out_dim)
        self.conv2 = Conv2dBN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = Conv2dBN(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            x = tokens_as_image(x, *self.input_resolution)
        x = self.conv1(x, gelu=True)
        x = self.conv2(x, gelu=True)
        return image_as_tokens(self.conv3(x))


class ConvLayer(nn.Module):
    """The first stage: ``depth`` MBConv blocks on ``BxCxHxW``, then the downsampling."""

    def __init__(
        self, dim: int, depth: int, expand_ratio: float, downsample: PatchMerging | None
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([MBConv(dim, expand_ratio) for _ in range(depth)])
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class Mlp(nn.Module):
    """LayerNorm, then ``fc2(gelu(fc1(x)))`` on ``...xC`` tokens."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """``fc2(gelu(fc1(norm(x))))``, plus ``residual`` if given."""
        hidden = linear(self.norm(x), self.fc1, gelu=True)
        return linear(hidden, self.fc2, residual=residual)


def window_offset_index(window_size: int) -> torch.Tensor:
    """``NxN`` int64 (N = window_size**2): for each query and key position in a window,
    the index of their offset ``(|dy|, |dx|)``, numbered in order of first appearance."""
    points = list(itertools.product(range(window_size), repeat=2))
    offsets: dict[tuple[int, int], int] = {}
    index = []
    for (y1, x1), (y2, x2) in itertools.product(points, repeat=2):
        index.append(offsets.setdefault((abs(y1 - y2), abs(x1 - x2)), len(offsets)))
    return torch.tensor(index, dtype=torch.int64).view(len(points), len(points))


class Attention(nn.Module):
    """Multi-head self-attention inside one window of ``window_size**2`` tokens, with a
    learned bias per head and per relative offset. ``BxNxC`` -> ``BxNxC``."""

    def __init__(self, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.window_size = window_size
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        offsets = window_size * window_size  # distinct (|dy|, |dx|) pairs
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, offsets))
        self.register_buffer(
            "attention_bias_idxs", window_offset_index(window_size), persistent=False
        )

    def init_non_persistent_buffers(self) -> None:
        """Recompute the offset index (e.g. after building on the ``meta`` device)."""
        self.attention_bias_idxs = window_offset_index(self.window_size).to(
            self.attention_biases.device
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        qkv = linear(self.norm(x), self.qkv)
        qkv = qkv.view(batch, tokens, self.num_heads, 3 * self.head_dim)
        q, k, v = qkv.permute(0, 2, 1, 3).split(self.head_dim, dim=3)
        # Gathered on every call: cheap, and never stale after load_state_dict.
        bias = self.attention_biases[:, self.attention_bias_idxs].unsqueeze(0)
        # A 4-D mask lets PyTorch pick its fused (flash) CPU kernel.
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        return linear(x.transpose(1, 2).reshape(batch, tokens, -1), self.proj)


class TinyViTBlock(nn.Module):
    """Windowed attention (zero-padded to whole windows) + residual, a depthwise conv
    (``local_conv``), then MLP + residual, on ``BxLxC`` tokens of an ``input_resolution``
    grid."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        local_conv_size: int,
    ) -> None:
        super().__init__()
        if window_size <= 0:
            raise ValueError(f"window_size must be positive, got {window_size}")
        self.input_resolution = input_resolution
        self.window_size = window_size
        self.attn = Attention(dim, num_heads, window_size)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.local_conv = Conv2dBN(dim, dim, local_conv_size, 1, local_conv_size // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self.input_resolution
        batch, tokens, channels = x.shape
        if tokens != height * width:
            raise ValueError(f"expected {height}x{width} tokens, got {tokens}")
        x = x + self._window_attention(x.view(batch, height, width, channels))
        x = image_as_tokens(self.local_conv(tokens_as_image(x, height, width)))
        return self.mlp(x, residual=x)

    def _window_attention(self, x: torch.Tensor) -> torch.Tensor:
        """``BxHxWxC`` -> attention output as ``Bx(H*W)xC`` tokens."""
        batch, height, width, channels = x.shape
        size = self.window_size
        pad_bottom = -height % size
        pad_right = -width % size
        if pad_bottom or pad_right:
            x = F.pad(x, (0, 0, 0, pad_right, 0, pad_bottom))
        rows, cols = (height + pad_bottom) // size, (width + pad_right) // size
        windows = (
            x.view(batch, rows, size, cols, size, channels)
            .transpose(2, 3)
            .reshape(batch * rows * cols, size * size, channels)
        )
        windows = self.attn(windows)
        x = (
            windows.view(batch, rows, cols, size, size, channels)
            .transpose(2, 3)
            .reshape(batch, rows * size, cols * size, channels)
        )
        return x[:, :height, :width].reshape(batch, height * width, channels)


class BasicLayer(nn.Module):
    """One attention stage: ``depth`` TinyViT blocks, then the downsampling if any."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        local_conv_size: int,
        downsample: PatchMerging | None,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            [
                TinyViTBlock(
                    dim, input_resolution, num_heads, window_size, mlp_ratio, local_conv_size
                )
                for _ in range(depth)
            ]
        )
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class TinyViT(nn.Module):
    """TinyViT backbone with SAM's neck: ``Bx3xSxS`` normalised image (S = ``img_size``)
    -> ``Bx out_chans x S/16 x S/16`` float embedding."""

    def __init__(
        self,
        img_size: int = 1024,
        in_chans: int = 3,
        embed_dims: Sequence[int] = (64, 128, 160, 320),
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (2, 4, 5, 10),
        window_sizes: Sequence[int] = (7, 7, 14, 7),
        mlp_ratio: float = 4.0,
        mbconv_expand_ratio: float = 4.0,
        local_conv_size: int = 3,
        num_classes: int = 1000,
        out_chans: int = 256,
    ) -> None:
        """
        Args:
            img_size: side of the square input; a multiple of 16.
            in_chans: input image channels.
            embed_dims, depths, num_heads, window_sizes: per stage (the first stage is
                convolutional and ignores its heads and window size).
            mlp_ratio: MLP hidden width as a multiple of the stage width.
            mbconv_expand_ratio: hidden width of the MBConv blocks, as a multiple.
            local_conv_size: kernel of the depthwise conv inside each TinyViT block.
            num_classes: outputs of the unused classifier head (kept for checkpoints).
            out_chans: channels of the output embedding.
        """
        super().__init__()
        stages = len(depths)
        if not (len(embed_dims) == len(num_heads) == len(window_sizes) == stages >= 2):
            raise ValueError("embed_dims, depths, num_heads, window_sizes need one entry per stage")
        if img_size % 16:
            raise ValueError(f"img_size must be a multiple of 16, got {img_size}")
        self.img_size = img_size
        self.patch_embed = PatchEmbed(in_chans, embed_dims[0])

        side = img_size // 4
        self.layers = nn.ModuleList()
        for i in range(stages):
            downsample = None
            if i < stages - 1:
                stride = 2 if i < stages - 2 else 1
                downsample = PatchMerging((side, side), embed_dims[i], embed_dims[i + 1], stride)
            if i == 0:
                layer = ConvLayer(embed_dims[0], depths[0], mbconv_expand_ratio, downsample)
            else:
                layer = BasicLayer(
                    embed_dims[i],
                    (side, side),
                    depths[i],
                    num_heads[i],
                    window_sizes[i],
                    mlp_ratio,
                    local_conv_size,
                    downsample,
                )
            self.layers.append(layer)
            if downsample is not None and downsample.conv2.c.stride[0] == 2:
                side = (side + 1) // 2
        self.grid_size = side

        # The ImageNet classifier of TinyViT: unused by SAM, present in mobile_sam.pt.
        self.norm_head = nn.LayerNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes)
        self.apply(_init_weights)
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last convolutions are several times faster on CPUs (oneDNN).
        x = self.patch_embed(x.contiguous(memory_format=torch.channels_last))
        for layer in self.layers:
            x = layer(x)
        x = tokens_as_image(x, self.grid_size, self.grid_size)
        conv1, norm1, conv2, norm2 = self.neck
        x = norm1(conv2d(x, conv1.weight, None, conv1.stride, conv1.padding, 1))
        x = norm2(conv2d(x, conv2.weight, None, conv2.stride, conv2.padding, 1))
        return x.contiguous()


def _init_weights(module: nn.Module) -> None:
    """TinyViT's initialisation for a randomly built model (checkpoints overwrite it)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
