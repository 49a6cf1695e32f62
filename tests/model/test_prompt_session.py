"""PromptSession: prompts, stale answers, choice, refinement logits, undo of prompts."""

from __future__ import annotations

import numpy as np

from sam_annotator.model.prompt_types import Candidate
from sam_annotator.model.prompts import DecodeRequest, PromptSession


def _candidates(*scores: float, fill: float = 0.0) -> list[Candidate]:
    return [
        Candidate(score=s, low_res_logits=np.full((256, 256), fill + i, np.float32), index=i)
        for i, s in enumerate(scores)
    ]


def test_single_click_asks_for_multimask_only_and_several_prompts_add_single() -> None:
    session = PromptSession()
    first = session.add_point(10, 20, positive=True)
    assert first.prompts.points == ((10.0, 20.0),) and first.prompts.labels == (1,)
    assert first.with_single is False
    second = session.add_point(30, 40, positive=False)
    assert second.with_single is True and second.prompts.labels == (1, 0)
    box_only = PromptSession().set_box((1, 2, 30, 40))
    assert box_only.with_single is True


def test_stale_answers_are_ignored() -> None:
    session = PromptSession()
    old = session.add_point(1, 1, True)
    new = session.add_point(2, 2, True)
    assert not session.receive(old.generation, _candidates(0.9))
    assert session.is_waiting and not session.can_accept
    assert session.receive(new.generation, _candidates(0.8, 0.7))
    assert not session.is_waiting and session.can_accept
    assert session.chosen_index == 0 and session.chosen.score == 0.8


def test_choice_and_cycling() -> None:
    session = PromptSession()
    request = session.add_point(1, 1, True)
    session.receive(request.generation, _candidates(0.9, 0.8, 0.7))
    assert session.choose(2) and session.chosen_index == 2
    assert not session.choose(3)
    assert session.cycle() and session.chosen_index == 0
    assert session.cycle(-1) and session.chosen_index == 2


def test_next_request_carries_the_chosen_logits_when_refinement_is_on() -> None:
    session = PromptSession()
    first = session.add_point(1, 1, True)
    assert first.prompts.mask_input is None  # a new object starts without logits
    session.receive(first.generation, _candidates(0.9, 0.8, fill=5.0))
    session.choose(1)
    second = session.add_point(2, 2, False)
    assert second.prompts.mask_input.shape == (1, 256, 256)
    assert float(second.prompts.mask_input[0, 0, 0]) == 6.0  # candidate 1's logits

    session.use_previous_mask = False
    third = session.add_point(3, 3, False)
    assert third.prompts.mask_input is None


def test_clear_starts_a_new_object_without_logits() -> None:
    session = PromptSession()
    request = session.add_point(1, 1, True)
    session.receive(request.generation, _candidates(0.9))
    session.clear()
    assert not session.is_active and session.candidates == ()
    assert not session.receive(request.generation, _candidates(0.5))
    assert session.add_point(5, 5, True).prompts.mask_input is None


def test_undo_restores_the_previous_answer_without_a_new_decode() -> None:
    session = PromptSession()
    first = session.add_point(1, 1, True)
    session.receive(first.generation, _candidates(0.9, 0.8))
    session.choose(1)
    second = session.add_point(2, 2, True)
    session.receive(second.generation, _candidates(0.5))
    assert session.undo() is None
    assert session.prompts.points == ((1.0, 1.0),)
    assert [c.score for c in session.candidates] == [0.9, 0.8] and session.chosen_index == 1
    assert session.can_accept
    assert session.undo() is None and not session.is_active
    assert session.undo() is None  # nothing left to undo


def test_undo_to_an_unanswered_state_asks_again() -> None:
    session = PromptSession()
    session.add_point(1, 1, True)  # never answered: the user clicked again at once
    second = session.add_point(2, 2, True)
    session.receive(second.generation, _candidates(0.9))
    request = session.undo()
    assert isinstance(request, DecodeRequest)
    assert request.prompts.points == ((1.0, 1.0),)
    assert session.is_waiting


def test_refining_sends_the_annotations_mask_until_a_candidate_is_chosen() -> None:
    session = PromptSession()
    base = np.full((1, 256, 256), 5.0, np.float32)
    session.refine(7, base)
    assert session.refining == 7 and not session.is_active
    first = session.add_point(10, 10, True)
    np.testing.assert_array_equal(first.prompts.mask_input, base)  # the annotation's mask
    logits = np.full((256, 256), -1.0, np.float32)
    session.receive(first.generation, [Candidate(score=0.9, low_res_logits=logits, index=0)])
    second = session.add_point(20, 20, False)
    np.testing.assert_array_equal(second.prompts.mask_input, logits[None])  # the choice wins
    session.clear()
    assert session.refining is None
    assert session.add_point(1, 1, True).prompts.mask_input is None
