"""The ViT image encoder of SAM (a ViTDet-style backbone).

A 1024x1024 normalised image becomes a 64x64 grid of 16x16-pixel patch tokens, plus an
absolute position embedding; transformer blocks attend inside 14x14 windows except the
global-attention blocks, with decomposed relative position biases; a conv neck maps the
tokens to the 256-channel image embedding ``Bx256x64x64``.

Parameter names and shapes match the official ``segment_anything`` checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.modeling.blockwise_attention import attention_in_blocks
from sam_core.modeling.common import LayerNorm2d, MLPBlock
from sam_core.modeling.fused_ops import is_erf_gelu, linear


class ImageEncoderViT(nn.Module):
    """ViT backbone: ``Bx3xSxS`` float image (S = ``img_size``) -> ``Bx out_chans x S/p x S/p``.

    Any image encoder plugged into :class:`~sam_core.modeling.sam.Sam` must offer the same
    contract: an ``img_size`` attribute and this input/output shape.
    """

    def __init__(
        self,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        qkv_bias: bool = True,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        use_abs_pos: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        window_size: int = 0,
        global_attn_indexes: tuple[int, ...] = (),
    ) -> None:
        """
        Args:
            img_size: side of the square input image, in pixels.
            patch_size: side of a square patch; ``img_size`` must be a multiple of it.
            in_chans: input image channels.
            embed_dim: token width.
            depth: number of transformer blocks.
            num_heads: attention heads per block; must divide ``embed_dim``.
            mlp_ratio: MLP hidden width as a multiple of ``embed_dim``.
            out_chans: channels of the output embedding.
            qkv_bias: whether the qkv projection has a bias.
            norm_layer: token normalisation layer (called with ``embed_dim``).
            act_layer: MLP activation.
            use_abs_pos: add a learned absolute position embedding ``1xGxGxembed_dim``.
            use_rel_pos: add decomposed relative position biases in attention.
            rel_pos_zero_init: kept for API compatibility (the tables start at zero).
            window_size: side of the attention windows; 0 means global attention.
            global_attn_indexes: indexes of the blocks that use global attention.
        """
        super().__init__()
        if img_size % patch_size != 0:
            raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.img_size = img_size
        grid = img_size // patch_size

        self.patch_embed = PatchEmbed(
            kernel_size=(patch_size, patch_size),
            stride=(patch_size, patch_size),
            in_chans=in_chans,
            embed_dim=embed_dim,
        )

        self.pos_embed: nn.Parameter | None = None
        if use_abs_pos:
            self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))

        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                norm_layer=norm_layer,
                act_layer=act_layer,
                use_rel_pos=use_rel_pos,
                rel_pos_zero_init=rel_pos_zero_init,
                window_size=0 if i in global_attn_indexes else window_size,
                input_size=(grid, grid),
            )
            for i in range(depth)
        )

        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``Bx3xSxS`` normalised float image -> ``Bx out_chans x S/p x S/p`` embedding."""
        tokens = self.patch_embed(x)  # B x G x G x embed_dim
        if self.pos_embed is not None:
            tokens = tokens + self.pos_embed
        for block in self.blocks:
            tokens = block(tokens)
        # Contiguous, as the official returns it (the convolutions may keep the
        # channels-last layout of the permuted tokens).
        return self.neck(tokens.permute(0, 3, 1, 2)).contiguous()


