"""Video frames read lazily: a folder of images (any format, sorted naturally), a list of
image files (in the order given), or a video file (decoded with OpenCV), one frame at a
time.

``VideoFrames[i]`` is frame ``i`` as SAM 2's video predictor takes it: RGB resized to
1024x1024 by PIL (as the official loader does), scaled to 0-1, normalised with ImageNet
statistics, ``3x1024x1024`` float32. Nothing is kept beyond the last few frames asked for
(``cache`` of them, 12 MiB each), so a clip longer than memory can hold still runs.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps

from sam_core.sam2.model import PIXEL_MEAN, PIXEL_STD
from sam_core.sam2.specs import IMAGE_SIZE

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


class VideoFramesError(ValueError):
    """A video or frame folder that cannot be read, with the path and the reason."""


def natural_key(name: str) -> list[object]:
    """Sort key: digit runs compare as numbers (``frame2`` before ``frame10``)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _normalised(rgb: Image.Image) -> torch.Tensor:
    """A PIL RGB image -> ``3x1024x1024`` float32, as the official loader computes it."""
    array = np.array(rgb.resize((IMAGE_SIZE, IMAGE_SIZE))) / 255.0  # float64, as official
    image = torch.from_numpy(array).permute(2, 0, 1).to(torch.float32)
    mean = torch.tensor(PIXEL_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(PIXEL_STD, dtype=torch.float32)[:, None, None]
    return (image - mean) / std


class VideoFrames:
    """The frames of ``source`` (a folder of images, a list of image files or a video
    file), read on demand."""

    def __init__(
        self, source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], cache: int = 2
    ) -> None:
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._cache_size = max(1, cache)
        self._capture: cv2.VideoCapture | None = None
        self._next_in_capture = 0
        listed = not isinstance(source, (str, os.PathLike))
        if listed and not source:
            raise VideoFramesError("an empty list of frames")
        self.source = Path(os.path.commonpath(source)) if listed else Path(source)
        if listed or self.source.is_dir():
            if listed:
                self.paths = [Path(p) for p in source]
            else:
                self.paths = sorted(
                    (p for p in self.source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                    key=lambda p: natural_key(p.name),
                )
            if not self.paths:
                raise VideoFramesError(f"{self.source}: no image frames")
            missing = next((p for p in self.paths if not p.is_file()), None)
            if missing is not None:
                raise VideoFramesError(f"{missing}: no such frame file")
            self._count = len(self.paths)
            with Image.open(self.paths[0]) as first:
                self.width, self.height = ImageOps.exif_transpose(first).size
        elif self.source.is_file():
            self.paths = []
            capture = cv2.VideoCapture(str(self.source))
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
            ok, frame = capture.read() if count > 0 else (False, None)
            if not ok or frame is None:
                capture.release()
                raise VideoFramesError(f"{self.source}: not a video OpenCV can decode")
            self.height, self.width = frame.shape[:2]
            self._count = count
            self._capture, self._next_in_capture = capture, 1
            self._store(0, _normalised(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))))
        else:
            raise VideoFramesError(f"{self.source}: no such folder or video file")

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self._count:
            raise IndexError(f"frame {index} of a {self._count}-frame video")
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        frame = self._read(index)
        self._store(index, frame)
        return frame

    def _store(self, index: int, frame: torch.Tensor) -> None:
        self._cache[index] = frame
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _read(self, index: int) -> torch.Tensor:
        if self.paths:
            path = self.paths[index]
            try:
                with Image.open(path) as opened:
                    rgb = ImageOps.exif_transpose(opened).convert("RGB")
            except OSError as error:
                raise VideoFramesError(f"{path}: cannot read this frame ({error})") from None
            if rgb.size != (self.width, self.height):
                raise VideoFramesError(
                    f"{path}: {rgb.size[0]}x{rgb.size[1]}, the first frame is "
                    f"{self.width}x{self.height}"
                )
            return _normalised(rgb)
        capture = self._capture
        assert capture is not None
        if index != self._next_in_capture:  # not the next one: seek
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        if not ok or frame is None:
            raise VideoFramesError(f"{self.source}: cannot decode frame {index}")
        self._next_in_capture = index + 1
        return _normalised(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
