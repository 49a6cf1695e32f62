"""Reviewing automatic proposals: order, accept/reject, accept-all, overlap hiding."""

from __future__ import annotations

import numpy as np

from sam_annotator.model.document import Document
from sam_annotator.model.proposals import Proposal, ProposalReview

SIZE = (100, 120)


def _square(x0: int, y0: int, side: int) -> np.ndarray:
    mask = np.zeros(SIZE, bool)
    mask[y0 : y0 + side, x0 : x0 + side] = True
    return mask


def _proposals() -> list[Proposal]:
    specs = [((10, 10, 20), 0.80), ((50, 10, 20), 0.95), ((10, 60, 30), 0.70), ((70, 60, 25), 0.90)]
    return [Proposal.from_mask(_square(*box), iou, 0.97) for box, iou in specs]


def test_from_mask_keeps_the_mask_and_its_scores() -> None:
    proposal = Proposal.from_mask(_square(10, 20, 30), 0.91, 0.98)
    assert proposal.area == 900
    assert proposal.bbox == (10.0, 20.0, 30.0, 30.0)
    assert proposal.extra == {"predicted_iou": 0.91, "stability_score": 0.98}
    assert Proposal.from_mask(np.zeros(SIZE, bool), 0.9, 0.9) is None


def test_best_first_accept_and_reject_move_on() -> None:
    review = ProposalReview(1, _proposals(), image_size=SIZE)
    assert [p.predicted_iou for p in review.proposals] == [0.95, 0.90, 0.80, 0.70]
    assert review.current_proposal.predicted_iou == 0.95
    assert review.accept_current().predicted_iou == 0.95
    assert review.current_proposal.predicted_iou == 0.90
    assert review.reject_current().predicted_iou == 0.90
    assert review.step(-1) and review.current_proposal.predicted_iou == 0.70  # wraps
    assert review.step(1) and review.current_proposal.predicted_iou == 0.80
    review.accept_current()
    review.accept_current()
    assert review.is_finished and review.accept_current() is None


def test_accept_all_above_a_threshold() -> None:
    review = ProposalReview(1, _proposals(), image_size=SIZE)
    accepted = review.accept_all(0.85)
    assert sorted(p.predicted_iou for p in accepted) == [0.90, 0.95]
    assert [review.proposals[i].predicted_iou for i in review.open_indexes()] == [0.80, 0.70]
    assert review.current_proposal.predicted_iou == 0.80


def test_proposals_overlapping_existing_annotations_are_hidden() -> None:
    document = Document()
    image = document.add_image("a.png", SIZE[1], SIZE[0])
    category = document.make_category("x")
    document.insert_category(category)
    existing = document.make_annotation(
        image.id, category.id, [[50.0, 10.0, 70.0, 10.0, 70.0, 30.0, 50.0, 30.0]]
    )
    shifted = document.make_annotation(  # overlaps the 30x30 square only a little
        image.id, category.id, [[35.0, 80.0, 45.0, 80.0, 45.0, 95.0, 35.0, 95.0]]
    )
    review = ProposalReview(image.id, _proposals(), image_size=SIZE, existing=[existing, shifted])
    visible = [review.proposals[i].predicted_iou for i in review.open_indexes()]
    assert visible == [0.90, 0.80, 0.70]  # the 0.95 square is already labeled
    assert review.hidden_count == 1
    assert review.current_proposal.predicted_iou == 0.90


def test_undo_reopens_a_decided_proposal() -> None:
    review = ProposalReview(1, _proposals(), image_size=SIZE)
    first = review.accept_current()
    review.undo_decision(first)
    assert review.current_proposal is first
    assert len(review.open_indexes()) == 4


def test_no_proposals_is_finished_at_once() -> None:
    review = ProposalReview(1, [], image_size=SIZE)
    assert review.is_finished and review.open_indexes() == [] and not review.step(1)
