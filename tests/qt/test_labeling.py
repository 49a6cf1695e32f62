"""LabelingController: the click -> candidates -> accept loop, with a fake engine."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sam_annotator.model.commands import AddCategory
from sam_annotator.model.document import Document
from sam_annotator.model.geometry import segmentation_to_mask
from sam_annotator.model.records import ImageStatus
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.labeling import LabelingController
from sam_annotator.qt.main_window import MainWindow
from tests.qt.fakes import FakeSegmenter


@pytest.fixture
def setup(qtbot):
    document = Document("/tmp/images")
    image = document.add_image("a.png", 200, 150)
    undo_stack = UndoStack(document)
    undo_stack.push(AddCategory("cat"))
    undo_stack.push(AddCategory("dog"))
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    segmenter = FakeSegmenter()
    rgb = np.zeros((150, 200, 3), np.uint8)
    encodings: dict[int, object] = {}
    controller = LabelingController(
        window.view, window.scene, window.candidates, document, undo_stack, encodings.get
    )
    controller.set_segmenter(segmenter)
    controller.set_image(image.id, rgb)
    yield controller, document, undo_stack, segmenter, encodings, image, rgb
    controller.worker.shutdown()


def _encode(setup) -> None:
    controller, _, _, segmenter, encodings, image, rgb = setup
    encodings[image.id] = segmenter.encode(rgb)
    controller.encoding_ready(image.id)


def _wait_answer(qtbot, controller) -> None:
    qtbot.waitUntil(lambda: controller.session.can_accept, timeout=5000)


def test_click_is_decoded_off_the_gui_thread_and_candidates_shown_best_first(qtbot, setup):
    controller, _, _, segmenter, _, _, _ = setup
    _encode(setup)
    controller.add_point(100, 75, True)
    _wait_answer(qtbot, controller)
    assert threading.get_ident() not in segmenter.decode_threads
    strip = controller.candidates
    assert strip.button_texts() == ["1: IoU 0.90", "2: IoU 0.60", "3: IoU 0.30"]
    assert strip.chosen_index == 0
    assert controller.scene.has_candidate_overlay()


def test_prompts_made_before_the_encoding_are_answered_when_it_arrives(qtbot, setup):
    controller, _, _, segmenter, _, _, _ = setup
    controller.add_point(100, 75, True)
    controller.add_point(120, 75, False)
    qtbot.wait(50)
    assert segmenter.decoded == [] and controller.session.is_waiting
    _encode(setup)
    _wait_answer(qtbot, controller)
    assert segmenter.decoded[-1].labels == (1, 0)  # both clicks, in one request
    # Several prompts: three multimask candidates plus the single-mask output.
    assert len(controller.session.candidates) == 4


def test_accept_adds_one_annotation_undoably_and_marks_the_image_started(qtbot, setup):
    controller, document, undo_stack, _, _, image, _ = setup
    _encode(setup)
    controller.set_category(document.category_by_name("dog").id)
    controller.add_point(100, 75, True)
    _wait_answer(qtbot, controller)
    controller.choose(2)  # radius 30 (score 0.3)
    controller.accept()
    qtbot.waitUntil(lambda: len(document.annotations(image.id)) == 1, timeout=5000)
    (annotation,) = document.annotations(image.id)
    assert document.category(annotation.category_id).name == "dog"
    assert annotation.area == pytest.approx(np.pi * 30**2, rel=0.05)
    assert document.image(image.id).status is ImageStatus.IN_PROGRESS
    assert not controller.session.is_active
    assert len(controller.scene._annotation_items) == 1
    controller.undo()
    assert document.annotations(image.id) == ()
    assert document.image(image.id).status is ImageStatus.NOT_STARTED
    controller.redo()
    assert len(document.annotations(image.id)) == 1
    assert document.image(image.id).status is ImageStatus.IN_PROGRESS


def test_ctrl_z_removes_the_last_prompt_before_it_touches_the_document(qtbot, setup):
    controller, document, undo_stack, _, _, _, _ = setup
    _encode(setup)
    depth = undo_stack.index
    controller.add_point(50, 50, True)
    _wait_answer(qtbot, controller)
    controller.add_point(60, 60, False)
    controller.undo()
    assert controller.session.prompts.points == ((50.0, 50.0),)
    controller.undo()
    assert not controller.session.is_active
    assert undo_stack.index == depth  # the categories are still there
    controller.undo()
    assert undo_stack.index == depth - 1


def test_enter_while_the_answer_is_pending_accepts_it_on_arrival(qtbot, setup):
    controller, document, _, _, _, image, _ = setup
    controller.add_point(100, 75, True)
    controller.accept()
    assert document.annotations(image.id) == ()
    _encode(setup)
    qtbot.waitUntil(lambda: len(document.annotations(image.id)) == 1, timeout=5000)


def test_escape_clears_prompts_then_selection(qtbot, setup):
    controller, document, _, _, _, image, _ = setup
    _encode(setup)
    controller.add_point(100, 75, True)
    _wait_answer(qtbot, controller)
    controller.accept()
    qtbot.waitUntil(lambda: len(document.annotations(image.id)) == 1, timeout=5000)
    annotation_id = document.annotations(image.id)[0].id
    controller.select(annotation_id)
    controller.add_point(10, 10, True)
    controller.clear_prompts()
    assert not controller.session.is_active and controller.selected == annotation_id
    controller.clear_prompts()
    assert controller.selected is None


def test_selected_annotation_category_change_edit_and_delete(qtbot, setup):
    controller, document, undo_stack, _, _, image, _ = setup
    _encode(setup)
    controller.add_point(100, 75, True)
    _wait_answer(qtbot, controller)
    controller.accept()
    qtbot.waitUntil(lambda: len(document.annotations(image.id)) == 1, timeout=5000)
    annotation_id = document.annotations(image.id)[0].id
    controller.select(annotation_id)
    dog = document.category_by_name("dog").id
    controller.set_category(dog)
    assert document.annotation(annotation_id).category_id == dog
    square = [[10.0, 10.0, 50.0, 10.0, 50.0, 50.0, 10.0, 50.0]]
    controller.edit_polygons(annotation_id, square)
    assert document.annotation(annotation_id).area == 1600
    controller.undo()
    assert document.annotation(annotation_id).area != 1600
    controller.delete_selected()
    assert not document.has_annotation(annotation_id)
    assert controller.selected is None
    controller.undo()
    assert document.has_annotation(annotation_id)


def test_answers_for_another_image_are_ignored(qtbot, setup):
    controller, document, _, _, encodings, image, rgb = setup
    _encode(setup)
    controller.add_point(100, 75, True)
    other = document.add_image("b.png", 200, 150)
    controller.set_image(other.id, rgb)
    qtbot.wait(100)
    assert controller.session.candidates == ()
    assert not controller.scene.has_candidate_overlay()


def test_refining_an_annotation_prompts_with_its_mask_and_replaces_it_in_one_step(qtbot, setup):
    controller, document, undo_stack, segmenter, _, image, _ = setup
    _encode(setup)
    controller.add_point(100, 75, True)
    _wait_answer(qtbot, controller)
    controller.choose(2)  # radius 30
    controller.accept()
    qtbot.waitUntil(lambda: len(document.annotations(image.id)) == 1, timeout=5000)
    (original,) = document.annotations(image.id)
    controller.refine_selected()  # nothing selected: nothing starts
    assert controller.session.refining is None
    controller.select(original.id)
    controller.refine_selected()
    assert controller.session.refining == original.id
    assert segmenter.mask_inputs == [original.area]
    controller.add_point(60, 60, True)
    _wait_answer(qtbot, controller)
    sent = segmenter.decoded[-1].mask_input  # the annotation's mask went with the click
    assert sent is not None and sent[0, 0, 0] == original.area
    controller.choose(0)  # radius 20 around the new click
    controller.accept()
    qtbot.waitUntil(lambda: document.annotation(original.id).area != original.area, timeout=5000)
    (refined,) = document.annotations(image.id)  # replaced, not added
    assert refined.id == original.id and refined.category_id == original.category_id
    assert refined.area == pytest.approx(np.pi * 20**2, rel=0.05)
    assert controller.session.refining is None
    undo_stack.undo()  # one step brings the old geometry back
    assert document.annotation(original.id).area == original.area


def test_do_not_overlap_keeps_a_new_mask_out_of_accepted_annotations(qtbot, setup):
    controller, document, _, _, _, image, _ = setup
    _encode(setup)

    def accept_disc(x, y, choice):
        controller.add_point(x, y, True)
        _wait_answer(qtbot, controller)
        controller.choose(choice)
        count = len(document.annotations(image.id))
        controller.accept()
        qtbot.waitUntil(lambda: len(document.annotations(image.id)) == count + 1, timeout=5000)
        return document.annotations(image.id)[-1]

    first = accept_disc(60, 75, 0)  # radius 20
    overlapping = accept_disc(80, 75, 0)  # radius 20, 20 px to the right: they overlap
    assert overlapping.area == first.area  # off by default: both whole discs
    controller.set_no_overlap(True)
    trimmed = accept_disc(100, 75, 0)  # overlaps the second disc only
    masks = [segmentation_to_mask(a.segmentation, 150, 200) for a in (overlapping, trimmed)]
    shared = int((masks[0] & masks[1]).sum())
    lens = 2 * 20**2 * np.arccos(0.5) - 10 * np.sqrt(4 * 20**2 - 20**2)  # ~491 px overlap
    assert shared == 0  # the new mask lost the shared pixels (its outline traced exactly)
    assert trimmed.area == pytest.approx(overlapping.area - lens, rel=0.05)


class _SlowAccepts(FakeSegmenter):
    """Full-resolution renders (the accept path) wait for `gate`."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.accept_gate = gate  # not `gate`: that one holds back encodes

    def render(self, encoded, candidate, size=None):
        if size is None:
            self.accept_gate.wait(10)
        return super().render(encoded, candidate, size)


