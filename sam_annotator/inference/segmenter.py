"""The seam between the GUI and any segmentation engine (SAM, the GrabCut fallback, ...).

An engine turns an image plus the user's prompts into a few candidate masks:

1. ``encode(image)`` does the slow, per-image work once (SAM: run the image encoder and
   export the embedding; GrabCut: make a downscaled working copy) and returns an opaque
   :class:`EncodedImage`. Several encoded images may be alive at once (the current image
   and its prefetched neighbours, or entries of an embedding cache).
2. ``decode(encoded, prompts)`` answers one set of prompts with candidates, best first
   (SAM: the prompt encoder and mask decoder on the 256x256 low-res path).
3. ``render(encoded, candidate, size)`` turns one candidate into a boolean mask at any
   resolution: a small size for previews and the canvas overlay, ``None`` for the full
   original resolution when the user accepts it.

Coordinates: every prompt is in original-image pixels, x to the right and y down, with
the pixel ``(i, j)`` covering ``[j, j + 1) x [i, i + 1)``; boxes are XYXY. Sizes are
``(height, width)``.

Threading contract
------------------
- ``encode`` and ``decode`` are slow and run on a worker thread, never on the GUI thread.
  One engine instance serves one ``encode``/``decode`` call at a time: the caller (one
  worker thread) serialises them. An engine must not keep "the current image" as hidden
  state: every call gets the :class:`EncodedImage` it works on, so prefetching image N+1
  while the user prompts on image N is correct.
- An :class:`EncodedImage` and a :class:`Candidate` are immutable once returned; any
  thread may read them, and they may be cached and reused across calls.
- ``render`` reads only its arguments and touches no engine state, so it may run on any
  thread, also concurrently with ``encode``/``decode``. At display sizes it must be cheap
  (a few milliseconds), so the GUI may call it directly; full-resolution rendering of a
  large photo may take longer and belongs on a worker.
- ``decode`` returns ``[]`` when the prompts cannot define an object (no prompt at all, or
  negative clicks only). Engines raise ``ValueError`` for an image or encoding they cannot
  use (wrong dtype or shape, an encoding made by another engine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: ``Candidate.index`` of SAM's single-mask output (``multimask_output=False``); the three
#: multimask outputs have indices 0, 1 and 2.
SINGLE_MASK_INDEX = 3

#: Side of SAM's low-resolution mask logits (``mask_input`` / ``Candidate.low_res_logits``).
LOW_RES_SIDE = 256

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
    if array.shape == (LOW_RES_SIDE, LOW_RES_SIDE):
        array = array[None]
    if array.shape != (1, LOW_RES_SIDE, LOW_RES_SIDE):
        raise ValueError(
            f"mask_input must be 1x{LOW_RES_SIDE}x{LOW_RES_SIDE} low-res logits, "
            f"got shape {array.shape}"
        )
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
    XYXY or ``None``; ``mask_input`` is the 1x256x256 float32 low-res logits of the
    candidate the user chose last (engines whose ``mask_input_supported`` is false ignore
    it). Inputs are validated and normalised (floats, ints, a read-only float32 copy of
    ``mask_input``: copy it before ``torch.as_tensor``, which warns on read-only arrays);
    bad input raises ``ValueError``. Two prompt sets are equal when all
    four fields are equal (``mask_input`` compared by value).
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
        """True when there is a box or at least one positive click.

        Negative clicks alone say only what the object is not; engines answer them with [].
        """
        return self.box is not None or 1 in self.labels

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
        """Set (or with ``None`` drop) the 1x256x256 low-res logits fed back to the engine."""
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
    - ``low_res_logits``: 256x256 float32 logits to feed back as the next
      ``PromptSet.mask_input``, or None when the engine has none.
    - ``index``: which raw output this is: 0..2 for SAM's multimask outputs,
      ``SINGLE_MASK_INDEX`` (3) for the single-mask output. Other engines document theirs.
    - ``description``: a short human-readable note for tooltips (may be empty).
    - ``payload``: engine-private data needed by ``render``; opaque to everyone else.
    """

    score: float
    low_res_logits: np.ndarray | None
    index: int
    description: str = ""
    payload: Any = field(default=None, repr=False)


@runtime_checkable
class EncodedImage(Protocol):
    """What ``Segmenter.encode`` returns; opaque apart from these attributes.

    - ``original_size``: (height, width) of the image that was encoded.
    - ``model_id``: the ``Segmenter.model_id`` of the engine that made it; engines refuse
      an encoding made by another model.
    - ``nbytes``: approximate memory held, for cache accounting.
    """

    @property
    def original_size(self) -> tuple[int, int]: ...

    @property
    def model_id(self) -> str: ...

    @property
    def nbytes(self) -> int: ...


@runtime_checkable
class Segmenter(Protocol):
    """A segmentation engine; see the module docstring for the threading contract.

    - ``name``: shown in the status bar, e.g. "SAM vit_b" or "GrabCut (classical, no model)".
    - ``model_id``: stable string identifying the model and its weights, for cache keys.
    - ``mask_input_supported``: whether ``decode`` uses ``PromptSet.mask_input``.
    """

    @property
    def name(self) -> str: ...

    @property
    def model_id(self) -> str: ...

    @property
    def mask_input_supported(self) -> bool: ...

    def encode(self, image: np.ndarray) -> EncodedImage:
        """Prepare one HxWx3 uint8 RGB image (slow; worker thread)."""
        ...

    def decode(
        self,
        encoded: EncodedImage,
        prompts: PromptSet,
        *,
        multimask: bool = True,
        with_single: bool = False,
    ) -> list[Candidate]:
        """Candidates for ``prompts``, best first; ``[]`` when prompts define no object.

        ``multimask=True`` asks for the engine's several alternatives (SAM: 3 outputs),
        ``with_single`` adds its single answer where that is an answer of its own (SAM:
        output 3, from the same decoder call; GrabCut's single answer is its best
        alternative, so it adds nothing). ``multimask=False``: the single answer alone.
        """
        ...

    def render(
        self, encoded: EncodedImage, candidate: Candidate, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """HxW bool mask of ``candidate`` at ``size`` (h, w); None = ``original_size``."""
        ...


def check_rgb_image(image: Any) -> np.ndarray:
    """Return ``image`` as a C-contiguous HxWx3 uint8 array, or raise ValueError."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be HxWx3 RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got dtype {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def check_size(size: Any, default: tuple[int, int]) -> tuple[int, int]:
    """Validate a render size (h, w) of positive ints; None gives ``default``."""
    if size is None:
        return (int(default[0]), int(default[1]))
    try:
        h, w = size
        valid = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (h, w))
    except (TypeError, ValueError):
        valid = False
    if not valid or h < 1 or w < 1:
        raise ValueError(f"size must be two positive integers (height, width), got {size!r}")
    return (int(h), int(w))