class Block(nn.Module):
    """Pre-norm transformer block on a ``BxHxWxC`` token grid, windowed or global."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        window_size: int = 0,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        """
        Args:
            dim: token width.
            num_heads: attention heads.
            mlp_ratio: MLP hidden width as a multiple of ``dim``.
            qkv_bias: whether the qkv projection has a bias.
            norm_layer: normalisation layer.
            act_layer: MLP activation.
            use_rel_pos: add decomposed relative position biases.
            rel_pos_zero_init: kept for API compatibility.
            window_size: attention window side; 0 for global attention.
            input_size: token grid (H, W) of a global block, which sizes its relative
                position tables; windowed blocks use (window_size, window_size).
        """
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(
            dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            use_rel_pos=use_rel_pos,
            rel_pos_zero_init=rel_pos_zero_init,
            input_size=input_size if window_size == 0 else (window_size, window_size),
        )
        self.norm2 = norm_layer(dim)
        self.mlp = MLPBlock(embedding_dim=dim, mlp_dim=int(dim * mlp_ratio), act=act_layer)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``BxHxWxC`` tokens -> ``BxHxWxC`` tokens."""
        shortcut = x
        x = self.norm1(x)
        x = self.attn.windowed(x, self.window_size) if self.window_size > 0 else self.attn(x)
        x = shortcut + x
        return self._mlp_plus(self.norm2(x), residual=x)

    def _mlp_plus(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``residual + mlp(x)``; for inference on a CPU with the official (erf) GELU, the
        GELU and the residual add run inside the two matrix products (:mod:`.fused_ops`),
        saving two passes over the 4x wide hidden layer and one over the tokens."""
        if is_erf_gelu(self.mlp.act):
            hidden = linear(x, self.mlp.lin1, gelu=True)
            return linear(hidden, self.mlp.lin2, residual=residual)
        return residual + self.mlp(x)


class Attention(nn.Module):
    """Multi-head self-attention over a ``BxHxWxC`` grid, with decomposed relative positions.

    The attention itself (scores, relative position bias, softmax, weighted sum) lives in
    :meth:`attend` alone, so that it can be replaced by a fused kernel in one place.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        """
        Args:
            dim: token width; must be divisible by ``num_heads``.
            num_heads: attention heads.
            qkv_bias: whether the qkv projection has a bias.
            use_rel_pos: add decomposed relative position biases.
            rel_pos_zero_init: kept for API compatibility (tables start at zero).
            input_size: token grid (H, W) the relative position tables are sized for;
                required when ``use_rel_pos``.
        """
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"num_heads {num_heads} must divide the token width {dim}")
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5

        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            if input_size is None:
                raise ValueError("input_size is required when use_rel_pos is True")
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``BxHxWxC`` tokens -> ``BxHxWxC`` tokens."""
        batch, height, width, _ = x.shape
        # (3, B, heads, H*W, head_dim) -> q, k, v each (B*heads, H*W, head_dim)
        qkv = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, batch * self.num_heads, height * width, -1).unbind(0)

        out = self.attend(q, k, v, (height, width))  # (B*heads, H*W, head_dim)
        out = out.view(batch, self.num_heads, height, width, -1).permute(0, 2, 3, 1, 4)
        return self.proj(out.reshape(batch, height, width, -1))

    def windowed(self, x: torch.Tensor, window_size: int) -> torch.Tensor:
        """Attention within ``window_size`` windows of a ``BxHxWxC`` grid -> ``BxHxWxC``.

        The same result as the official ``window_partition`` (zero padding bottom/right),
        attention per window and ``window_unpartition``, with less work: the qkv
        projection of a zero padding token is exactly the qkv bias, so only the real
        tokens are projected and the padding is filled with the bias; the output
        projection runs after the padding is cut off (a ViT-B 64x64 grid pads to 70x70:
        16 % fewer projected rows).
        """
        batch, height, width, channels = x.shape
        qkv = self.qkv(x)  # B x H x W x 3C, real tokens only
        pad_h = (window_size - height % window_size) % window_size
        pad_w = (window_size - width % window_size) % window_size
        if pad_h or pad_w:
            padded = qkv.new_empty(batch, height + pad_h, width + pad_w, qkv.shape[-1])
            padded[:, :height, :width] = qkv
            fill = 0.0 if self.qkv.bias is None else self.qkv.bias
            padded[:, height:] = fill
            padded[:, :height, width:] = fill
            qkv = padded
        windows, padded_hw = window_partition(qkv, window_size)  # no further padding
        count = windows.shape[0]
        tokens = window_size * window_size
        # (3, windows, heads, tokens, head_dim) -> q, k, v each (windows*heads, tokens, head_dim)
        qkv = windows.reshape(count, tokens, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, count * self.num_heads, tokens, -1).unbind(0)
        out = self.attend(q, k, v, (window_size, window_size))
        out = out.view(count, self.num_heads, window_size, window_size, -1)
        out = out.permute(0, 2, 3, 1, 4).reshape(count, window_size, window_size, channels)
        return self.proj(window_unpartition(out, window_size, padded_hw, (height, width)))

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid_hw: tuple[int, int]
    ) -> torch.Tensor:
        """Scaled dot-product attention with the relative position bias.

        The same arithmetic as ``softmax(q*scale @ k^T + bias) @ v`` in one piece, done
        in blocks of (batch*head, query) rows (:mod:`.blockwise_attention`):
        every query row sees all keys, so each row's result is the same, but no
        ``(B*heads) x (H*W) x (H*W)`` map is ever held (805 MB per global block of
        ViT-B) and each block's scores stay in the CPU caches between the matmul, the
        bias, the softmax and the second matmul.

        Args:
            q, k, v: ``(B*heads) x (H*W) x head_dim``.
            grid_hw: the token grid (H, W) the sequence was flattened from.

        Returns:
            ``(B*heads) x (H*W) x head_dim``.
        """
        bias_h = bias_w = None
        if self.use_rel_pos:
            bias_h, bias_w = decomposed_rel_pos_terms(
                q, self.rel_pos_h, self.rel_pos_w, grid_hw, grid_hw
            )
        return attention_in_blocks(q * self.scale, k, v, bias_h, bias_w, grid_hw)


def window_partition(x: torch.Tensor, window_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Cut a ``BxHxWxC`` grid into non-overlapping windows, zero-padding bottom/right.

    Returns:
        ``(B*num_windows) x window_size x window_size x C`` windows and the padded (Hp, Wp).
    """
    batch, height, width, channels = x.shape
    pad_h = (window_size - height % window_size) % window_size
    pad_w = (window_size - width % window_size) % window_size
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    padded_h, padded_w = height + pad_h, width + pad_w

    x = x.view(
        batch, padded_h // window_size, window_size, padded_w // window_size, window_size, channels
    )
    windows = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, channels)
    return windows, (padded_h, padded_w)


