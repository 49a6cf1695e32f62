"""The app's disk cache of encodings, addressed by image id.

The app's EncodingService asks ``lookup(image_id, segmenter)`` before encoding an image and
calls ``store(image_id, segmenter, encoded)`` after; both run on the encode worker. The
:class:`~sam_annotator.inference.embedding_cache.EmbeddingCache` behind them is made on
first use (it imports torch, which the GUI thread never waits for) in ``cache_dir`` (the
folder ``sam-annotator embed`` fills), with no memory layer of its own: the
EncodingService is the memory LRU.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from sam_annotator.inference.segmenter import EncodedImage, Segmenter


class EncodingStore:
    """Encodings of image files on disk; ``path_of(image_id)`` names an image's file."""

    def __init__(self, cache_dir: Path, max_bytes: int, path_of: Callable[[int], Path]) -> None:
        self.cache_dir = cache_dir
        self.max_bytes = max_bytes
        self._path_of = path_of
        self._cache = None
        self._lock = threading.Lock()

    def cache(self):
        """The EmbeddingCache (made on first use)."""
        with self._lock:
            if self._cache is None:
                from sam_annotator.inference.embedding_cache import EmbeddingCache

                self._cache = EmbeddingCache(
                    self.cache_dir, max_disk_bytes=self.max_bytes, max_memory_bytes=0
                )
            return self._cache

    def lookup(self, image_id: int, segmenter: Segmenter) -> EncodedImage | None:
        from sam_annotator.inference.embedding_cache import lookup_encoding

        return lookup_encoding(self.cache(), segmenter, self._path_of(image_id))

    def store(self, image_id: int, segmenter: Segmenter, encoded: EncodedImage) -> None:
        from sam_annotator.inference.embedding_cache import store_encoding

        store_encoding(self.cache(), segmenter, self._path_of(image_id), encoded)
