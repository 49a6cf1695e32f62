"""Hiera, SAM 2's hierarchical image trunk (https://arxiv.org/abs/2306.00989).

Input ``Bx3x1024x1024`` (normalised RGB); a 7x7 stride-4 convolution makes a 256x256
grid of ``embed_dim`` tokens (channels-last, ``BxHxWxC`` throughout). Four stages follow;
the first block of stages 2-4 halves the grid with a 2x2 max-pool of its attention
queries (and of its shortcut) and doubles width and heads. Blocks attend within windows
(``window_spec`` per stage), except the global-attention blocks. The output is each
stage's last feature map, ``BxCxHxW``, high resolution first: strides 4, 8, 16 and 32.

Parameter names and shapes are those of the official ``sam2.modeling.backbones.hieradet``
(``patch_embed.proj``, ``pos_embed``, ``pos_embed_window``, ``blocks.N.{norm1, attn.qkv,
attn.proj, norm2, mlp.layers.0/1, proj}``), so official checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.modeling.image_encoder import window_partition, window_unpartition
from sam_core.modeling.mask_decoder import MLP

Q_STRIDE = 2  # every pooled stage halves the grid
#: Tokens per piece of work at inference (see ``MultiScaleBlock.forward``): stage 1's
#: MLP hidden layer for 4096 tokens is 6 MiB.
CHUNK_TOKENS = 4096


def _pool(x: torch.Tensor) -> torch.Tensor:
    """2x2 max-pool of a ``BxHxWxC`` grid (odd edges dropped, as MaxPool2d floors)."""
    return F.max_pool2d(x.permute(0, 3, 1, 2), Q_STRIDE, Q_STRIDE).permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Multi-head self-attention over a ``BxHxWxC`` grid whose queries may be pooled,
    so that the output grid is half the input's (``q_pool``)."""

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_pool: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.attend(x))

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """The attention before its output projection ``proj``: ``BxH'xW'xC_out`` (the
        block applies ``proj`` itself, after un-windowing, fused with its residual)."""
        batch, height, width, _ = x.shape
        qkv = self.qkv(x).view(batch, height * width, 3, self.num_heads, -1)
        q, k, v = qkv.unbind(2)  # each B x HW x heads x head_dim
        if self.q_pool:
            q = _pool(q.reshape(batch, height, width, -1))
            height, width = q.shape[1:3]
            q = q.reshape(batch, height * width, self.num_heads, -1)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # B x heads x tokens x head_dim
        out = F.scaled_dot_product_attention(q, k, v)
        return out.transpose(1, 2).reshape(batch, height, width, -1)


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block on a ``BxHxWxC`` grid: (windowed) attention and a GELU
    MLP, each residual. A block that widens (``dim != dim_out``) projects its shortcut;
    one that pools (``q_pool``) halves the grid of both paths."""

    def __init__(
        self, dim: int, dim_out: int, num_heads: int, *, q_pool: bool, window_size: int
    ) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.window_size = window_size
        self.q_pool = q_pool
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiScaleAttention(dim, dim_out, num_heads, q_pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, 4 * dim_out, dim_out, 2, activation=nn.GELU)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The official block's arithmetic (``BxHxWxC`` -> ``BxH'xW'xC_out``).

        Without autograd, in pieces of about ``CHUNK_TOKENS`` tokens that stay in the
        CPU's cache: a windowed block attends one strip of whole windows at a time, and
        the MLP runs on rows of tokens, adding into the attention's output in place. No
        token's value depends on another piece (windows are independent, the MLP is per
        token), so the values are the official's; the peak memory is a few pieces'
        temporaries instead of whole-grid ones (the MLP's hidden layer is 4 grids wide).
        Plain PyTorch kernels: oneDNN's fused linear + GELU / residual ones (our ViT's
        ``fused_ops``) were slower here (2 CPUs, AVX2)."""
        if torch.is_grad_enabled():  # the official order, for training
            x = self._attention_residual(x)
            return x + self.mlp(self.norm2(x))
        x = self._attention_in_strips(x)
        rows = x.view(-1, x.shape[-1])
        for start in range(0, rows.shape[0], CHUNK_TOKENS):
            part = rows[start : start + CHUNK_TOKENS]
            part.add_(self.mlp(self.norm2(part)))
        return x

    def _attention_in_strips(self, x: torch.Tensor) -> torch.Tensor:
        """``shortcut + proj(attention(norm1(x)))`` computed a strip of whole windows
        (full width, a multiple of the window in height) at a time; global attention
        blocks attend over the whole grid at once."""
        batch, height, width, _ = x.shape
        window = self.window_size
        strip = window * max(1, CHUNK_TOKENS // (window * width)) if window > 0 else height
        if strip >= height:
            return self._attention_residual(x)
        stride = Q_STRIDE if self.q_pool else 1  # the strips' heights are even when pooling
        out = x.new_empty(batch, height // stride, width // stride, self.dim_out)
        for start in range(0, height, strip):
            piece = x[:, start : start + strip]
            rows = slice(start // stride, (start + piece.shape[1]) // stride)
            self._attention_residual(piece, out=out[:, rows])
        return out

    def _attention_residual(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``shortcut + proj(attention(norm1(x)))`` on a grid (or a strip of one), into
        ``out`` if given. The attention's output projection is applied after
        un-windowing, where it skips the padding tokens."""
        shortcut = x
        x = self.norm1(x)
        if self.dim != self.dim_out:
            shortcut = self.proj(x)
            if self.q_pool:
                shortcut = _pool(shortcut)
        window = self.window_size
        if window > 0:
            x, padded = window_partition(x, window)
        x = self.attn.attend(x)
        if window > 0:
            if self.q_pool:  # each window came out half as wide
                window //= Q_STRIDE
                height, width = shortcut.shape[1:3]
                padded = (-(-height // window) * window, -(-width // window) * window)
            x = window_unpartition(x, window, padded, shortcut.shape[1:3])
        if out is None:
            return shortcut + self.attn.proj(x)
        return torch.add(shortcut, self.attn.proj(x), out=out)


class Hiera(nn.Module):
    """The trunk; see the module docstring.

    Args:
        embed_dim, num_heads: width and heads of stage 1 (doubled at each later stage).
        stages: blocks per stage.
        global_att_blocks: indices of the blocks that attend over the whole grid.
        window_pos_embed_bkg_spatial_size: side of the learned background position
            embedding (interpolated to the grid).
        window_spec: window side of each stage.
        q_pool: how many stage transitions pool (3: all).
    """

    def __init__(
        self,
        embed_dim: int = 96,
        num_heads: int = 1,
        stages: Sequence[int] = (2, 3, 16, 3),
        global_att_blocks: Sequence[int] = (12, 16, 20),
        window_pos_embed_bkg_spatial_size: Sequence[int] = (14, 14),
        window_spec: Sequence[int] = (8, 4, 14, 7),
        q_pool: int = 3,
    ) -> None:
        super().__init__()
        if len(stages) != len(window_spec):
            raise ValueError("stages and window_spec need one entry per stage")
        self.stage_ends = [sum(stages[: i + 1]) - 1 for i in range(len(stages))]
        pooled = {end + 1 for end in self.stage_ends[:-1][:q_pool]}
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)
        background = tuple(window_pos_embed_bkg_spatial_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *background))
        first_window = window_spec[0]
        self.pos_embed_window = nn.Parameter(torch.zeros(1, embed_dim, first_window, first_window))
        self.blocks = nn.ModuleList()
        stage = 0
        for index in range(sum(stages)):
            # The first block of a stage still windows as the stage before it (its
            # input has that stage's grid), then pools and widens.
            window = 0 if index in global_att_blocks else window_spec[stage]
            dim_out = embed_dim
            if index - 1 in self.stage_ends:
                dim_out, num_heads, stage = embed_dim * 2, num_heads * 2, stage + 1
            self.blocks.append(
                MultiScaleBlock(
                    embed_dim, dim_out, num_heads, q_pool=index in pooled, window_size=window
                )  # fmt: skip
            )
            embed_dim = dim_out
        self.channel_list = [self.blocks[end].dim_out for end in reversed(self.stage_ends)]
        self._position_cache: tuple[tuple | None, torch.Tensor | None] = (None, None)

    def position_embedding(self, height: int, width: int) -> torch.Tensor:
        """``1xHxWxC``: the background embedding resized (bicubic) plus the window
        embedding tiled over the grid. Without autograd it is kept for the next image
        (recomputed when the grid or either parameter changes)."""
        key = (height, width, self.pos_embed._version, self.pos_embed_window._version,
               self.pos_embed.device, self.pos_embed.dtype)  # fmt: skip
        if not torch.is_grad_enabled() and self._position_cache[0] == key:
            return self._position_cache[1]
        background = F.interpolate(self.pos_embed, size=(height, width), mode="bicubic")
        window = self.pos_embed_window
        reps = (height // window.shape[-2], width // window.shape[-1])
        embedding = (background + window.tile(1, 1, *reps)).permute(0, 2, 3, 1)
        if not torch.is_grad_enabled():
            self._position_cache = (key, embedding)
        return embedding

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``Bx3xHxW`` -> every stage's output ``BxC_ixH_ixW_i``, strides 4, 8, 16, 32."""
        x = self.patch_embed.proj(x).permute(0, 2, 3, 1)
        x = x + self.position_embedding(*x.shape[1:3])
        outputs = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs
