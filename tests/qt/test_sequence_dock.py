"""The sequence dock: a folder's frames in natural order, each frame's state for the
chosen track (updated from the edited frames only), the track list, frame requests, and a
strip that stays readable with more frames than pixels."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from sam_annotator.model.commands import AddAnnotation, DeleteAnnotations
from sam_annotator.model.document import Document
from sam_annotator.model.track_commands import PropagatedShape, StartTrack
from sam_annotator.model.tracks import FrameState
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.docks.sequence import SequenceDock, TimelineStrip

SQUARE = [[10, 10, 30, 10, 30, 30, 10, 30]]


@pytest.fixture
def setup(qtbot):
    document = Document()
    for name in ("clip/f10.jpg", "clip/f2.jpg", "clip/f1.jpg", "clip/f3.jpg", "alone/x.jpg"):
        document.add_image(name, 64, 48)
    document.insert_category(document.make_category("car", color="#ff0000"))
    dock = SequenceDock(document)
    qtbot.addWidget(dock)
    dock.resize(400, 300)
    dock.show()
    return document, UndoStack(document), dock


def test_frames_states_and_tracks_follow_the_edits(qtbot, setup):
    document, stack, dock = setup
    by_path = {i.path: i.id for i in document.images()}
    dock.show_image(by_path["clip/f2.jpg"])
    assert [f.path for f in dock.frames] == [
        "clip/f1.jpg",
        "clip/f2.jpg",
        "clip/f3.jpg",
        "clip/f10.jpg",
    ]
    assert dock.label.text().startswith("Frame 2 / 4") and dock.slider.value() == 1
    assert dock.strip.states == [FrameState.NONE] * 4 and dock.track_list.count() == 0

    car = document.categories()[0].id
    keyframe = document.make_annotation(by_path["clip/f1.jpg"], car, SQUARE)
    stack.push(AddAnnotation(keyframe))
    stack.push(StartTrack(keyframe.id, 7))
    stack.push(PropagatedShape(by_path["clip/f10.jpg"], 7, car, SQUARE, run=1))
    expected = [FrameState.KEYFRAME, FrameState.NONE, FrameState.NONE, FrameState.PROPAGATED]
    qtbot.waitUntil(lambda: dock.strip.states == expected)
    assert dock.strip.color.name() == "#ff0000"
    assert dock.track_list.item(0).text() == "● #7  car  ·  1 keyframe, 2 frames"

    with qtbot.waitSignal(dock.frameRequested) as request:
        qtbot.mouseClick(
            dock.strip, Qt.MouseButton.LeftButton, pos=QPoint(dock.strip.width() - 2, 10)
        )
    assert request.args == [by_path["clip/f10.jpg"]]
    dock.show_image(by_path["clip/f10.jpg"])
    assert dock.label.text().startswith("Frame 4 / 4") and dock.strip.current == 3

    with qtbot.waitSignal(dock.trackChosen) as chosen:
        dock.track_list.itemClicked.emit(dock.track_list.item(0))
    assert chosen.args == [dock.track().annotation_on(3)]
    stack.push(DeleteAnnotations([keyframe.id]))
    qtbot.waitUntil(lambda: dock.strip.states[0] is FrameState.NONE)

    dock.show_image(by_path["alone/x.jpg"])
    assert dock.label.text().startswith("Not a sequence") and not dock.strip.isVisible()


def test_more_frames_than_pixels_still_show_every_keyframe(qtbot):
    strip = TimelineStrip()
    qtbot.addWidget(strip)
    strip.resize(200, 22)
    states = [FrameState.NONE] * 1000
    states[503] = FrameState.KEYFRAME
    states[10] = FrameState.PROPAGATED
    strip.show_frames(states, [False] * 1000, "#00ff00", current=503)
    columns = strip._columns()
    assert len(columns) == 200
    assert [i for i, (_, s, _) in enumerate(columns) if s is FrameState.KEYFRAME] == [100]
    assert columns[2][1] is FrameState.PROPAGATED
    strip.grab()  # paints without error


def test_a_hidden_dock_computes_nothing_and_catches_up_when_shown(qtbot, setup):
    document, stack, dock = setup
    by_path = {i.path: i.id for i in document.images()}
    dock.show_image(by_path["clip/f1.jpg"])
    dock.hide()  # as the app keeps it for a folder of photos
    dock.show_image(by_path["clip/f3.jpg"])
    annotation = document.make_annotation(
        by_path["clip/f3.jpg"], document.categories()[0].id, SQUARE, extra={"track_id": 4}
    )
    stack.push(AddAnnotation(annotation))
    dock.refresh()  # what the refresh timer calls: hidden, it computes nothing
    assert dock.current == 0 and dock.strip.states[2] is FrameState.NONE
    dock.show()
    assert dock.current == 2 and dock.label.text().startswith("Frame 3 / 4")
    assert dock.strip.states[2] is FrameState.KEYFRAME and dock.track().id == 4
