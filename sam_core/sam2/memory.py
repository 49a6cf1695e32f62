"""SAM 2's video memory: the memory encoder and the memory attention.

Building blocks of video tracking (used by :mod:`sam_core.sam2.tracker`). Parameter
names and shapes are those of the official ``sam2.modeling.memory_encoder`` /
``memory_attention`` (checkpoint prefixes ``memory_encoder.`` and ``memory_attention.``),
so official checkpoints load unchanged.

- :class:`MemoryEncoder`: a frame's ``Bx256x64x64`` image features and its mask logits
  ``Bx1x1024x1024`` -> the frame's memory ``Bx64x64x64`` and its sine position encoding.
  The mask goes through a sigmoid (unless told it already did), four stride-2 3x3
  convolutions (each followed by a channel LayerNorm and GELU: 1 -> 4 -> 16 -> 64 -> 256
  channels, 1024 -> 64 pixels) and a 1x1 convolution; it is added to the projected image
  features, two ConvNeXt blocks fuse them, a 1x1 convolution narrows them to 64.
- :class:`MemoryAttention`: the current frame's ``BxHWx256`` tokens attend to
  themselves, then to the memories ``BxMx64`` (``M`` = memory tokens of the past frames
  plus object-pointer tokens at the end), four layers, with axial rotary position
  encoding (RoPE) on the image tokens of both; object-pointer tokens are not rotated.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.modeling.common import LayerNorm2d
from sam_core.sam2.image_encoder import PositionEmbeddingSine
from sam_core.sam2.specs import D_MODEL

MEMORY_DIM = 64  # width of a frame's memory and of the cross-attention's keys / values
ROPE_THETA = 10000.0


def axial_rotations(head_dim: int, width: int, height: int) -> torch.Tensor:
    """RoPE's rotations of a ``height x width`` token grid (row-major): complex
    ``(H*W) x head_dim/2``, x-frequencies then y-frequencies."""
    exponents = torch.arange(0, head_dim, 4)[: head_dim // 4].float() / head_dim
    frequencies = 1.0 / (ROPE_THETA**exponents)
    index = torch.arange(width * height, dtype=torch.float32)
    t_x = (index % width).float()
    t_y = torch.div(index, width, rounding_mode="floor").float()
    angles_x = torch.outer(t_x, frequencies)
    angles_y = torch.outer(t_y, frequencies)
    rotate_x = torch.polar(torch.ones_like(angles_x), angles_x)
    rotate_y = torch.polar(torch.ones_like(angles_y), angles_y)
    return torch.cat([rotate_x, rotate_y], dim=-1)


def rotate(x: torch.Tensor, rotations: torch.Tensor, repeat: int = 1) -> torch.Tensor:
    """``B x heads x N x d`` tokens, consecutive channel pairs rotated as complex numbers
    by ``rotations`` (``N/repeat x d/2``, repeated ``repeat`` times along the tokens)."""
    if x.shape[-2] == 0:
        return x
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    if repeat > 1:
        rotations = rotations.repeat(repeat, 1)
    return torch.view_as_real(pairs * rotations).flatten(3).type_as(x)


class RopeAttention(nn.Module):
    """Single-width attention with rotary position encoding on a square token grid.

    Queries ``BxNqx256``; keys and values ``BxNkx kv_dim``. When the keys hold several
    grids (past frames' memories, ``rope_k_repeat``), each gets the queries' rotations;
    the last ``num_k_exclude_rope`` keys (object pointers) are not rotated.
    """

    def __init__(self, num_heads: int, kv_dim: int = D_MODEL, rope_k_repeat: bool = False):
        super().__init__()
        self.num_heads = num_heads
        self.rope_k_repeat = rope_k_repeat
        self.q_proj = nn.Linear(D_MODEL, D_MODEL)
        self.k_proj = nn.Linear(kv_dim, D_MODEL)
        self.v_proj = nn.Linear(kv_dim, D_MODEL)
        self.out_proj = nn.Linear(D_MODEL, D_MODEL)
        self._rotations: dict[int, torch.Tensor] = {}

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, channels = x.shape
        return x.reshape(batch, tokens, self.num_heads, channels // self.num_heads).transpose(1, 2)

    def _rotations_for(self, tokens: int, head_dim: int, device: torch.device) -> torch.Tensor:
        if tokens not in self._rotations:
            side = math.sqrt(tokens)
            if side != int(side):
                raise ValueError(f"RoPE needs a square grid of queries, got {tokens} tokens")
            self._rotations[tokens] = axial_rotations(head_dim, int(side), int(side))
        return self._rotations[tokens].to(device)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_k_exclude_rope: int = 0
    ) -> torch.Tensor:
        q, k, v = (
            self._heads(self.q_proj(q)),
            self._heads(self.k_proj(k)),
            self._heads(self.v_proj(v)),
        )
        rotations = self._rotations_for(q.shape[-2], q.shape[-1], q.device)
        rotated = k.shape[-2] - num_k_exclude_rope
        if rotated != q.shape[-2] and not self.rope_k_repeat:
            raise ValueError("keys and queries differ in length: use rope_k_repeat")
        q = rotate(q, rotations)
        k = torch.cat(
            [rotate(k[:, :, :rotated], rotations, rotated // q.shape[-2]), k[:, :, rotated:]],
            dim=2,
        )
        out = F.scaled_dot_product_attention(q, k, v)
        batch, heads, tokens, head_dim = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(batch, tokens, heads * head_dim))


class MemoryAttentionLayer(nn.Module):
    """Self-attention, cross-attention to the memories, ReLU MLP; pre-norm, residual."""

    def __init__(self, dim_feedforward: int = 2048) -> None:
        super().__init__()
        self.self_attn = RopeAttention(num_heads=1)
        self.cross_attn_image = RopeAttention(num_heads=1, kv_dim=MEMORY_DIM, rope_k_repeat=True)
        self.linear1 = nn.Linear(D_MODEL, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, D_MODEL)
        self.norm1 = nn.LayerNorm(D_MODEL)
        self.norm2 = nn.LayerNorm(D_MODEL)
        self.norm3 = nn.LayerNorm(D_MODEL)

    def forward(
        self,
        tokens: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        num_k_exclude_rope: int,
    ) -> torch.Tensor:
        normed = self.norm1(tokens)
        tokens = tokens + self.self_attn(normed, normed, normed)
        normed = self.norm2(tokens)
        tokens = tokens + self.cross_attn_image(
            normed, memory + memory_pos, memory, num_k_exclude_rope=num_k_exclude_rope
        )
        return tokens + self.linear2(F.relu(self.linear1(self.norm3(tokens))))


class MemoryAttention(nn.Module):
    """Condition the current frame's features on the memories (module docstring)."""

    def __init__(self, num_layers: int = 4) -> None:
        super().__init__()
        self.layers = nn.ModuleList(MemoryAttentionLayer() for _ in range(num_layers))
        self.norm = nn.LayerNorm(D_MODEL)

    def forward(
        self,
        current: torch.Tensor,
        memory: torch.Tensor,
        current_pos: torch.Tensor,
        memory_pos: torch.Tensor,
        num_obj_ptr_tokens: int = 0,
    ) -> torch.Tensor:
        """Batch-first: ``current`` / ``current_pos`` ``BxHWx256``, ``memory`` /
        ``memory_pos`` ``BxMx64`` (object pointers last) -> ``BxHWx256``."""
        tokens = current + 0.1 * current_pos
        for layer in self.layers:
            tokens = layer(tokens, memory, memory_pos, num_obj_ptr_tokens)
        return self.norm(tokens)


class MaskDownSampler(nn.Module):
    """``Bx1x1024x1024`` mask -> ``Bx256x64x64``: four 3x3 stride-2 convolutions (each
    with a channel LayerNorm and GELU), then a 1x1 convolution."""

    def __init__(self, stages: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for _ in range(stages):
            layers += [
                nn.Conv2d(channels, channels * 4, kernel_size=3, stride=2, padding=1),
                LayerNorm2d(channels * 4),
                nn.GELU(),
            ]
            channels *= 4
        layers.append(nn.Conv2d(channels, D_MODEL, kernel_size=1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(mask)


class CXBlock(nn.Module):
    """ConvNeXt block: 7x7 depthwise convolution, LayerNorm, 4x MLP (GELU), layer scale,
    residual, on ``BxCxHxW``."""

    def __init__(self, dim: int = D_MODEL) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    def __init__(self, num_layers: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CXBlock() for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """A frame's features and mask -> its memory (module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.mask_downsampler = MaskDownSampler()
        self.pix_feat_proj = nn.Conv2d(D_MODEL, D_MODEL, kernel_size=1)
        self.fuser = Fuser()
        self.out_proj = nn.Conv2d(D_MODEL, MEMORY_DIM, kernel_size=1)
        self.position_encoding = PositionEmbeddingSine(MEMORY_DIM)

    def forward(
        self, pix_feat: torch.Tensor, masks: torch.Tensor, skip_mask_sigmoid: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``Bx256x64x64`` features, ``Bx1x1024x1024`` mask logits (probabilities with
        ``skip_mask_sigmoid``) -> (memory ``Bx64x64x64``, its position ``Bx64x64x64``)."""
        if not skip_mask_sigmoid:
            masks = torch.sigmoid(masks)
        x = self.pix_feat_proj(pix_feat) + self.mask_downsampler(masks)
        x = self.out_proj(self.fuser(x))
        return x, self.position_encoding(x)
