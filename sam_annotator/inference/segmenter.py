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
- ``track`` (one object through a sequence of frames, from the masks a person drew) is
  slow and runs on its own worker thread; it reads only its request and the model's
  weights, so it may run while the labeling worker encodes and decodes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sam_annotator.model.prompt_types import Candidate, PromptSet
from sam_annotator.model.proposals import Proposal
from sam_annotator.model.tracks import Span

#: ``progress(done, total)``, called on the worker thread while proposals are generated.
Progress = Callable[[int, int], None]


class SegmenterError(Exception):
    """Base of the errors an engine raises for a request it cannot serve."""


class UnsupportedOperationError(SegmenterError):
    """The engine cannot do this at all (e.g. GrabCut has no "segment everything")."""


class ProposalsCancelledError(SegmenterError):
    """``propose_all`` stopped because its ``cancel`` event was set."""


class TrackingCancelledError(SegmenterError):
    """``track`` stopped because its ``cancel`` event was set."""


class TrackingError(SegmenterError):
    """``track`` cannot read the sequence (a frame missing, unreadable or of another
    size); the message names the file and the reason."""


#: ``on_frame(frame_index, mask)``: one frame's answer of ``track``, on the worker thread;
#: mask is HxW bool in that frame's pixels, or None where the object is absent.
FrameAnswer = Callable[[int, "np.ndarray | None"], None]


@dataclass(frozen=True)
class TrackRequest:
    """One object to propagate through a sequence.

    frames: the sequence's frame files, in order (frame index = position).
    keyframes: frame index -> HxW bool mask in that frame's pixels: the object as a person
    drew it; the tracker takes them all as conditioning frames and never answers them.
    spans: the frames to compute (``model.tracks.propagation_spans``), each starting at a
    keyframe."""

    frames: tuple[Path, ...]
    keyframes: Mapping[int, np.ndarray]
    spans: tuple[Span, ...]

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a track request needs frames")
        for index, mask in self.keyframes.items():
            if not 0 <= index < len(self.frames):
                raise ValueError(f"keyframe {index} is not in a {len(self.frames)}-frame sequence")
            if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != bool:
                raise ValueError(f"keyframe {index}: a mask is an HxW bool array")
        for span in self.spans:
            if span.start not in self.keyframes:
                raise ValueError(f"a span starts at frame {span.start}, which is not a keyframe")
            if not 0 <= span.stop < len(self.frames):
                raise ValueError(f"a span ends at frame {span.stop}, outside the sequence")


@dataclass(frozen=True)
class ProposalSettings:
    """Settings of "segment everything" (SAM's automatic mask generator's names).

    ``min_mask_region_area`` removes regions and holes below that many pixels.
    """

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    min_mask_region_area: int = 0


def proposals_from_records(records: list[dict[str, Any]]) -> list[Proposal]:
    """Mask-generator records (official SAM / SAM 2 layout: HxW bool ``segmentation``,
    ``predicted_iou``, ``stability_score``) -> proposals; masks with nothing left after
    the polygon conversion are dropped. Used by every engine's ``propose_all``."""
    proposals = []
    for record in records:
        proposal = Proposal.from_mask(
            record["segmentation"], record["predicted_iou"], record["stability_score"]
        )
        if proposal is not None:
            proposals.append(proposal)
    return proposals


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
    - ``tracking_supported``: whether ``track`` can propagate through frames (a model
      with video memory: SAM 2 / 2.1 loaded with its video parts).
    - ``score_name``: what ``Candidate.score`` and ``Proposal.predicted_iou`` measure, for
      labels ("IoU" for SAM's predicted IoU).
    """

    @property
    def score_name(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def model_id(self) -> str: ...

    @property
    def mask_input_supported(self) -> bool: ...

    @property
    def tracking_supported(self) -> bool: ...

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

    def mask_input_from_mask(self, encoded: EncodedImage, mask: np.ndarray) -> np.ndarray:
        """An existing HxW bool mask (original-image pixels, ``encoded.original_size``) as
        this engine's mask prompt: a read-only 1xSxS float32 array for
        ``PromptSet.mask_input``, so an accepted or imported annotation can be refined by
        further clicks. Raises ``UnsupportedOperationError`` if the engine has no mask
        prompt, ``ValueError`` for a mask of the wrong shape."""
        ...

    def propose_all(
        self,
        encoded: EncodedImage,
        image: np.ndarray,
        settings: ProposalSettings | None = None,
        *,
        progress: Progress | None = None,
        cancel: Any = None,
    ) -> list[Proposal]:
        """ "Segment everything": proposals for every object of ``image`` (HxWx3 uint8 RGB,
        the image ``encoded`` was made from), in the generator's order. Slow: worker
        thread. ``cancel`` (a ``threading.Event``) stops it with
        ``ProposalsCancelledError``; ``UnsupportedOperationError`` if the engine cannot
        propose."""
        ...

    def track(self, request: TrackRequest, on_frame: FrameAnswer, *, cancel: Any = None) -> None:
        """Propagate one object through ``request.spans``, calling ``on_frame`` for every
        computed frame that is not a keyframe, in the order computed. Slow: its own worker
        thread. ``cancel`` (a ``threading.Event``) stops it between frames with
        ``TrackingCancelledError``; ``TrackingError`` for frames it cannot read;
        ``UnsupportedOperationError`` if the engine cannot track (no video memory)."""
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
