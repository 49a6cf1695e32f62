"""COCO run-length encoding (RLE) of a mask, validated before pycocotools sees it.

COCO RLE stores an HxW mask in column-major (Fortran) order as alternating run lengths
starting with a run of 0s. `counts` is either the list of run lengths ("uncompressed",
as in COCO's crowd annotations) or pycocotools' compact string ("compressed": 6 bits
per character, ASCII 48-111, each count coded relative to the count two before).

pycocotools decodes counts without bounds checks, so malformed counts could write past
its buffer; `Rle` therefore checks that the counts are non-negative and sum to H*W.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask


def strict_int(value: Any) -> int | None:
    """`value` as a Python int if it is an integer (numpy integers included, bools not)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def decode_counts_string(text: str) -> list[int]:
    """pycocotools' compressed counts string -> run lengths (ValueError if malformed)."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value = 0
        shift = 0
        more = True
        while more:
            if position >= len(text):
                raise ValueError("compressed RLE counts end in the middle of a number")
            code = ord(text[position]) - 48
            if not 0 <= code < 64:
                raise ValueError(
                    f"compressed RLE counts hold an invalid character {text[position]!r}"
                )
            if shift > 60:
                raise ValueError("compressed RLE counts hold an impossibly large number")
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


@dataclass(frozen=True)
class Rle:
    """An HxW mask as COCO RLE; `counts` is a str (compressed) or a tuple of ints."""

    height: int
    width: int
    counts: str | tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = strict_int(getattr(self, name))
            if value is None or value <= 0:
                raise ValueError(
                    f"RLE {name} must be a positive integer, got {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, value)
        if isinstance(self.counts, str):
            runs = decode_counts_string(self.counts)
        elif isinstance(self.counts, tuple):
            runs = [strict_int(run) for run in self.counts]
            if None in runs:
                raise ValueError("RLE counts must be integers")
            object.__setattr__(self, "counts", tuple(runs))
        else:
            kind = type(self.counts).__name__
            raise ValueError(f"RLE counts must be a string or a list, got {kind}")
        if any(run < 0 for run in runs):
            raise ValueError("RLE counts hold a negative run length")
        total = sum(runs)
        if total != self.height * self.width:
            raise ValueError(
                f"RLE counts cover {total} pixels, but the size {self.height}x{self.width} "
                f"(HxW) has {self.height * self.width}"
            )

    @property
    def is_compressed(self) -> bool:
        return isinstance(self.counts, str)

    @classmethod
    def from_coco(cls, obj: Any) -> Rle:
        """From a COCO segmentation dict {"size": [h, w], "counts": str | list[int]}."""
        if not isinstance(obj, Mapping) or "size" not in obj or "counts" not in obj:
            raise ValueError("an RLE must be an object with 'size' and 'counts'")
        size = obj["size"]
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            raise ValueError(f"RLE size must be [height, width], got {size!r:.60}")
        counts = obj["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii", errors="replace")
        if isinstance(counts, list):
            counts = tuple(counts)
        return cls(size[0], size[1], counts)

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> Rle:
        """HxW mask (bool or 0/1) -> compressed Rle."""
        array = np.asarray(mask)
        if array.ndim != 2:
            raise ValueError(f"a mask must be 2-D (HxW), got shape {array.shape}")
        encoded = coco_mask.encode(np.asfortranarray(array != 0, dtype=np.uint8))
        return cls(int(array.shape[0]), int(array.shape[1]), encoded["counts"].decode("ascii"))

    def to_coco(self) -> dict[str, Any]:
        """JSON-ready COCO dict, in the same form (compressed or not) as stored."""
        counts = self.counts if isinstance(self.counts, str) else list(self.counts)
        return {"size": [self.height, self.width], "counts": counts}

    def to_pycocotools(self) -> dict[str, Any]:
        """The compressed dict that pycocotools' decode / area / toBbox accept."""
        if isinstance(self.counts, str):
            return {"size": [self.height, self.width], "counts": self.counts.encode("ascii")}
        return coco_mask.frPyObjects(self.to_coco(), self.height, self.width)

    def compressed(self) -> Rle:
        """The same mask with string counts."""
        if isinstance(self.counts, str):
            return self
        counts = self.to_pycocotools()["counts"].decode("ascii")
        return Rle(self.height, self.width, counts)

    def runs(self) -> list[int]:
        """The run lengths (0s first), decoded from the string if compressed."""
        if isinstance(self.counts, str):
            return decode_counts_string(self.counts)
        return list(self.counts)

    def to_mask(self) -> np.ndarray:
        """HxW bool mask (decoded here with numpy; the counts were validated)."""
        return runs_to_mask(self.runs(), self.height, self.width)


def runs_to_mask(runs: list[int], height: int, width: int) -> np.ndarray:
    """Column-major run lengths (0s first) -> HxW bool mask."""
    values = np.arange(len(runs)) % 2 == 1
    flat = np.repeat(values, runs)
    return flat.reshape(width, height).T.copy()
