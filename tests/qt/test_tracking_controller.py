"""The propagation controller with a scripted tracker (fast, deterministic): what it asks
the engine (keyframes, spans), how answers land in the document (new, replaced, removed
where the object is absent, one undo step), cancel, and every reason it refuses to start."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sam_annotator.inference.segmenter import TrackingCancelledError, TrackingError
from sam_annotator.model.commands import AddAnnotation, AddAnnotations
from sam_annotator.model.document import Document
from sam_annotator.model.geometry import segmentation_to_mask
from sam_annotator.model.tracks import Direction, Span, is_propagated, track_id_of
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.main_window import MainWindow
from sam_annotator.qt.tracking import TrackingController

H, W = 48, 64


class ScriptedTracker:
    """Answers frame i with a 10x10 square at x = 4 i (none on ``absent`` frames); after
    ``pause_after`` answers it waits for ``proceed`` (then honours a cancel)."""

    tracking_supported = True
    name = "Scripted tracker"

    def __init__(self, absent=(), pause_after=None):
        self.requests = []
        self.absent = set(absent)
        self.pause_after = pause_after
        self.proceed = threading.Event()

    def track(self, request, on_frame, *, cancel=None):
        self.requests.append(request)
        answered = 0
        for span in request.spans:
            for index in span.frames:
                if index in request.keyframes:
                    continue
                mask = np.zeros((H, W), bool)
                if index not in self.absent:
                    mask[10:20, 4 * index : 4 * index + 10] = True
                on_frame(index, mask if mask.any() else None)
                answered += 1
                if answered == self.pause_after:
                    self.proceed.wait(10)
                if cancel is not None and cancel.is_set():
                    raise TrackingCancelledError("cancelled")


@pytest.fixture
def setup(qtbot, tmp_path):
    document = Document(tmp_path)
    for index in range(6):
        document.add_image(f"clip/f{index}.jpg", W, H)
    document.add_image("alone.jpg", W, H)
    document.insert_category(document.make_category("car"))
    window = MainWindow()
    qtbot.addWidget(window)
    stack = UndoStack(document)
    tracker = ScriptedTracker()
    engines = {"current": tracker}
    controller = TrackingController(
        window, document, stack, lambda i: tmp_path / document.image(i).path,
        lambda: engines["current"],
    )  # fmt: skip
    messages = []
    controller.message.connect(messages.append)
    yield document, stack, controller, engines, messages
    controller.shutdown()


def frame_ids(document):
    return [i.id for i in document.images()[:6]]


def add_square(document, stack, image_id, x=0):
    annotation = document.make_annotation(
        image_id, document.categories()[0].id, [[x, 10, x + 10, 10, x + 10, 20, x, 20]]
    )
    stack.push(AddAnnotation(annotation))
    return annotation.id


def run(qtbot, controller, *args):
    assert controller.propagate(*args)
    qtbot.waitUntil(lambda: not controller.running)


def test_a_run_sends_the_keyframes_and_lands_frame_by_frame_as_one_undo_step(qtbot, setup):
    document, stack, controller, engines, messages = setup
    frames = frame_ids(document)
    add_square(document, stack, frames[2], x=40)
    first = add_square(document, stack, frames[2], x=8)
    steps = len(stack)
    run(qtbot, controller, frames[2], None, Direction.BOTH)  # nothing selected: the newest
    (request,) = engines["current"].requests
    assert [p.name for p in request.frames] == [f"f{i}.jpg" for i in range(6)]
    assert list(request.keyframes) == [2] and request.spans == (Span(2, 5, False), Span(2, 0, True))
    drawn = segmentation_to_mask(document.annotation(first).segmentation, H, W)
    assert np.array_equal(request.keyframes[2], drawn)
    assert messages[-1] == "Propagated track 1 over 5 frames"
    assert len(stack) == steps + 2  # StartTrack, then the run
    assert track_id_of(document.annotations(frames[2])[0]) is None  # the older one
    for index, image_id in enumerate(frames):
        annotation = document.annotations(image_id)[-1]
        assert track_id_of(annotation) == 1 and is_propagated(annotation) == (index != 2)
        if index != 2:
            assert annotation.bbox == (4 * index, 10, 10, 10)

    # The object is absent on frame 4 in a second run: its shape goes; undo brings it back.
    engines["current"] = ScriptedTracker(absent={4})
    run(qtbot, controller, frames[2], first, Direction.FORWARD)
    assert document.annotations(frames[4]) == () and len(document.annotations(frames[5])) == 1
    stack.undo()
    assert len(document.annotations(frames[4])) == 1

    # A propagated shape selected and propagated becomes a keyframe; spans stop before
    # the keyframes on either side.
    (on_four,) = document.annotations(frames[4])
    run(qtbot, controller, frames[4], on_four.id, Direction.BOTH)
    request = engines["current"].requests[-1]
    assert sorted(request.keyframes) == [2, 4]
    assert request.spans == (Span(4, 5, False), Span(4, 3, True))
    assert not is_propagated(document.annotation(on_four.id))


def paused_after_one_frame(qtbot, setup) -> ScriptedTracker:
    """A forward run from frame 1 whose tracker waits after answering frame 2."""
    document, stack, controller, engines, _ = setup
    engines["current"] = tracker = ScriptedTracker(pause_after=1)
    frames = frame_ids(document)
    assert controller.propagate(
        frames[0], add_square(document, stack, frames[0]), Direction.FORWARD
    )
    qtbot.waitUntil(lambda: len(document.annotations(frames[1])) == 1)
    return tracker


def test_cancel_keeps_what_arrived(qtbot, setup):
    document, _, controller, _, messages = setup
    frames = frame_ids(document)
    tracker = paused_after_one_frame(qtbot, setup)
    controller.cancel()
    tracker.proceed.set()
    qtbot.waitUntil(lambda: not controller.running)
    assert messages[-1] == "Propagation cancelled: 1 frame kept"
    assert [len(document.annotations(i)) for i in frames] == [1, 1, 0, 0, 0, 0]


def test_opening_another_dataset_drops_the_rest_of_a_run(qtbot, setup):
    document, _, controller, _, messages = setup
    tracker = paused_after_one_frame(qtbot, setup)
    other = Document()
    for index in range(6):
        other.add_image(f"other/{index}.jpg", W, H)
    document.replace_contents(other)
    assert not controller.running and messages[-1].startswith("Propagation stopped")
    tracker.proceed.set()
    controller.worker.shutdown(timeout=10)
    assert document.annotations() == ()  # nothing landed on the other dataset's images


def test_every_refusal_says_why_and_changes_nothing(qtbot, setup):
    document, stack, controller, engines, messages = setup
    frames = frame_ids(document)
    alone = document.images()[6].id
    first = add_square(document, stack, frames[0])
    lone = add_square(document, stack, alone)
    document.add_image("photos/small.jpg", W, H)
    document.add_image("photos/large.jpg", 2 * W, H)
    photo = add_square(document, stack, document.images()[7].id)
    cases = [
        ((None, None), "Open a sequence of frames first"),
        (
            (frames[5], None),
            "Label the object on this frame first (or Ctrl+click one to propagate)",
        ),
        ((frames[1], first), "Select the object to propagate on this frame (Ctrl+click it)"),
        ((alone, lone), "This image is alone in its folder: propagation needs a folder of frames"),
        (
            (document.images()[7].id, photo),
            "Not a video: photos/small.jpg is 64x48, photos/large.jpg 128x48 (propagation "
            "needs frames of one size)",
        ),
    ]
    steps = len(stack)
    for (image_id, annotation_id), reason in cases:
        assert not controller.propagate(image_id, annotation_id, Direction.BOTH)
        assert messages[-1].startswith(reason)
    engines["current"] = None
    assert not controller.propagate(frames[0], first, Direction.BOTH)
    assert messages[-1] == "No model is loaded yet"
    engines["current"] = ScriptedTracker()
    engines["current"].tracking_supported = False
    assert not controller.propagate(frames[0], first, Direction.BOTH)
    assert messages[-1] == "Scripted tracker cannot propagate through frames: load a SAM 2.1 model"
    assert len(stack) == steps

    # Two annotations of one track on a frame; a keyframe with keyframes on both sides.
    engines["current"] = ScriptedTracker()
    category = document.categories()[0].id
    make = document.make_annotation
    twins = [make(frames[3], category, [[0, 0, 5, 0, 5, 5]], extra={"track_id": 9}) for _ in "ab"]
    stack.push(AddAnnotations(twins))
    assert not controller.propagate(frames[3], twins[1].id, Direction.BOTH)
    assert messages[-1] == "Frame 4 holds two annotations of track 9: delete one, then propagate"
    sides = [
        make(frames[i], category, [[0, 0, 5, 0, 5, 5]], extra={"track_id": 8}) for i in (1, 2, 3)
    ]
    stack.push(AddAnnotations(sides))
    assert not controller.propagate(frames[2], sides[1].id, Direction.BOTH)
    assert messages[-1].startswith("Track 8: no frames to propagate to both")


def test_objects_asked_for_during_a_run_wait_their_turn(qtbot, setup):
    document, stack, controller, engines, messages = setup
    frames = frame_ids(document)
    tracker = paused_after_one_frame(qtbot, setup)  # track 1 from frame 1
    second = add_square(document, stack, frames[0], x=30)
    assert controller.propagate(frames[0], second, Direction.FORWARD)
    assert messages[-1] == "Track 2 will be propagated next (1 waiting; Esc cancels all)"
    on_two = document.annotations(frames[1])[0].id  # track 1's propagated shape
    assert not controller.propagate(frames[1], on_two, Direction.FORWARD)
    assert messages[-1] == "Track 1 is being propagated already"
    tracker.proceed.set()
    qtbot.waitUntil(lambda: not controller.running)
    assert messages[-3:] == [
        "Propagated track 1 over 5 frames",
        "Propagating track 2… (Esc cancels)",
        "Propagated track 2 over 5 frames",
    ]
    assert [len(document.annotations(i)) for i in frames] == [2] * 6


def test_esc_also_drops_the_waiting_runs(qtbot, setup):
    document, stack, controller, engines, messages = setup
    frames = frame_ids(document)
    tracker = paused_after_one_frame(qtbot, setup)
    assert controller.propagate(
        frames[0], add_square(document, stack, frames[0], 30), Direction.FORWARD
    )
    controller.cancel()
    tracker.proceed.set()
    qtbot.waitUntil(lambda: not controller.running)
    assert len(tracker.requests) == 1 and messages[-1] == "Propagation cancelled: 1 frame kept"


def test_a_run_that_fails_midway_says_what_it_kept(qtbot, setup):
    document, stack, controller, engines, messages = setup

    class FailingAfterOne(ScriptedTracker):
        def track(self, request, on_frame, *, cancel=None):
            on_frame(1, None)
            raise TrackingError("/clip/f2.jpg: cannot read this frame")

    engines["current"] = FailingAfterOne()
    frames = frame_ids(document)
    run(qtbot, controller, frames[0], add_square(document, stack, frames[0]), Direction.FORWARD)
    assert messages[-1] == (
        "Propagation stopped: /clip/f2.jpg: cannot read this frame (1 frame kept)"
    )
