"""Segment everything in the GUI: generation off the GUI thread, keyboard review, cancel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from sam_annotator.inference.grabcut import GrabCutSegmenter
from sam_annotator.inference.segmenter import ProposalsCancelledError, proposals_from_records
from sam_annotator.model.commands import AddCategory
from sam_annotator.model.document import Document
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.main_window import MainWindow
from sam_annotator.qt.proposals import ProposalsController

SIZE = (120, 160)


def _record(x0, y0, side, iou):
    mask = np.zeros(SIZE, bool)
    mask[y0 : y0 + side, x0 : x0 + side] = True
    return {"segmentation": mask, "predicted_iou": iou, "stability_score": 0.96}


class FakeProposer:
    """An engine whose "segment everything" answers fixed records in three progress steps;
    with a ``gate``, it waits for the gate (or the cancel event) at every step."""

    name = "SAM fake"
    model_id = "fake-proposer"

    def __init__(self, records, gate: threading.Event | None = None) -> None:
        self.records = records
        self.gate = gate
        self.threads: set[int] = set()
        self.encoded_with: list = []

    def encode(self, image):
        return ("encoded", image.shape[:2])

    def propose_all(self, encoded, image, settings=None, *, progress=None, cancel=None):
        self.threads.add(threading.get_ident())
        self.encoded_with.append(encoded)
        for step in range(1, 4):
            if self.gate is not None:
                while not self.gate.wait(0.01):
                    if cancel.is_set():
                        raise ProposalsCancelledError("cancelled")
            if cancel is not None and cancel.is_set():
                raise ProposalsCancelledError("cancelled")
            progress(step, 3)
        return proposals_from_records(self.records)


@pytest.fixture
def setup(qtbot):
    document = Document()
    image = document.add_image("a.png", SIZE[1], SIZE[0])
    stack = UndoStack(document)
    stack.push(AddCategory("thing"))
    category = document.categories()[0].id
    window = MainWindow()
    qtbot.addWidget(window)
    records = [_record(10, 10, 30, 0.95), _record(60, 10, 30, 0.80), _record(10, 60, 40, 0.92)]
    engine = FakeProposer(records)
    controller = ProposalsController(window, document, stack)
    yield controller, document, stack, image, category, engine
    controller.worker.shutdown()


def _generate(qtbot, controller, image, engine, encoded=None) -> None:
    controller.start(image.id, np.zeros((*SIZE, 3), np.uint8), engine, encoded)
    qtbot.waitUntil(lambda: controller.review is not None, timeout=5000)


def test_generation_runs_off_the_gui_thread_and_outlines_proposals(qtbot, setup) -> None:
    controller, _, _, image, _, engine = setup
    _generate(qtbot, controller, image, engine)
    assert engine.threads and threading.get_ident() not in engine.threads
    assert controller.window.scene.proposal_count() == 3
    assert controller.review.current_proposal.predicted_iou == 0.95


def test_accept_reject_and_step_from_the_keyboard_model(qtbot, setup) -> None:
    controller, document, stack, image, category, engine = setup
    _generate(qtbot, controller, image, engine)
    assert controller.accept(category)
    (annotation,) = document.annotations(image.id)
    assert annotation.area == 900
    assert annotation.extra["predicted_iou"] == 0.95
    assert controller.review.current_proposal.predicted_iou == 0.92
    assert controller.reject()
    assert controller.review.current_proposal.predicted_iou == 0.80
    assert controller.window.scene.proposal_count() == 1
    stack.undo()
    assert document.annotations(image.id) == ()


def test_accept_all_is_one_undo_step(qtbot, setup) -> None:
    controller, document, stack, image, category, engine = setup
    _generate(qtbot, controller, image, engine)
    controller.accept_threshold = 0.9
    assert controller.accept_all(category) == 2
    assert len(document.annotations(image.id)) == 2
    stack.undo()
    assert document.annotations(image.id) == ()


def test_rerun_hides_what_is_already_labeled(qtbot, setup) -> None:
    controller, document, _, image, category, engine = setup
    _generate(qtbot, controller, image, engine)
    controller.accept(category)
    _generate(qtbot, controller, image, engine)
    assert controller.review.hidden_count == 1
    assert controller.window.scene.proposal_count() == 2


def test_cancel_stops_the_generation(qtbot, setup) -> None:
    controller, document, stack, image, _, _ = setup
    gate = threading.Event()
    messages = []
    controller.message.connect(messages.append)
    controller.start(image.id, np.zeros((*SIZE, 3), np.uint8), FakeProposer([], gate))
    assert controller.active
    controller.cancel()
    qtbot.waitUntil(lambda: not controller.active, timeout=5000)
    assert controller.review is None
    assert messages[-1] == "Segment everything cancelled."


def test_the_image_encoding_is_reused_when_ready(qtbot, setup) -> None:
    controller, _, _, image, _, engine = setup
    ready = ("ready encoding",)
    _generate(qtbot, controller, image, engine, encoded=ready)
    _generate(qtbot, controller, image, engine)  # not ready: the job encodes the image
    assert engine.encoded_with == [ready, ("encoded", SIZE)]


def test_engines_that_cannot_propose_say_so(qtbot, setup) -> None:
    controller, _, _, image, _, _ = setup
    messages = []
    controller.message.connect(messages.append)
    controller.start(image.id, np.zeros((*SIZE, 3), np.uint8), GrabCutSegmenter())
    qtbot.waitUntil(lambda: not controller.active, timeout=5000)
    assert messages[-1] == "Segment everything needs a SAM model; the engine is " + (
        GrabCutSegmenter.name
    )


def test_keys_route_to_the_review_when_nothing_is_prompted(qtbot, tmp_path, real_data, monkeypatch):
    from sam_annotator.config import AppDirs
    from sam_annotator.qt.application import LabelingApp

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "dog.jpg").write_bytes((real_data / "images" / "dog.jpg").read_bytes())
    app = LabelingApp(AppDirs.under(tmp_path / "home"), autosave_delay_s=0.05)
    qtbot.addWidget(app.window, before_close_func=lambda _w: app.undo_stack.set_clean())
    app.window.show()
    qtbot.waitExposed(app.window)  # window shortcuts need an active window
    try:
        app.start(folder, ask_for_model=False)
        qtbot.waitUntil(lambda: app.engine.segmenter is not None, timeout=10000)
        records = [_record(10, 10, 30, 0.95), _record(60, 10, 30, 0.80)]
        for record in records:  # the fake masks at the photo's size
            mask = np.zeros((534, 800), bool)
            mask[: SIZE[0], : SIZE[1]] = record["segmentation"]
            record["segmentation"] = mask
        proposer = FakeProposer(records)
        monkeypatch.setattr(app.engine.segmenter, "propose_all", proposer.propose_all)
        view = app.window.view
        app.window.activateWindow()
        view.setFocus()
        qtbot.waitUntil(view.hasFocus, timeout=5000)
        qtbot.keyClick(view, Qt.Key.Key_G)
        qtbot.waitUntil(lambda: app.proposals.review is not None, timeout=10000)
        image_id = app.navigator.current
        qtbot.keyClick(view, Qt.Key.Key_X)  # reject the 0.95 one
        qtbot.keyClick(view, Qt.Key.Key_Return)  # accept the 0.80 one
        (annotation,) = app.document.annotations(image_id)
        assert annotation.extra["predicted_iou"] == 0.8
        assert app.proposals.review is None  # all reviewed
    finally:
        app.undo_stack.set_clean()
        app.shutdown()
