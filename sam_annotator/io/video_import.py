"""A video file as a folder of frames, so that it opens as a sequence like any folder.

``extract_frames(video)`` decodes the file with OpenCV once and writes every frame as a
JPEG (quality 95) into ``<video name>_frames/`` beside it, named ``frame_000001.jpg`` ...
(COCO and YouTube-VIS exports then name each frame by its file). The frames are written
into a hidden temporary folder that is renamed when complete, so an interrupted or
failed extraction never leaves a partial folder that looks finished. A manifest in the
folder records the video's size and modification time: opening the same video again
reuses the frames (and the project's labels on them); a changed video, or a folder of
that name that is not ours, is an error that names the folder, never overwritten.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

MANIFEST = ".sam_annotator_video.json"
JPEG_QUALITY = 95
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})


class VideoImportError(ValueError):
    """A video that cannot become a folder of frames, with the path and the reason."""


class VideoImportCancelled(Exception):
    """``cancel()`` turned true; nothing was left behind."""


def frames_folder_for(video: Path) -> Path:
    return video.with_name(f"{video.stem}_frames")


def is_extracted_video(folder: str | Path) -> bool:
    """Whether ``folder`` holds the frames of a video extracted here."""
    return (Path(folder) / MANIFEST).is_file()


def _stamp(video: Path) -> dict[str, Any]:
    stat = video.stat()
    return {"video": video.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def extract_frames(
    video: str | Path,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """The folder of ``video``'s frames, extracted now or reused from an earlier time.

    progress(done, total) after each frame (total: OpenCV's frame count, an estimate for
    some containers). VideoImportError for a missing or undecodable file, a folder in the
    way, or one that cannot be written; VideoImportCancelled when ``cancel()`` is true."""
    video = Path(video)
    if not video.is_file():
        raise VideoImportError(f"{video}: no such video file")
    target = frames_folder_for(video)
    if target.exists():
        return _reuse(video, target)
    capture = cv2.VideoCapture(str(video))
    try:
        if not capture.isOpened():
            raise VideoImportError(f"{video}: not a video OpenCV can decode")
        total = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        try:
            partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=video.parent))
        except OSError as error:
            raise VideoImportError(
                f"{video.parent}: cannot write the frames beside the video ({error.strerror})"
            ) from None
        try:
            count = _write_frames(capture, partial, total, progress, cancel)
            if count == 0:
                raise VideoImportError(f"{video}: not a video OpenCV can decode (no frames)")
            (partial / MANIFEST).write_text(json.dumps(_stamp(video) | {"frames": count}))
            partial.rename(target)
        except OSError as error:
            shutil.rmtree(partial, ignore_errors=True)
            raise VideoImportError(f"{target}: cannot write the frames ({error})") from None
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    finally:
        capture.release()
    return target


def _write_frames(capture, folder: Path, total: int, progress, cancel) -> int:
    count = 0
    while True:
        if cancel is not None and cancel():
            raise VideoImportCancelled(f"extraction of {folder.name} cancelled")
        ok, frame = capture.read()
        if not ok or frame is None:
            return count
        count += 1
        path = folder / f"frame_{count:06d}.jpg"
        if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f"{path.name} could not be written (disk full?)")
        if progress is not None:
            progress(count, max(total, count))


def _reuse(video: Path, target: Path) -> Path:
    manifest = target / MANIFEST
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, ValueError):
        raise VideoImportError(
            f"{target} exists and was not made from {video.name}: move it away to extract "
            "the frames, or open it as a folder"
        ) from None
    stamp = _stamp(video)
    if not isinstance(recorded, dict) or any(recorded.get(k) != v for k, v in stamp.items()):
        raise VideoImportError(
            f"{video.name} changed since its frames were extracted into {target}: move that "
            "folder away to extract them again (its labels stay with it)"
        )
    return target