def window_unpartition(
    windows: torch.Tensor,
    window_size: int,
    pad_hw: tuple[int, int],
    hw: tuple[int, int],
) -> torch.Tensor:
    """Inverse of :func:`window_partition`: windows -> ``BxHxWxC``, padding removed.

    Args:
        windows: ``(B*num_windows) x window_size x window_size x C``.
        window_size: window side.
        pad_hw: padded grid (Hp, Wp).
        hw: original grid (H, W).
    """
    padded_h, padded_w = pad_hw
    height, width = hw
    windows_per_image = (padded_h // window_size) * (padded_w // window_size)
    batch = windows.shape[0] // windows_per_image
    x = windows.view(
        batch, padded_h // window_size, padded_w // window_size, window_size, window_size, -1
    )
    x = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(batch, padded_h, padded_w, -1)
    if padded_h > height or padded_w > width:
        x = x[:, :height, :width, :].contiguous()
    return x


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative position embeddings for every (query, key) index pair along one axis.

    The table is linearly interpolated to ``2*max(q_size, k_size)-1`` rows when its length
    differs, and the coordinates of the shorter side are stretched when q and k differ.

    Args:
        q_size: query length along the axis.
        k_size: key length along the axis.
        rel_pos: ``L x C`` table.

    Returns:
        ``q_size x k_size x C``.
    """
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    if rel_pos.shape[0] != max_rel_dist:
        resized = F.interpolate(
            rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1),
            size=max_rel_dist,
            mode="linear",
        )
        resized = resized.reshape(-1, max_rel_dist).permute(1, 0)
    else:
        resized = rel_pos

    q_stretch = max(k_size / q_size, 1.0)
    k_stretch = max(q_size / k_size, 1.0)
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * q_stretch
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * k_stretch
    relative_coords = (q_coords - k_coords) + (k_size - 1) * k_stretch
    return resized[relative_coords.long()]


def decomposed_rel_pos_terms(
    q: torch.Tensor,
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
    q_size: tuple[int, int],
    k_size: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of MViTv2's decomposed relative position bias.

    The bias of query ``i`` (at grid cell (qy, qx)) for key ``j`` (at (ky, kx)) is
    ``bias_h[:, i, ky] + bias_w[:, i, kx]``.

    Args:
        q: ``B x (q_h*q_w) x C`` queries.
        rel_pos_h: ``Lh x C`` table for the height axis.
        rel_pos_w: ``Lw x C`` table for the width axis.
        q_size: query grid (q_h, q_w).
        k_size: key grid (k_h, k_w).

    Returns:
        ``bias_h`` of shape ``B x (q_h*q_w) x k_h`` and ``bias_w`` of ``B x (q_h*q_w) x k_w``.
    """
    q_h, q_w = q_size
    k_h, k_w = k_size
    table_h = get_rel_pos(q_h, k_h, rel_pos_h)  # q_h x k_h x C
    table_w = get_rel_pos(q_w, k_w, rel_pos_w)  # q_w x k_w x C

    batch, _, channels = q.shape
    grid_q = q.reshape(batch, q_h, q_w, channels)
    bias_h = torch.einsum("bhwc,hkc->bhwk", grid_q, table_h)
    bias_w = torch.einsum("bhwc,wkc->bhwk", grid_q, table_w)
    return bias_h.reshape(batch, q_h * q_w, k_h), bias_w.reshape(batch, q_h * q_w, k_w)


class PatchEmbed(nn.Module):
    """Image to patch tokens: ``BxCxHxW`` -> ``B x H/s x W/s x embed_dim`` (a strided conv)."""

    def __init__(
        self,
        kernel_size: tuple[int, int] = (16, 16),
        stride: tuple[int, int] = (16, 16),
        padding: tuple[int, int] = (0, 0),
        in_chans: int = 3,
        embed_dim: int = 768,
    ) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            in_chans, embed_dim, kernel_size=kernel_size, stride=stride, padding=padding
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)
