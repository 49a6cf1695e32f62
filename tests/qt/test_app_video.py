"""A video labelled in the real window with a tiny random SAM 2.1 (with its video parts):
open the video as frames, label an object on the first frame, propagate it with a key,
correct a frame and propagate again (only the frames the correction affects), undo,
export COCO and YouTube-VIS, reopen."""

from __future__ import annotations

import json

import cv2
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QMessageBox

from sam_annotator.config import AppDirs
from sam_annotator.model.commands import AddAnnotation, EditPolygon
from sam_annotator.model.geometry import mask_to_polygons, segmentation_to_mask
from sam_annotator.model.tracks import FrameState, is_propagated, track_id_of
from sam_annotator.qt.application import LabelingApp
from sam_annotator.qt.dialogs.datasets import DatasetRequest
from sam_annotator.qt.encodings import EncodingState
from sam_annotator.qt.tracking import MIN_PART_AREA
from sam_annotator.qt.video_opening import open_video
from sam_core.sam2.video_predictor import build_sam2_video_predictor

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
FRAMES = 4


@pytest.fixture
def video(real_data, tmp_path):
    """An MJPG AVI of FRAMES 320x240 frames: a window moving over a real street photo."""
    photo = cv2.imread(str(real_data / "images" / "cars.jpg"))
    path = tmp_path / "videos" / "street.avi"
    path.parent.mkdir()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for index in range(FRAMES):
        crop = photo[200 + 15 * index : 1100 + 15 * index, 300 + 50 * index : 1500 + 50 * index]
        writer.write(cv2.resize(crop, (320, 240), interpolation=cv2.INTER_AREA))
    writer.release()
    return path


def start_app(qtbot, tmp_path, checkpoint, folder=None) -> LabelingApp:
    app = LabelingApp(AppDirs.under(tmp_path / "home"), autosave_delay_s=0.05)
    qtbot.addWidget(app.window, before_close_func=lambda _w: app.undo_stack.set_clean())
    app.window.show()
    qtbot.waitExposed(app.window)
    app.start(folder, checkpoint=checkpoint)
    qtbot.waitUntil(lambda: app.engine.segmenter is not None, timeout=30000)
    return app


def key(qtbot, app, key) -> None:
    """Press ``key`` on the canvas of the active window (shortcuts need an active one)."""
    app.window.activateWindow()
    qtbot.waitUntil(app.window.isActiveWindow)
    app.window.view.setFocus()
    qtbot.keyClick(app.window.view, key)


def propagate(qtbot, app, key_code) -> list[str]:
    messages = []
    app.tracking.message.connect(messages.append)
    key(qtbot, app, key_code)
    assert app.tracking.running, messages
    qtbot.waitUntil(lambda: not app.tracking.running, timeout=120000)
    app.tracking.message.disconnect(messages.append)
    return messages


def shapes(app, frames) -> list[tuple]:
    return [tuple(a.segmentation for a in app.document.annotations(f.id)) for f in frames]


