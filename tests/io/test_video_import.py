"""A video file becomes a folder of frames once: complete or not at all, reused when the
same video is opened again, never written over a folder that is not its own."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from sam_annotator.io.video_import import (
    MANIFEST,
    VideoImportCancelled,
    VideoImportError,
    extract_frames,
)
from sam_annotator.model.natural_order import natural_key


@pytest.fixture
def video(real_data, tmp_path):
    """An MJPG AVI of 12 frames: a window moving over a real photo."""
    photo = cv2.imread(str(real_data / "images" / "cars.jpg"))
    path = tmp_path / "street clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for index in range(12):
        crop = photo[200 + 20 * index : 800 + 20 * index, 300 + 40 * index : 1100 + 40 * index]
        writer.write(cv2.resize(crop, (160, 120), interpolation=cv2.INTER_AREA))
    writer.release()
    return path


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_frames_are_extracted_in_order_and_reused(video):
    seen = []
    folder = extract_frames(video, progress=lambda done, total: seen.append((done, total)))
    assert folder.name == "street clip_frames" and folder.parent == video.parent
    frames = sorted(folder.glob("*.jpg"), key=lambda p: natural_key(p.name))
    assert len(frames) == 12 and frames[0].name == "frame_000001.jpg"
    assert seen[-1] == (12, 12) and [d for d, _ in seen] == list(range(1, 13))
    capture = cv2.VideoCapture(str(video))
    for path in frames:
        ok, decoded = capture.read()
        stored = cv2.imread(str(path))
        assert ok and np.abs(stored.astype(int) - decoded).mean() < 3  # JPEG 95 of that frame
    capture.release()
    written = frames[0].stat().st_mtime_ns
    assert extract_frames(video) == folder  # the same video again: the same frames
    assert frames[0].stat().st_mtime_ns == written and leftovers(video.parent) == []


def test_a_changed_video_or_a_foreign_folder_is_never_written_over(video, tmp_path):
    folder = extract_frames(video)
    with open(video, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(VideoImportError, match="changed since its frames were extracted"):
        extract_frames(video)
    (folder / MANIFEST).unlink()
    with pytest.raises(VideoImportError, match="was not made from street clip.avi"):
        extract_frames(video)
    assert len(list(folder.glob("*.jpg"))) == 12  # untouched


def test_bad_videos_and_cancel_leave_nothing_behind(video, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(VideoImportError, match="broken.mp4: not a video OpenCV can decode"):
        extract_frames(broken)
    with pytest.raises(VideoImportError, match="no such video"):
        extract_frames(tmp_path / "missing.mp4")
    calls = []
    with pytest.raises(VideoImportCancelled):
        extract_frames(video, cancel=lambda: calls.append(1) or len(calls) > 3)
    assert leftovers(tmp_path) == [] and not (tmp_path / "street clip_frames").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_a_read_only_folder_says_so(video):
    video.parent.chmod(0o555)
    try:
        with pytest.raises(VideoImportError, match="cannot write the frames beside the video"):
            extract_frames(video)
    finally:
        video.parent.chmod(0o755)
