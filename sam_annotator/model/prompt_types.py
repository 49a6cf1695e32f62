"""The value types every engine and the labeling model share: prompts and candidates.

They live in the model layer so that both ``model/`` (the prompt session) and
``inference/`` (the engines) can use them without importing from a layer above.

Coordinates: every prompt is in original-image pixels, x to the right and y down, with
the pixel ``(i, j)`` covering ``[j, j + 1) x [i, i + 1)``; boxes are XYXY.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The most clicks one prompt set may hold. SAM's prompt encoder makes a token per click
#: and its decoder attends over all of them: tens of thousands exhaust memory, and no
#: labeler clicks more than a few dozen times on one object.
MAX_PROMPT_POINTS = 1000

Point = tuple[float, float]
Box = tuple[float, float, float, float]


def _finite_float(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {number}")
    return number


def _normalise_points(points: Any) -> tuple[Point, ...]:
    points = tuple(points)
    if len(points) > MAX_PROMPT_POINTS:
        raise ValueError(
            f"{len(points)} prompt points: at most {MAX_PROMPT_POINTS} are accepted per object"
        )
    out = []
    for i, point in enumerate(points):
        try:
            x, y = point
        except (TypeError, ValueError):
            raise ValueError(f"point {i} must be an (x, y) pair, got {point!r}") from None
        out.append((_finite_float(x, f"point {i} x"), _finite_float(y, f"point {i} y")))
    return tuple(out)


def _normalise_labels(labels: Any) -> tuple[int, ...]:
    out = []
    for i, label in enumerate(labels):
        if isinstance(label, (bool, np.bool_)) or label not in (0, 1):
            raise ValueError(f"label {i} must be 1 (positive) or 0 (negative), got {label!r}")
        out.append(int(label))
    return tuple(out)


def _normalise_box(box: Any) -> Box | None:
    if box is None:
        return None
    try:
        values = tuple(box)
    except TypeError:
        raise ValueError(f"box must be (x0, y0, x1, y1), got {box!r}") from None
    if len(values) != 4:
        raise ValueError(f"box must be (x0, y0, x1, y1), got {box!r}")
    x0, y0, x1, y1 = (
        _finite_float(v, f"box {n}") for n, v in zip(("x0", "y0", "x1", "y1"), values, strict=True)
    )
    if x0 > x1 or y0 > y1:
        raise ValueError(f"box must be XYXY with x0 <= x1 and y0 <= y1, got {box!r}")
    return (x0, y0, x1, y1)


def _normalise_mask_input(mask_input: Any) -> np.ndarray | None:
    if mask_input is None:
        return None
    array = np.asarray(mask_input)
    if array.ndim == 2:
        array = array[None]
    if (
        array.ndim != 3
        or array.shape[0] != 1
        or array.shape[1] != array.shape[2]
        or not (array.shape[1])
    ):
        raise ValueError(f"mask_input must be 1xSxS low-res logits, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"mask_input must hold float logits, got dtype {array.dtype}")
    array = np.array(array, dtype=np.float32)  # own copy, so later edits cannot leak in
    if not np.isfinite(array).all():
        raise ValueError("mask_input contains NaN or infinite values")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class PromptSet:
    """The prompts for one object, in original-image pixels.

    ``points`` are (x, y) clicks with ``labels`` 1 (positive) or 0 (negative); ``box`` is
    XYXY or ``None``; ``mask_input`` is a 1xSxS float32 mask prompt in the engine's own
    low-res frame: the ``low_res_logits`` of the candidate the user chose last, or what
    ``Segmenter.mask_input_from_mask`` made of an existing annotation (SAM and SAM 2:
    1x256x256 logits; an engine checks the side it needs; engines whose
    ``mask_input_supported`` is false ignore it). Inputs are validated and normalised
    (floats, ints, a read-only float32 copy of ``mask_input``: copy it before
    ``torch.as_tensor``, which warns on read-only arrays); bad input raises
    ``ValueError``, also more than ``MAX_PROMPT_POINTS`` clicks. Two prompt sets are equal
    when all four fields are equal (``mask_input`` compared by value).
    """

    points: tuple[Point, ...] = ()
    labels: tuple[int, ...] = ()
    box: Box | None = None
    mask_input: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        points = _normalise_points(self.points)
        labels = _normalise_labels(self.labels)
        if len(points) != len(labels):
            raise ValueError(f"{len(points)} points but {len(labels)} labels: give one label each")
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "box", _normalise_box(self.box))
        object.__setattr__(self, "mask_input", _normalise_mask_input(self.mask_input))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PromptSet):
            return NotImplemented
        if (self.points, self.labels, self.box) != (other.points, other.labels, other.box):
            return False
        if self.mask_input is None or other.mask_input is None:
            return self.mask_input is other.mask_input
        return bool(np.array_equal(self.mask_input, other.mask_input))

    def __hash__(self) -> int:
        return hash((self.points, self.labels, self.box, self.mask_input is None))

    # -- queries -------------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        """True when there is neither a click nor a box (``mask_input`` alone is no prompt)."""
        return not self.points and self.box is None

    @property
    def positive_points(self) -> tuple[Point, ...]:
        return tuple(p for p, label in zip(self.points, self.labels, strict=True) if label == 1)

    @property
    def negative_points(self) -> tuple[Point, ...]:
        return tuple(p for p, label in zip(self.points, self.labels, strict=True) if label == 0)

    @property
    def defines_object(self) -> bool:
        """True when there is a box, a positive click, or a mask prompt with any click.

        Negative clicks alone say only what the object is not; engines answer them with [].
        With a mask prompt (an annotation being refined) they remove parts of that mask.
        """
        return (
            self.box is not None
            or 1 in self.labels
            or (self.mask_input is not None and bool(self.points))
        )

    def point_coords(self) -> np.ndarray | None:
        """Nx2 float32 (x, y) array in original-image pixels, or None without clicks."""
        return np.array(self.points, dtype=np.float32).reshape(-1, 2) if self.points else None

    def point_labels(self) -> np.ndarray | None:
        """N int32 array of labels, or None without clicks."""
        return np.array(self.labels, dtype=np.int32) if self.points else None

    def box_array(self) -> np.ndarray | None:
        """(4,) float32 XYXY array in original-image pixels, or None."""
        return None if self.box is None else np.array(self.box, dtype=np.float32)

    # -- edits (each returns a new PromptSet) ---------------------------------------
    def with_point(self, x: float, y: float, label: int) -> PromptSet:
        """Add a click: ``label`` 1 positive, 0 negative."""
        return PromptSet(self.points + ((x, y),), self.labels + (label,), self.box, self.mask_input)

    def with_box(self, box: Sequence[float] | None) -> PromptSet:
        """Set (or with ``None`` remove) the box, XYXY in original-image pixels."""
        return PromptSet(self.points, self.labels, box, self.mask_input)

    def with_mask_input(self, mask_input: np.ndarray | None) -> PromptSet:
        """Set (or with ``None`` drop) the 1xSxS low-res mask prompt fed back to the engine."""
        return PromptSet(self.points, self.labels, self.box, mask_input)

    def without_last(self) -> PromptSet:
        """Remove the last click; with no click left, remove the box.

        A PromptSet does not record whether the box came before or after the clicks; a
        caller that needs strict undo order keeps its own history of PromptSets.
        ``mask_input`` is kept (the caller decides when to reset it).
        """
        if self.points:
            return PromptSet(self.points[:-1], self.labels[:-1], self.box, self.mask_input)
        return PromptSet((), (), None, self.mask_input)


@dataclass(frozen=True, eq=False)
class Candidate:
    """One proposed mask for the current prompts.

    - ``score``: SAM's predicted IoU (about 0..1, not clipped); other engines give their
      own estimate in [0, 1] (see the engine's docs). Higher is better; ``decode`` sorts
      by it, best first.
    - ``low_res_logits``: SxS float32 logits (S = 256 for SAM and SAM 2) to feed back as
      the next ``PromptSet.mask_input``, or None when the engine has none.
    - ``index``: which raw output of the engine this is (engine-private; SAM: 0..2 for
      the multimask outputs, 3 for the single-mask output).
    - ``description``: a short human-readable note shown with the candidate, e.g.
      "single" for SAM's single-mask output (may be empty).
    - ``payload``: engine-private data needed by ``render``; opaque to everyone else.
    """

    score: float
    low_res_logits: np.ndarray | None
    index: int
    description: str = ""
    payload: Any = field(default=None, repr=False)
