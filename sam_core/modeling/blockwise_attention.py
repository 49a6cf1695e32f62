"""Softmax attention with an additive decomposed bias, computed in cache-sized blocks.

``softmax(q @ k^T + bias) @ v`` for the ViT encoder, done in blocks of (batch, query)
rows of about :data:`SCORES_PER_BLOCK` scores. Every query row still sees all keys, so
each row's arithmetic is the official one, but no ``batch x N x N`` score map is ever
held (805 MB per global-attention block of ViT-B) and each block's scores stay in the
CPU caches between the matmul, the bias, the softmax and the second matmul.
"""

from __future__ import annotations

import torch

#: Attention scores computed per block (4 MiB of float32): big enough for efficient
#: matmuls, small enough to stay in a core's caches.
SCORES_PER_BLOCK = 1 << 20


def block_shape(batch: int, queries: int, keys: int) -> tuple[int, int]:
    """(batch rows, query rows) per attention block of about SCORES_PER_BLOCK scores."""
    per_batch_row = queries * keys
    if per_batch_row <= SCORES_PER_BLOCK:
        return max(1, min(batch, SCORES_PER_BLOCK // per_batch_row)), queries
    return 1, max(1, SCORES_PER_BLOCK // keys)


def attention_in_blocks(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias_h: torch.Tensor | None,
    bias_w: torch.Tensor | None,
    grid_hw: tuple[int, int],
) -> torch.Tensor:
    """``softmax(q @ k^T + bias) @ v`` without the whole score map.

    Args:
        q: ``B x N x d`` queries, already scaled.
        k, v: ``B x N x d`` keys and values of the ``grid_hw`` (H, W) token grid.
        bias_h, bias_w: the decomposed bias (``B x N x H`` and ``B x N x W``): the bias
            of query i for the key at (ky, kx) is ``bias_h[:, i, ky] + bias_w[:, i, kx]``,
            added in that order; ``None`` for no bias.

    Returns:
        ``B x N x d``.
    """
    keys_t = k.transpose(-2, -1)
    batch, length, _ = q.shape
    out = q.new_empty((batch, length, v.shape[-1]))
    batch_step, query_step = block_shape(batch, length, length)
    for b0 in range(0, batch, batch_step):
        rows = slice(b0, b0 + batch_step)
        for q0 in range(0, length, query_step):
            queries = slice(q0, q0 + query_step)
            scores = torch.bmm(q[rows, queries], keys_t[rows])
            if bias_h is not None:
                grid = scores.view(scores.shape[0], scores.shape[1], *grid_hw)
                grid.add_(bias_h[rows, queries, :, None])
                grid.add_(bias_w[rows, queries, None, :])
            out[rows, queries] = torch.bmm(scores.softmax(dim=-1), v[rows])
    return out