def test_a_video_is_labelled_by_propagation_corrected_exported_and_reopened(
    qtbot, tmp_path, video, tracking_sam2_checkpoint
):
    app = start_app(qtbot, tmp_path, tracking_sam2_checkpoint)
    assert open_video(app.project, video)
    document, dock = app.document, app.sequence
    frames = dock.frames
    assert [f.path for f in frames] == [f"frame_{i:06d}.jpg" for i in range(1, FRAMES + 1)]
    assert dock.label.text().startswith(f"Frame 1 / {FRAMES}") and app.sequence_dock.isVisible()

    # Label the car on frame 1 with a box, as on any image.
    qtbot.waitUntil(lambda: app.encodings.state(frames[0].id) is EncodingState.READY, timeout=60000)
    view = app.window.view
    start, end = view.mapFromScene(QPointF(60, 110)), view.mapFromScene(QPointF(180, 170))
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view.viewport(), pos=end)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    qtbot.waitUntil(lambda: app.labeling.session.can_accept, timeout=20000)
    key(qtbot, app, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(document.annotations(frames[0].id)) == 1, timeout=20000)
    (keyframe,) = document.annotations(frames[0].id)

    # "." propagates it (the frame's newest annotation) forward: every later frame gets the
    # tracker's shape, one undo step.
    steps = len(app.undo_stack)
    messages = propagate(qtbot, app, Qt.Key.Key_Period)
    assert messages[-1] == f"Propagated track 1 over {FRAMES - 1} frames"
    assert len(app.undo_stack) == steps + 2  # the new track, then the whole run
    drawn = segmentation_to_mask(keyframe.segmentation, 240, 320)
    for index, frame in enumerate(frames):
        (annotation,) = document.annotations(frame.id)
        assert track_id_of(annotation) == 1 and is_propagated(annotation) == (index > 0)
    tracked_states = [FrameState.KEYFRAME] + [FrameState.PROPAGATED] * (FRAMES - 1)
    qtbot.waitUntil(lambda: dock.strip.states == tracked_states)  # refreshed after the edits
    assert dock.track_list.count() == 1 and "1 keyframe, 4 frames" in dock.track_list.item(0).text()
    first_run = shapes(app, frames)

    # Correct frame 3 (a vertex drag is an EditPolygon), then "T": only frames 2 and 4,
    # between the keyframes, are recomputed.
    key(qtbot, app, Qt.Key.Key_D)
    key(qtbot, app, Qt.Key.Key_D)
    assert app.navigator.current == frames[2].id and dock.current == 2
    (tracked,) = document.annotations(frames[2].id)
    moved = [[v + 3 for v in polygon] for polygon in tracked.polygons]
    app.undo_stack.push(EditPolygon(tracked.id, moved))
    app.labeling.select(tracked.id)
    qtbot.waitUntil(lambda: dock.track().keyframes == [0, 2])
    model, encoded = app.engine.segmenter.model, []
    encode = model.frame_features
    model.frame_features = lambda image: encoded.append(image.sum().item()) or encode(image)
    assert propagate(qtbot, app, Qt.Key.Key_T)[-1] == "Propagated track 1 over 2 frames"
    assert len(encoded) == len(set(encoded)) == 4  # each frame once: keyframes 1, 3; 4, 2
    del model.frame_features
    second_run = shapes(app, frames)
    assert second_run[0] == first_run[0] and document.annotation(tracked.id).polygons == moved
    # What SAM 2 answers with both keyframes, forward from frame 3 then back from it
    # (tests/inference/test_sam2_tracking.py compares single runs in more detail).
    predictor = build_sam2_video_predictor(tracking_sam2_checkpoint)
    state = predictor.init_state([str(app.navigator.path_of(f.id)) for f in frames])
    predictor.add_new_mask(state, 0, 1, drawn)
    predictor.add_new_mask(state, 2, 1, segmentation_to_mask(moved, 240, 320))
    for reverse in (False, True):
        for index, _, logits in predictor.propagate_in_video(state, 2, 1, reverse=reverse):
            if index != 2:
                expected = mask_to_polygons((logits[0, 0] > 0).numpy(), min_area=MIN_PART_AREA)
                (annotation,) = document.annotations(frames[index].id)
                assert annotation.polygons == expected.polygons, f"frame {index + 1}"
    corrected_states = [
        FrameState.KEYFRAME, FrameState.PROPAGATED, FrameState.KEYFRAME, FrameState.PROPAGATED,
    ]  # fmt: skip
    qtbot.waitUntil(lambda: dock.strip.states == corrected_states)
    assert second_run != first_run
    app.undo_stack.undo()  # the second run as one step
    assert shapes(app, frames) == first_run[:2] + [second_run[2]] + first_run[3:]
    app.undo_stack.redo()

    # Export: COCO with a track_id per annotation, YouTube-VIS with one track of 4 frames.
    assert app.project.export(tmp_path / "out.json")
    coco = json.loads((tmp_path / "out.json").read_text())
    assert len(coco["images"]) == FRAMES
    assert sorted(a["track_id"] for a in coco["annotations"]) == [1] * FRAMES
    ytvis_path = tmp_path / "ytvis.json"
    assert app.project.export_dataset(DatasetRequest("ytvis", ytvis_path))
    ytvis = json.loads(ytvis_path.read_text())
    (track,) = ytvis["annotations"]
    assert len(track["segmentations"]) == FRAMES and all(track["segmentations"])

    # Reopen: the tracks, keyframes and propagated shapes come back from the autosave.
    app.project.flush()
    app.undo_stack.set_clean()
    app.shutdown()
    # Reopen from the video file, as `sam-annotator street.avi` does: the same frames.
    again = start_app(qtbot, tmp_path / "again", tracking_sam2_checkpoint, folder=video)
    assert again.project.workspace.images_dir == frames_dir(video)
    assert shapes(again, again.sequence.frames) == second_run
    again.sequence.refresh()
    assert again.sequence.track().keyframes == [0, 2]
    again.undo_stack.set_clean()
    again.shutdown()


def frames_dir(video):
    return video.with_name(f"{video.stem}_frames")


def test_propagation_says_why_it_cannot_start(qtbot, tmp_path, gray_app, monkeypatch):
    app = gray_app(("a.png", "b.png"), (40, 30))
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[2]))
    assert not app.sequence_dock.isVisible()  # photos: no timeline until there is a track
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    project_messages = []
    app.project.message.connect(project_messages.append)
    assert not open_video(app.project, broken)
    assert project_messages[-1] == f"Video not opened: {broken}: not a video OpenCV can decode"
    assert warnings == [f"{broken}: not a video OpenCV can decode"]
    assert len(app.document.images()) == 2  # the open dataset stays
    messages = []
    app.tracking.message.connect(messages.append)
    key(qtbot, app, Qt.Key.Key_T)
    assert messages[-1] == "Label the object on this frame first (or Ctrl+click one to propagate)"
    image = app.navigator.current
    category = app.categories.add("thing")
    annotation = app.document.make_annotation(image, category, [[5, 5, 20, 5, 20, 20, 5, 20]])
    app.undo_stack.push(AddAnnotation(annotation))
    app.labeling.select(annotation.id)
    steps = len(app.undo_stack)
    key(qtbot, app, Qt.Key.Key_T)
    assert messages[-1].startswith("GrabCut") and "cannot propagate through frames" in messages[-1]
    assert not app.tracking.running and len(app.undo_stack) == steps  # nothing changed
