"""Tracks through a sequence of frames: which frames are a sequence, keyframes versus
propagated shapes, the frames a propagation recomputes, and the undoable track edits."""

from __future__ import annotations

import pytest

from sam_annotator.model.commands import AddAnnotation, EditPolygon
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.track_commands import PropagatedShape, StartTrack
from sam_annotator.model.tracks import (
    Direction,
    FrameState,
    Span,
    next_track_id,
    propagation_spans,
    sequence_of,
    sequences_in,
    track_id_of,
    tracks_in,
)
from sam_annotator.model.undo_stack import UndoStack


def square(x: float, side: float) -> list[list[float]]:
    return [[x, x, x + side, x, x + side, x + side, x, x + side]]


@pytest.fixture
def doc():
    document = Document()
    for name in ("clip/frame10.jpg", "clip/frame2.jpg", "clip/frame1.jpg", "still.jpg"):
        document.add_image(name, 100, 100)
    document.insert_category(document.make_category("car"))
    document.insert_category(document.make_category("bus"))
    return document


def frames(doc):
    return sequence_of(doc.images(), doc.images()[0].id)


def test_a_sequence_is_one_folder_in_natural_order(doc):
    names = ["clip/frame1.jpg", "clip/frame2.jpg", "clip/frame10.jpg"]
    assert [i.path for i in frames(doc)] == names
    still = doc.images()[3]
    assert sequence_of(doc.images(), still.id) == (still,)
    assert sequences_in(doc.images()) == [(still,), frames(doc)]  # root first
    with pytest.raises(KeyError):
        sequence_of(doc.images(), 99)


def test_track_ids_are_positive_integers_and_new_ones_are_unused(doc):
    image = frames(doc)[0].id
    car = doc.categories()[0].id
    made = [
        doc.make_annotation(image, car, square(5, 10), extra={"track_id": value})
        for value in (3, True, -1, "7", 1)
    ]
    assert [track_id_of(a) for a in made] == [3, None, None, None, 1]
    assert next_track_id(made) == 4 and next_track_id([]) == 1


def test_propagation_stops_before_the_next_frames_a_person_fixed():
    assert propagation_spans(10, {2}, 2, Direction.BOTH) == [Span(2, 9, False), Span(2, 0, True)]
    assert propagation_spans(10, {2, 6}, 2, Direction.FORWARD) == [Span(2, 5, False)]
    assert propagation_spans(10, {2, 6}, 6, Direction.BACKWARD) == [Span(6, 3, True)]
    assert list(Span(6, 3, True).frames) == [6, 5, 4, 3] and Span(6, 3, True).length == 3
    assert propagation_spans(10, {5, 6}, 5, Direction.FORWARD) == []  # nothing between
    assert propagation_spans(10, {9}, 9, Direction.FORWARD) == []  # the last frame
    with pytest.raises(ValueError, match="frame 4 is not a keyframe"):
        propagation_spans(10, {2}, 3, Direction.BOTH)
    with pytest.raises(ValueError, match="not in a 10-frame"):
        propagation_spans(10, {2}, 10, Direction.BOTH)


def test_propagated_shapes_fill_frames_replace_their_own_and_never_a_keyframe(doc):
    stack = UndoStack(doc)
    first, second, third = (f.id for f in frames(doc))
    car, bus = (c.id for c in doc.categories())
    keyframe = doc.make_annotation(first, car, square(10, 20))
    stack.push(AddAnnotation(keyframe))
    stack.push(StartTrack(keyframe.id, 1))
    assert track_id_of(doc.annotation(keyframe.id)) == 1

    stack.push(PropagatedShape(first, 1, car, square(0, 50), run="a"))  # the keyframe
    stack.push(PropagatedShape(second, 1, car, square(12, 20), run="a"))
    stack.push(PropagatedShape(third, 1, car, square(14, 20), run="a"))
    assert len(stack) == 3 and stack.undo_text == "Propagate track 1 (3 frames)"
    assert doc.annotation(keyframe.id).bbox == (10, 10, 20, 20)  # unchanged
    track = tracks_in([doc.annotations(f.id) for f in frames(doc)])[0]
    assert (track.id, track.keyframes) == (1, [0])
    assert [track.state(i) for i in range(3)] == [
        FrameState.KEYFRAME, FrameState.PROPAGATED, FrameState.PROPAGATED,
    ]  # fmt: skip
    statuses = [doc.image(f.id).status.value for f in frames(doc)]
    assert statuses == ["not_started", "in_progress", "in_progress"]  # frames with a shape
    on_third = doc.annotation(track.annotation_on(2))
    assert on_third.bbox == (14, 14, 20, 20) and on_third.extra["propagated"] is True

    # A second run replaces the propagated shapes (the category follows the keyframe)
    # and removes the one where the object is now absent.
    stack.push(PropagatedShape(second, 1, bus, square(30, 20), run="b"))
    stack.push(PropagatedShape(third, 1, bus, None, run="b"))
    assert doc.annotation(track.annotation_on(1)).bbox == (30, 30, 20, 20)
    assert doc.annotation(track.annotation_on(1)).category_id == bus
    assert doc.annotations(third) == ()
    stack.undo()  # the whole second run
    assert doc.annotation(track.annotation_on(1)).bbox == (12, 12, 20, 20)
    assert doc.annotation(track.annotation_on(2)) == on_third
    stack.undo()  # the whole first run
    assert doc.annotations(second) == () and doc.annotations(third) == ()
    assert doc.image(third).status.value == "not_started"
    stack.redo()
    assert doc.annotation(on_third.id) == on_third  # the same ids come back


def test_editing_a_propagated_shape_makes_it_a_keyframe(doc):
    stack = UndoStack(doc)
    image = frames(doc)[1].id
    car = doc.categories()[0].id
    stack.push(PropagatedShape(image, 4, car, square(10, 20), run="a"))
    (propagated,) = doc.annotations(image)
    stack.push(EditPolygon(propagated.id, square(11, 20)))
    edited = doc.annotation(propagated.id)
    assert track_id_of(edited) == 4 and "propagated" not in edited.extra
    stack.push(PropagatedShape(image, 4, car, square(40, 20), run="b"))
    assert doc.annotation(propagated.id) == edited  # the tracker leaves it alone
    stack.undo()
    stack.undo()
    assert doc.annotation(propagated.id).extra["propagated"] is True


def test_bad_track_edits_are_refused_without_changes(doc):
    stack = UndoStack(doc)
    with pytest.raises(ValueError, match="positive integer"):
        StartTrack(1, 0)
    with pytest.raises(DocumentError, match="no annotation with id 5"):
        stack.push(StartTrack(5, 1))
    with pytest.raises(DocumentError):
        stack.push(PropagatedShape(frames(doc)[0].id, 1, 99, square(1, 5), run="a"))
    assert len(stack) == 0 and doc.annotations() == ()