def _slow_accepts(setup) -> tuple[threading.Event, list[str]]:
    """The controller on an encoded image with a `_SlowAccepts` engine: (its gate, closed;
    the controller's messages, as they come)."""
    controller, _, _, _, encodings, image, rgb = setup
    gate = threading.Event()
    segmenter = _SlowAccepts(gate)
    controller.set_segmenter(segmenter)
    encodings[image.id] = segmenter.encode(rgb)
    messages: list[str] = []
    controller.message.connect(messages.append)
    return gate, messages


def test_keys_pressed_while_work_is_queued_are_kept_and_said(qtbot, setup):
    controller, document, _, _, _, image, _ = setup
    gate, messages = _slow_accepts(setup)
    controller.add_point(50, 50, True)
    _wait_answer(qtbot, controller)
    controller.accept()  # its conversion now waits on the gate
    assert controller.writer.converting == 1
    controller.accept()  # nothing left to accept: said, not silently dropped
    assert "Still converting 1" in messages[-1]
    controller.add_point(150, 100, True)  # queued behind the conversion
    assert "once the accepted mask is converted" in messages[-1]
    controller.choose(2)  # pressed before the new candidates exist
    assert "Candidate 3 is chosen as soon as the answer arrives" in messages[-1]
    assert document.annotations(image.id) == ()
    gate.set()
    qtbot.waitUntil(lambda: controller.session.can_accept and not controller.writer.converting)
    assert len(document.annotations(image.id)) == 1
    assert controller.session.chosen_index == 2  # the key was applied to the new answer
    assert controller.session.chosen.payload[:2] == (150, 100)


