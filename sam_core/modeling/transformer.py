"""The two-way transformer of SAM's mask decoder.

Prompt tokens and image tokens attend to each other in turn: tokens self-attend, tokens
attend to the image, an MLP updates the tokens, and the image attends to the tokens.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sam_core.modeling.common import MLPBlock, token_major


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
        return self.forward_token_major(
            token_major(image_embedding), token_major(image_pe), point_embedding
        )

    def forward_token_major(
        self,
        image_tokens: Tensor,
        image_pe: Tensor,
        point_embedding: Tensor,
        outputs: int | None = None,
    ) -> tuple[Tensor, Tensor]:
        """:meth:`forward` with the image already token-major: ``B x (h*w) x C`` (both).

        ``outputs``: return only the first ``outputs`` tokens (the decoder reads only its
        IoU and mask tokens); the others then skip the final attention.
        """
        # Contiguous rows (a no-op when they already are): every add, norm and product
        # below then reads rows, not the columns of a transposed view.
        keys = image_tokens.contiguous()
        image_pe = image_pe.contiguous()
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(
                queries=queries, keys=keys, query_pe=point_embedding, key_pe=image_pe
            )

        queries = queries[:, :outputs]
        q = queries + point_embedding[:, :outputs]
        k = keys + image_pe
        queries = queries + self.final_attn_token_to_image.tokens_to_image(q=q, k=k, v=keys)
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
        k = keys + key_pe  # the image is unchanged until the last step: used twice
        queries = queries + self.cross_attn_token_to_image.tokens_to_image(q=q, k=k, v=keys)
        queries = self.norm2(queries)

        queries = queries + self.mlp(queries)
        queries = self.norm3(queries)

        q = queries + query_pe
        keys = keys + self.cross_attn_image_to_token.image_to_tokens(q=k, k=q, v=queries)
        keys = self.norm4(keys)
        return queries, keys


class Attention(nn.Module):
    """Multi-head attention whose q/k/v projections may shrink the width.

    :meth:`forward` is the official order of computation. The decoder's cross attentions
    pair a few prompt tokens (N, about 5-10) with thousands of image tokens (4096), and
    for them :meth:`tokens_to_image` and :meth:`image_to_tokens` compute the same function
    in another order: the projections of the image tokens are folded into the few tokens'
    side (matrix products associate), so each image token meets one ``C x heads*N``
    product instead of two ``C x C/rate`` projections plus the attention of its own; the
    per-head split, recombination and the softmax over a short last axis disappear too.
    Same values up to float rounding (~1e-6); used at inference when ``heads * N`` does
    not exceed the attention width, where it costs fewer operations.
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

    def tokens_to_image(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """:meth:`forward` for few queries (prompt tokens) and many keys (image tokens).

        Per head h, with ``s = 1/sqrt(head width)``:
        ``scores_h = s (q_h) (k W_kh^T + b_kh)^T = (s q_h W_kh) k^T + (a constant per row)``;
        the constant does not change a softmax, so ``k`` is never projected. Rows of the
        softmax ``P_h`` sum to 1, so ``P_h (v W_vh^T + b_vh) = (P_h v) W_vh^T + b_vh``:
        ``v`` is never projected either.
        """
        batch, tokens, _ = q.shape
        if not self._folding_pays(tokens):
            return self(q, k, v)
        heads, head_dim = self.num_heads, self.internal_dim // self.num_heads
        q = self._separate_heads(self.q_proj(q), heads)  # B x heads x N x c
        k_weight = self.k_proj.weight.view(heads, head_dim, -1)  # heads x c x C
        queries = (q @ k_weight).mul_(1.0 / math.sqrt(head_dim)).flatten(1, 2)
        weights = torch.softmax(queries @ k.transpose(1, 2), dim=-1)  # B x heads*N x hw
        pooled = (weights @ v).view(batch, heads, tokens, -1)  # B x heads x N x C
        v_weight = self.v_proj.weight.view(heads, head_dim, -1).transpose(1, 2)
        out = pooled @ v_weight + self.v_proj.bias.view(heads, 1, head_dim)
        return self.out_proj(self._recombine_heads(out))

    def image_to_tokens(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """:meth:`forward` for many queries (image tokens) and few keys (prompt tokens).

        Per head h: ``scores_h = s (q W_qh^T + b_qh) k_h^T = q (s W_qh^T k_h^T) + s b_qh
        k_h^T``, one ``C x N`` matrix per head instead of projecting ``q``; and the output
        projection splits by head, ``out = sum_h P_h (v_h W_oh^T) + b_o``, so the image
        tokens meet one ``heads*N x C`` matrix instead of the per-head values and
        ``out_proj``. Scores are laid out ``heads x N x hw``: the softmax over the N
        tokens then runs along a long contiguous axis.
        """
        batch, tokens, _ = k.shape
        if not self._folding_pays(tokens):
            return self(q, k, v)
        heads, head_dim = self.num_heads, self.internal_dim // self.num_heads
        k = self._separate_heads(self.k_proj(k), heads) * (1.0 / math.sqrt(head_dim))
        q_weight = self.q_proj.weight.view(heads, head_dim, -1)  # heads x c x C
        keys = (k @ q_weight).flatten(1, 2)  # B x heads*N x C
        key_bias = (k @ self.q_proj.bias.view(heads, head_dim, 1)).flatten(1, 2)
        scores = torch.baddbmm(key_bias, keys, q.transpose(1, 2))  # B x heads*N x hw
        weights = torch.softmax(scores.view(batch, heads, tokens, -1), dim=2)
        v = self._separate_heads(self.v_proj(v), heads)  # B x heads x N x c
        out_weight = self.out_proj.weight.view(-1, heads, head_dim).permute(1, 2, 0)
        values = (v @ out_weight).flatten(1, 2)  # B x heads*N x C
        return torch.baddbmm(
            self.out_proj.bias.view(1, 1, -1), weights.flatten(1, 2).transpose(1, 2), values
        )

    def _folding_pays(self, tokens: int) -> bool:
        """Folded cost per image token ~ 2 C heads N, official ~ 2 C internal_dim.

        Inference only: under autograd the official order keeps every gradient as the
        official model has it (folding never uses the key bias, whose exact gradient is 0;
        the official computes it in floating point and an optimiser then treats it as set).
        """
        return not torch.is_grad_enabled() and self.num_heads * tokens <= self.internal_dim

    @staticmethod
    def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Softmax attention: ``B x heads x Nq x c``, ``... x Nk x c`` -> ``B x heads x Nq x c``."""
        scores = q @ k.permute(0, 1, 3, 2)
        scores = scores / math.sqrt(q.shape[-1])
        return torch.softmax(scores, dim=-1) @ v
