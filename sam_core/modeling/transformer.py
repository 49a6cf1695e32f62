"""The two-way transformer of SAM's mask decoder.

Prompt tokens and image tokens attend to each other in turn: tokens self-attend, tokens
attend to the image, an MLP updates the tokens, and the image attends to the tokens.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sam_core.modeling.common import MLPBlock


class TwoWayTransformer(nn.Module):
    """A decoder that attends to an image embedding with positionally-encoded queries."""

    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
    ) -> None:
        """
        Args:
            depth: number of two-way blocks.
            embedding_dim: channel width of tokens and image embedding.
            num_heads: attention heads; must divide the (downsampled) attention width.
            mlp_dim: hidden width of the token MLP.
            activation: MLP activation.
            attention_downsample_rate: the cross attentions project to
                ``embedding_dim // attention_downsample_rate`` channels.
        """
        super().__init__()
        self.depth = depth
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                activation=activation,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self, image_embedding: Tensor, image_pe: Tensor, point_embedding: Tensor
    ) -> tuple[Tensor, Tensor]:
        """
        Args:
            image_embedding: ``B x C x h x w`` image to attend to.
            image_pe: ``B x C x h x w`` positional encoding of the image.
            point_embedding: ``B x N x C`` query tokens (also their positional encoding).

        Returns:
            The processed tokens ``B x N x C`` and image ``B x (h*w) x C``.
        """
        # B x hw x C. Made contiguous once (the same values): every add, norm and
        # projection below then reads rows, not columns of a transposed view.
        image_tokens = image_embedding.flatten(2).permute(0, 2, 1).contiguous()
        image_pe = image_pe.flatten(2).permute(0, 2, 1).contiguous()

        queries = point_embedding
        keys = image_tokens
        for layer in self.layers:
            queries, keys = layer(
                queries=queries, keys=keys, query_pe=point_embedding, key_pe=image_pe
            )

        q = queries + point_embedding
        k = keys + image_pe
        queries = queries + self.final_attn_token_to_image(q=q, k=k, v=keys)
        queries = self.norm_final_attn(queries)
        return queries, keys


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token->image cross attention, token MLP, image->token attention.

    Each step is residual and followed by a LayerNorm. The first block of the transformer
    (``skip_first_layer_pe``) self-attends without adding the positional encoding and
    without the residual connection, as the official model does.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int = 2048,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)

        self.cross_attn_token_to_image = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm2 = nn.LayerNorm(embedding_dim)

        self.mlp = MLPBlock(embedding_dim, mlp_dim, activation)
        self.norm3 = nn.LayerNorm(embedding_dim)

        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self, queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``BxNxC`` tokens and ``Bx(hw)xC`` image (with their encodings) -> both updated."""
        if self.skip_first_layer_pe:
            queries = self.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q=q, k=q, v=queries)
        queries = self.norm1(queries)

        q = queries + query_pe
        k = keys + key_pe
        queries = queries + self.cross_attn_token_to_image(q=q, k=k, v=keys)
        queries = self.norm2(queries)

        queries = queries + self.mlp(queries)
        queries = self.norm3(queries)

        q = queries + query_pe
        k = keys + key_pe
        keys = keys + self.cross_attn_image_to_token(q=k, k=q, v=queries)
        keys = self.norm4(keys)
        return queries, keys


class Attention(nn.Module):
    """Multi-head attention whose q/k/v projections may shrink the width.

    The attention itself lives in :meth:`attend` alone, so that it can be replaced by a
    fused kernel in one place.
    """

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        """
        Args:
            embedding_dim: width of the inputs and the output.
            num_heads: attention heads; must divide ``embedding_dim // downsample_rate``.
            downsample_rate: the projections map to ``embedding_dim // downsample_rate``.
        """
        super().__init__()
        self.embedding_dim = embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads != 0:
            raise ValueError(
                f"num_heads {num_heads} must divide the attention width {self.internal_dim}"
            )
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.v_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def _separate_heads(self, x: Tensor, num_heads: int) -> Tensor:
        """``B x N x C`` -> ``B x heads x N x C/heads``."""
        batch, tokens, channels = x.shape
        return x.reshape(batch, tokens, num_heads, channels // num_heads).transpose(1, 2)

    def _recombine_heads(self, x: Tensor) -> Tensor:
        """``B x heads x N x c`` -> ``B x N x (heads*c)``."""
        batch, heads, tokens, head_dim = x.shape
        return x.transpose(1, 2).reshape(batch, tokens, heads * head_dim)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """``BxNqxC`` queries, ``BxNkxC`` keys and values -> ``BxNqxC``."""
        q = self._separate_heads(self.q_proj(q), self.num_heads)
        k = self._separate_heads(self.k_proj(k), self.num_heads)
        v = self._separate_heads(self.v_proj(v), self.num_heads)
        return self.out_proj(self._recombine_heads(self.attend(q, k, v)))

    @staticmethod
    def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Softmax attention: ``B x heads x Nq x c``, ``... x Nk x c`` -> ``B x heads x Nq x c``."""
        scores = q @ k.permute(0, 1, 3, 2)
        scores = scores / math.sqrt(q.shape[-1])
        return torch.softmax(scores, dim=-1) @ v
