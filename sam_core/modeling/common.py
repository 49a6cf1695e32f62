"""Small building blocks shared by the SAM networks."""

from __future__ import annotations

import torch
from torch import nn


class MLPBlock(nn.Module):
    """Two linear layers with an activation between them: ``lin2(act(lin1(x)))``.

    Input and output are ``...xembedding_dim``; the hidden width is ``mlp_dim``.
    """

    def __init__(
        self,
        embedding_dim: int,
        mlp_dim: int,
        act: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of a ``BxCxHxW`` tensor (as in ConvNeXt / detectron2).

    Each pixel's C values are normalised to zero mean and unit (biased) variance, then
    scaled by ``weight`` and shifted by ``bias`` (both of shape ``C``).
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        variance = (x - mean).pow(2).mean(1, keepdim=True)
        normalised = (x - mean) / torch.sqrt(variance + self.eps)
        return self.weight[:, None, None] * normalised + self.bias[:, None, None]


def token_major(image: torch.Tensor) -> torch.Tensor:
    """``B x C x h x w`` -> ``B x (h*w) x C`` (a view; no copy)."""
    return image.flatten(2).transpose(1, 2)
