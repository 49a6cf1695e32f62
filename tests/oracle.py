"""Test-only access to the official reference implementations, used as oracles.

The official ``segment_anything`` 1.0 package (and the ``mobile_sam`` reference code)
import torchvision, and MobileSAM also timm, for a handful of small helpers. The only
torchvision offered for our pinned torch fails to load its C extension and would pull in
a newer torch, so it cannot be installed beside the pinned CPU build. Instead, before the
reference packages are imported, this module registers minimal stand-ins that do exactly
what those helpers do for the inputs the reference code gives them:

- ``torchvision.transforms.functional.to_pil_image`` on an HxWx3 uint8 array and
  ``resize`` on the resulting PIL image: torchvision hands PIL images to
  ``PIL.Image.resize((w, h), BILINEAR)`` (PIL's antialiased bilinear filter);
- ``torchvision.ops.boxes.batched_nms`` / ``box_area``: greedy non-maximum suppression
  per category, written here independently of the project's own NMS;
- ``timm.models.layers`` ``DropPath`` / ``to_2tuple`` / ``trunc_normal_`` and
  ``timm.models.registry.register_model``: only initialisation and identity-at-eval;
- for the official ``sam2`` 1.1.0 image predictor, ``torchvision.transforms``
  ``ToTensor`` (HxWx3 uint8 -> 3xHxW float in 0-1), ``Resize((h, w))`` on a tensor
  (torchvision calls ``F.interpolate(..., "bilinear", antialias=True)``) and
  ``Normalize(mean, std)``, as TorchScript-able modules (the predictor scripts them).

Nothing in the project imports this module: it is an oracle for tests and benchmarks.
The stand-ins are registered only where the real package cannot be imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import torch
from PIL import Image


def _to_pil_image(pic) -> Image.Image:
    if isinstance(pic, Image.Image):
        return pic
    array = np.asarray(pic)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise TypeError("stand-in to_pil_image only supports HxWx3 uint8 arrays")
    return Image.fromarray(array, mode="RGB")


def _resize(img, size, interpolation=None, max_size=None, antialias=True):
    if not isinstance(img, Image.Image):
        raise TypeError("stand-in resize only supports PIL images")
    if isinstance(size, int) or len(size) != 2:
        raise TypeError("stand-in resize needs an explicit (h, w) size")
    height, width = int(size[0]), int(size[1])
    return img.resize((width, height), Image.BILINEAR)


def _box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    boxes = boxes.double()
    keep: list[int] = []
    suppressed = set()
    for pos, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[pos + 1 :]:
            if j in suppressed:
                continue
            x0 = max(boxes[i, 0], boxes[j, 0])
            y0 = max(boxes[i, 1], boxes[j, 1])
            x1 = min(boxes[i, 2], boxes[j, 2])
            y1 = min(boxes[i, 3], boxes[j, 3])
            inter = max(float(x1 - x0), 0.0) * max(float(y1 - y0), 0.0)
            area_i = float((boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1]))
            area_j = float((boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1]))
            union = area_i + area_j - inter
            if union > 0 and inter / union > iou_threshold:
                suppressed.add(j)
    return torch.tensor(keep, dtype=torch.int64)


def _batched_nms(boxes, scores, idxs, iou_threshold):
    keep_all = []
    for category in torch.unique(idxs).tolist():
        members = torch.nonzero(idxs == category).flatten()
        kept = _nms(boxes[members], scores[members], iou_threshold)
        keep_all.append(members[kept])
    if not keep_all:
        return torch.empty(0, dtype=torch.int64)
    keep = torch.cat(keep_all)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]


class _ToTensor:
    def __call__(self, pic) -> torch.Tensor:
        array = np.asarray(pic)
        if array.dtype != np.uint8 or array.ndim != 3:
            raise TypeError("stand-in ToTensor only supports HxWxC uint8 arrays")
        return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255.0)


class _Resize(torch.nn.Module):
    def __init__(self, size: list[int]) -> None:
        super().__init__()
        self.size: list[int] = [int(size[0]), int(size[1])]

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        out = torch.nn.functional.interpolate(
            img.unsqueeze(0), size=self.size, mode="bilinear", align_corners=False,
            antialias=True,
        )  # fmt: skip
        return out.squeeze(0)


class _Normalize(torch.nn.Module):
    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.mean: list[float] = [float(m) for m in mean]
        self.std: list[float] = [float(s) for s in std]

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=img.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=img.dtype).view(-1, 1, 1)
        return (img - mean) / std


class _DropPath(torch.nn.Module):
    def __init__(self, drop_prob=None, scale_by_keep=True):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        if not self.training or not self.drop_prob:
            return x
        raise NotImplementedError("stand-in DropPath is for inference only")


def _to_2tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x, x)


def _trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    return torch.nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__oracle_stand_in__ = True
    sys.modules[name] = module
    return module


def _missing(name: str) -> bool:
    if name in sys.modules:
        return False
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def install_stand_ins() -> None:
    """Register the stand-in torchvision / timm helpers where the real ones are absent."""
    if _missing("torchvision"):
        functional = _module(
            "torchvision.transforms.functional", resize=_resize, to_pil_image=_to_pil_image
        )
        transforms = _module(
            "torchvision.transforms",
            functional=functional,
            ToTensor=_ToTensor,
            Resize=_Resize,
            Normalize=_Normalize,
        )
        boxes = _module(
            "torchvision.ops.boxes", batched_nms=_batched_nms, box_area=_box_area, nms=_nms
        )
        ops = _module("torchvision.ops", boxes=boxes, batched_nms=_batched_nms, nms=_nms)
        _module("torchvision", transforms=transforms, ops=ops)
    if _missing("timm"):
        layers = _module(
            "timm.models.layers",
            DropPath=_DropPath,
            to_2tuple=_to_2tuple,
            trunc_normal_=_trunc_normal_,
        )
        registry = _module("timm.models.registry", register_model=lambda fn: fn)
        models = _module("timm.models", layers=layers, registry=registry)
        _module("timm", models=models)


def official_segment_anything():
    """The official ``segment_anything`` 1.0 package (test dependency), importable here."""
    install_stand_ins()
    return importlib.import_module("segment_anything")


def official_mobile_sam():
    """The MobileSAM reference package (``mobilesam-mirror``), importable here."""
    install_stand_ins()
    return importlib.import_module("mobile_sam")


def official_sam2():
    """The official ``sam2`` 1.1.0 package (test dependency), importable here: its image
    predictor with the stand-in transforms above."""
    install_stand_ins()
    return importlib.import_module("sam2")
