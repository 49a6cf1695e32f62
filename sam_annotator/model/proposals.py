"""Reviewing "segment everything" proposals on one image (pure logic, no Qt).

The automatic mask generator proposes many masks; the user goes through them from the
keyboard: accept or reject the current one, move to the next, or accept all whose
predicted IoU reaches a threshold. Proposals that overlap an existing annotation of the
image above `overlap_threshold` (IoU) are hidden, so a re-run after manual labeling
only offers what is new. Accepted proposals become ordinary annotations (the caller
pushes one undoable command per accept or one for an accept-all).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as coco_mask

from sam_annotator.model.geometry import mask_to_polygons, segmentation_to_rle
from sam_annotator.model.records import Annotation, BBox

DEFAULT_OVERLAP = 0.5


class Decision(enum.Enum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, eq=False)
class Proposal:
    """One proposed object: COCO polygons (all parts, keyhole holes) and its scores."""

    polygons: list[list[float]]
    predicted_iou: float
    stability_score: float
    rle: dict = field(repr=False)  # pycocotools RLE of the polygons, for overlap tests
    area: int
    bbox: BBox

    @classmethod
    def from_mask(
        cls, mask: np.ndarray, predicted_iou: float, stability_score: float
    ) -> Proposal | None:
        """A proposal from an HxW mask; None if nothing of it survives the conversion."""
        polygons = mask_to_polygons(mask).polygons
        if not polygons:
            return None
        height, width = mask.shape
        rle = segmentation_to_rle(polygons, height, width)
        area = int(coco_mask.area(rle))
        bbox = tuple(float(v) for v in coco_mask.toBbox(rle))
        return cls(polygons, float(predicted_iou), float(stability_score), rle, area, bbox)

    @property
    def extra(self) -> dict[str, float]:
        """The fields an accepted proposal keeps in its annotation (and in COCO)."""
        return {
            "predicted_iou": round(self.predicted_iou, 4),
            "stability_score": round(self.stability_score, 4),
        }


class ProposalReview:
    """The proposals of one image, best first, with the user's decisions."""

    def __init__(
        self,
        image_id: int,
        proposals: Iterable[Proposal],
        *,
        image_size: tuple[int, int],
        existing: Sequence[Annotation] = (),
        overlap_threshold: float = DEFAULT_OVERLAP,
    ) -> None:
        self.image_id = image_id
        self.proposals = sorted(proposals, key=lambda p: p.predicted_iou, reverse=True)
        self.decisions = [Decision.OPEN] * len(self.proposals)
        self.overlap_threshold = overlap_threshold
        self._hidden = self._overlapping(existing, image_size)
        self.current: int | None = None
        self._move_to(0, +1)

    # -- queries -------------------------------------------------------------------------
    def open_indexes(self) -> list[int]:
        """Proposals still to decide and not hidden by overlap, best first."""
        return [
            i
            for i, decision in enumerate(self.decisions)
            if decision is Decision.OPEN and i not in self._hidden
        ]

    @property
    def hidden_count(self) -> int:
        return sum(1 for i in self._hidden if self.decisions[i] is Decision.OPEN)

    @property
    def current_proposal(self) -> Proposal | None:
        return None if self.current is None else self.proposals[self.current]

    @property
    def is_finished(self) -> bool:
        return self.current is None

    # -- decisions -----------------------------------------------------------------------
    def accept_current(self) -> Proposal | None:
        return self._decide(Decision.ACCEPTED)

    def reject_current(self) -> Proposal | None:
        return self._decide(Decision.REJECTED)

    def accept_all(self, min_predicted_iou: float) -> list[Proposal]:
        """Accept every open, visible proposal whose predicted IoU is >= the threshold."""
        accepted = []
        for index in self.open_indexes():
            if self.proposals[index].predicted_iou >= min_predicted_iou:
                self.decisions[index] = Decision.ACCEPTED
                accepted.append(self.proposals[index])
        if self.current is not None and self.decisions[self.current] is not Decision.OPEN:
            self._move_to(self.current, +1)
        return accepted

    def step(self, direction: int) -> bool:
        """Make the next (+1) / previous (-1) open proposal current (wrapping)."""
        indexes = self.open_indexes()
        if not indexes:
            self.current = None
            return False
        if self.current not in indexes:
            self._move_to(self.current or 0, direction)
            return self.current is not None
        position = indexes.index(self.current)
        self.current = indexes[(position + direction) % len(indexes)]
        return True

    def undo_decision(self, proposal: Proposal) -> None:
        """Re-open a proposal (after the user undid its annotation)."""
        for index, candidate in enumerate(self.proposals):
            if candidate is proposal:
                self.decisions[index] = Decision.OPEN
                self.current = index

    # -- internals -----------------------------------------------------------------------
    def _decide(self, decision: Decision) -> Proposal | None:
        if self.current is None:
            return None
        index = self.current
        self.decisions[index] = decision
        self._move_to(index, +1)
        return self.proposals[index]

    def _move_to(self, start: int, direction: int) -> None:
        indexes = self.open_indexes()
        if not indexes:
            self.current = None
            return
        after = [i for i in indexes if (i >= start if direction > 0 else i <= start)]
        if after:
            self.current = after[0] if direction > 0 else after[-1]
        else:
            self.current = indexes[0] if direction > 0 else indexes[-1]

    def _overlapping(self, existing: Sequence[Annotation], image_size) -> set[int]:
        if not existing or not self.proposals:
            return set()
        height, width = image_size
        theirs = [segmentation_to_rle(a.segmentation, height, width) for a in existing]
        ours = [p.rle for p in self.proposals]
        iou = np.asarray(coco_mask.iou(ours, theirs, [0] * len(theirs)))
        iou = iou.reshape(len(ours), len(theirs))
        return {i for i in range(len(ours)) if iou[i].max() >= self.overlap_threshold}