def test_ctrl_z_while_an_accept_converts_undoes_it_not_the_step_before(qtbot, setup):
    """Enter then Ctrl+Z at once: the mask is still being converted, so the newest
    finished step is an earlier annotation (here of the same image; in the app often of
    another image). That one must stay; the new accept is undone when it lands, and
    Ctrl+Shift+Z brings it back."""
    controller, document, undo_stack, _, _, image, _ = setup
    gate, messages = _slow_accepts(setup)
    gate.set()
    controller.add_point(50, 50, True)
    _wait_answer(qtbot, controller)
    controller.accept()
    qtbot.waitUntil(lambda: len(document.annotations(image.id)) == 1, timeout=5000)
    (earlier,) = document.annotations(image.id)
    gate.clear()
    controller.add_point(150, 100, True)
    _wait_answer(qtbot, controller)
    controller.accept()  # its conversion waits on the gate
    controller.undo()
    assert document.annotations(image.id) == (earlier,)
    assert "undone as soon as it is converted" in messages[-1]
    gate.set()
    qtbot.waitUntil(lambda: not controller.writer.converting, timeout=5000)
    assert document.annotations(image.id) == (earlier,)
    assert messages[-1] == "Undid add annotation"
    controller.redo()
    assert len(document.annotations(image.id)) == 2
    # Undo then redo while converting: the accept is kept.
    gate.clear()
    controller.add_point(100, 30, True)
    _wait_answer(qtbot, controller)
    controller.accept()
    controller.undo()
    controller.redo()
    assert messages[-1] == "Redo: the accepted mask is kept"
    gate.set()
    qtbot.waitUntil(lambda: not controller.writer.converting, timeout=5000)
    assert len(document.annotations(image.id)) == 3
    assert undo_stack.can_undo and not undo_stack.can_redo


def test_tab_while_waiting_applies_to_the_new_candidates(qtbot, setup):
    controller, *_ = setup
    _encode(setup)
    controller.add_point(50, 50, True)
    _wait_answer(qtbot, controller)
    gate = threading.Event()
    controller.worker.submit("block", lambda: gate.wait(10))  # the decode waits behind it
    controller.add_point(60, 60, True)
    controller.cycle(1)
    assert controller.session.chosen_index == 0  # not applied to the old candidates
    gate.set()
    _wait_answer(qtbot, controller)
    assert controller.session.chosen_index == 1
