"""Convolution and linear layers with their GELU / residual add fused in, for CPU inference.

Without autograd on a CPU, oneDNN's fused kernels (PyTorch's ``torch.ops.mkldnn``, as
PyTorch's own compiler uses them) apply GELU and residual additions inside the
convolution or matrix product that produces them, saving whole passes over large
activations. Elsewhere (autograd, other devices or dtypes, a PyTorch without these ops,
or :data:`FUSED_CPU_KERNELS` off) the same functions run the plain PyTorch ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Use oneDNN's fused convolution / linear kernels (PyTorch's ``torch.ops.mkldnn``, as
#: its compiler does) for inference on CPU. Set to False to run plain PyTorch ops.
FUSED_CPU_KERNELS = True

_MKLDNN = getattr(torch.ops, "mkldnn", None)
_HAS_FUSED_KERNELS = (
    torch.backends.mkldnn.is_available()
    and hasattr(_MKLDNN, "_convolution_pointwise")
    and hasattr(_MKLDNN, "_linear_pointwise")
)


def is_erf_gelu(activation: nn.Module) -> bool:
    """Whether ``activation`` is the GELU these kernels fuse (the exact, erf form), so that
    ``gelu=True`` may stand in for it."""
    return isinstance(activation, nn.GELU) and activation.approximate == "none"


def _fused(x: torch.Tensor) -> bool:
    """Whether this call may use the fused kernels: float32 CPU inference, no autograd."""
    return (
        FUSED_CPU_KERNELS
        and _HAS_FUSED_KERNELS
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
    )


def linear(
    x: torch.Tensor,
    layer: nn.Linear,
    gelu: bool = False,
    residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """``layer(x)``, then GELU if ``gelu``, then ``+ residual`` if given (not both)."""
    return linear_weights(x, layer.weight, layer.bias, gelu=gelu, residual=residual)


def linear_weights(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    gelu: bool = False,
    residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` (weight ``out x in``), then GELU if ``gelu``, then
    ``+ residual`` if given (not both)."""
    if _fused(x):
        if residual is not None:
            return _MKLDNN._linear_pointwise.binary(x, residual, weight, bias, "add")
        attr, algorithm = ("gelu", "none") if gelu else ("none", "")
        return _MKLDNN._linear_pointwise(x, weight, bias, attr, [], algorithm)
    y = F.linear(x, weight, bias)
    if gelu:
        y = F.gelu(y)
    return y if residual is None else y + residual


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int,
    gelu: bool = False,
    residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """``F.conv2d``, then ``+ residual`` if given, then GELU if ``gelu``."""
    if not _fused(x):
        y = F.conv2d(x, weight, bias, stride, padding, 1, groups)
        y = y if residual is None else y + residual
        return F.gelu(y) if gelu else y
    stride, padding, dilation = list(stride), list(padding), [1, 1]
    if residual is None:
        attr, algorithm = ("gelu", "none") if gelu else ("none", "")
        return _MKLDNN._convolution_pointwise(
            x, weight, bias, padding, stride, dilation, groups, attr, [], algorithm
        )
    y = _MKLDNN._convolution_pointwise.binary(
        x, residual, weight, bias, padding, stride, dilation, groups,
        "add", None, None, [], None,
    )  # fmt: skip
    return torch.ops.aten.gelu_(y) if gelu else y  # oneDNN fuses no GELU after an add
