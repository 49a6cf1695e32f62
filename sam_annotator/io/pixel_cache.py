"""Decoded images kept in memory, shared by the GUI and the encoder worker (no Qt).

The encoder worker decodes an image to embed it; keeping the pixels means that turning
the page to a prefetched image shows it without decoding it again. Bounded in bytes,
least recently used out first; thread-safe (two threads asking for the same image may
both decode it once; the second result is kept).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sam_annotator.io.images import load_image


class PixelCache:
    def __init__(
        self,
        max_bytes: int = 512 * 2**20,
        loader: Callable[[Path], np.ndarray] = load_image,
    ) -> None:
        self.max_bytes = max_bytes
        self._loader = loader
        self._images: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, path: str | Path) -> np.ndarray:
        """The HxWx3 uint8 RGB pixels of `path` (loaded on a miss; read-only array)."""
        key = Path(path)
        with self._lock:
            image = self._images.get(key)
            if image is not None:
                self._images.move_to_end(key)
                return image
        image = self._loader(key)
        image.setflags(write=False)
        with self._lock:
            old = self._images.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._images[key] = image
            self._bytes += image.nbytes
            while self._bytes > self.max_bytes and len(self._images) > 1:
                _, evicted = self._images.popitem(last=False)
                self._bytes -= evicted.nbytes
        return image

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return Path(path) in self._images  # type: ignore[arg-type]

    def clear(self) -> None:
        with self._lock:
            self._images.clear()
            self._bytes = 0
