"""Image embeddings kept on disk and in memory, so a revisited image is interactive at once.

An entry is one :class:`sam_core.ImageEmbedding` (``1x256x64x64`` float32 for SAM, 4 MiB)
stored under a key that names the image content, the model and the preprocessing:
``key_for(image, model_id)`` hashes the image file's bytes (SHA-256), the model's
``model_id`` (its type and a digest of its weights) and ``sam_core.PREPROCESSING_VERSION``.
A renamed or moved image keeps its key; an edited one, another checkpoint or a changed
preprocessing gets a new key, so a stale embedding is never used.

- Memory: an LRU of entries bounded in bytes (``max_memory_bytes``).
- Disk: one file per entry in ``directory``, written atomically (temporary file, fsync,
  rename), bounded in bytes (``max_disk_bytes``): when a write goes over the bound, the
  least recently used files are deleted (use = write or read; tracked by mtime, so it
  survives restarts and is shared by several processes using the same folder).
- Robust: an entry that is truncated, corrupt (checksum), foreign (another key's or
  another model's) or unreadable is deleted and reported as a miss, never raised;
  the caller recomputes it. Writing errors (disk full, read-only folder) are logged and
  leave the cache usable.
- Portable: no pickle; the file format is in :mod:`.embedding_file` (raw little-endian
  float32 and a JSON header), so a cache made by ``sam-annotator embed`` on a GPU server
  serves laptops.

Thread-safe: any thread may call any method (the app calls it from its encode worker).
No Qt here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from sam_annotator.inference.embedding_file import (
    SUFFIX,
    EmbeddingFileError,
    decode_entry,
    encode_entry,
)
from sam_annotator.inference.sam_segmenter import SamEncoding, SamSegmenter
from sam_annotator.io.atomic import atomic_write_bytes
from sam_core import PREPROCESSING_VERSION, ImageEmbedding

log = logging.getLogger(__name__)

DEFAULT_MAX_DISK_BYTES = 4 << 30  # about 1000 SAM embeddings
DEFAULT_MAX_MEMORY_BYTES = 256 << 20  # 64 SAM embeddings
_STALE_TEMP_SECONDS = 3600.0
_READ_CHUNK = 1 << 20
_FILE_KEYS_REMEMBERED = 100_000


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was created, and its current contents."""

    memory_hits: int
    disk_hits: int
    misses: int
    puts: int
    corrupt: int  # entries found unusable and deleted
    evicted: int  # files deleted to respect max_disk_bytes
    memory_entries: int
    memory_bytes: int
    disk_entries: int
    disk_bytes: int


def default_cache_dir() -> Path:
    """The per-user embedding cache folder (``<user cache>/embeddings``)."""
    from sam_annotator.config import app_dirs

    return app_dirs().embeddings


def content_digest(image: bytes | bytearray | memoryview | str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of an image file's bytes (a path is read in chunks)."""
    digest = hashlib.sha256()
    if isinstance(image, (bytes, bytearray, memoryview)):
        digest.update(image)
    elif isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                digest.update(chunk)
    else:
        raise ValueError(f"expected image bytes or a file path, got {type(image).__name__}")
    return digest.hexdigest()


def key_for(
    image: bytes | bytearray | memoryview | str | os.PathLike[str],
    model_id: str,
    preprocessing: str = PREPROCESSING_VERSION,
) -> str:
    """The cache key of an image file (its bytes, or its path) for a model.

    64 hex digits: SHA-256 of the image content digest, ``model_id`` and the
    ``preprocessing`` version. Raises OSError if a path cannot be read.
    """
    if not isinstance(model_id, str) or not model_id:
        raise ValueError("model_id must be a non-empty string")
    text = "\n".join(("sam-annotator embedding", content_digest(image), model_id, preprocessing))
    return hashlib.sha256(text.encode()).hexdigest()


def _check_key(key: str) -> str:
    if not isinstance(key, str) or len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"not a cache key (64 lowercase hex digits): {key!r}")
    return key


class EmbeddingCache:
    """Memory LRU in front of a size-capped folder of embedding files (thread-safe)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_disk_bytes: int = DEFAULT_MAX_DISK_BYTES,
        max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
    ) -> None:
        """
        Args:
            directory: the folder of cache files (created on the first write).
            max_disk_bytes: bound on the files' total size; 0 disables the disk cache.
            max_memory_bytes: bound on the embeddings kept in memory; 0 disables it.
        """
        if max_disk_bytes < 0 or max_memory_bytes < 0:
            raise ValueError("cache sizes must be >= 0 bytes")
        self.directory = Path(directory)
        self.max_disk_bytes = int(max_disk_bytes)
        self.max_memory_bytes = int(max_memory_bytes)
        self._lock = threading.RLock()
        self._memory: OrderedDict[str, ImageEmbedding] = OrderedDict()
        self._memory_bytes = 0
        self._disk: dict[str, tuple[int, float]] | None = None  # key -> (bytes, last use)
        self._file_keys: dict[tuple[str, int, int, str], str] = {}
        self._counts = dict.fromkeys(
            ("memory_hits", "disk_hits", "misses", "puts", "corrupt", "evicted"), 0
        )

    # -- public API ------------------------------------------------------------------
    key_for = staticmethod(key_for)

    def key_for_file(self, image_path: str | os.PathLike[str], model_id: str) -> str:
        """:func:`key_for` of an image file, remembered while the file's size and
        modification time stay the same (a revisit does not hash the file again)."""
        info = os.stat(image_path)
        memo_key = (os.path.abspath(image_path), info.st_size, info.st_mtime_ns, model_id)
        with self._lock:
            key = self._file_keys.get(memo_key)
        if key is None:
            key = key_for(image_path, model_id)
            with self._lock:
                if len(self._file_keys) >= _FILE_KEYS_REMEMBERED:
                    self._file_keys.clear()
                self._file_keys[memo_key] = key
        return key

    def path_for(self, key: str) -> Path:
        """The file of ``key`` (it may not exist)."""
        return self.directory / (_check_key(key) + SUFFIX)

    def get(self, key: str) -> ImageEmbedding | None:
        """The embedding stored under ``key``, or None (never raises for a bad entry)."""
        _check_key(key)
        with self._lock:
            embedding = self._memory.get(key)
            if embedding is not None:
                self._memory.move_to_end(key)
                self._counts["memory_hits"] += 1
                return embedding
        embedding = self._read(key) if self.max_disk_bytes > 0 else None
        with self._lock:
            if embedding is None:
                self._counts["misses"] += 1
                return None
            self._counts["disk_hits"] += 1
            self._remember(key, embedding)
        return embedding

    def contains(self, key: str) -> bool:
        """Whether ``key`` is in memory or has a file on disk (the file is not verified)."""
        _check_key(key)
        with self._lock:
            if key in self._memory:
                return True
        return self.max_disk_bytes > 0 and self.path_for(key).is_file()

    def put(self, key: str, embedding: ImageEmbedding) -> None:
        """Store ``embedding`` under ``key`` in memory and on disk (atomic write).

        A disk error is logged, not raised: the cache is an optimisation.
        """
        _check_key(key)
        if not isinstance(embedding, ImageEmbedding):
            raise ValueError(f"expected an ImageEmbedding, got {type(embedding).__name__}")
        with self._lock:
            self._counts["puts"] += 1
            self._remember(key, embedding)
        if self.max_disk_bytes <= 0:
            return
        try:
            self.write_file(key, embedding)
        except OSError as error:
            log.warning("could not write the embedding cache file %s: %s", key, error)

    def write_file(self, key: str, embedding: ImageEmbedding) -> None:
        """Write the disk entry of ``key`` (atomic) and evict beyond the bound.

        Unlike :meth:`put`, raises OSError when the entry cannot be stored: the folder is
        not writable, the disk is full, or the entry is larger than ``max_disk_bytes``
        (``sam-annotator embed`` reports each image it could not cache).
        """
        _check_key(key)
        blob = encode_entry(key, embedding)
        if len(blob) > self.max_disk_bytes:
            raise OSError(
                f"an embedding ({len(blob) / 2**20:.1f} MiB) is larger than the cache bound "
                f"({self.max_disk_bytes / 2**20:.1f} MiB)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path_for(key), blob)
        with self._lock:
            index = self._index()
            index[key] = (len(blob), time.time())
            self._evict_disk(keep=key)

    def stats(self) -> CacheStats:
        with self._lock:
            index = self._index()
            return CacheStats(
                **self._counts,
                memory_entries=len(self._memory),
                memory_bytes=self._memory_bytes,
                disk_entries=len(index),
                disk_bytes=sum(size for size, _ in index.values()),
            )

    # -- internals -------------------------------------------------------------------
    def _remember(self, key: str, embedding: ImageEmbedding) -> None:
        """Insert into the memory LRU and evict the least recently used (lock held)."""
        size = embedding.nbytes
        if size > self.max_memory_bytes:
            return
        previous = self._memory.pop(key, None)
        if previous is not None:
            self._memory_bytes -= previous.nbytes
        self._memory[key] = embedding
        self._memory_bytes += size
        while self._memory_bytes > self.max_memory_bytes:
            _, evicted = self._memory.popitem(last=False)
            self._memory_bytes -= evicted.nbytes

    def _read(self, key: str) -> ImageEmbedding | None:
        path = self.path_for(key)
        try:
            with open(path, "rb") as handle:
                blob = handle.read()
        except FileNotFoundError:
            self._forget_file(key)
            return None
        except OSError as error:
            log.warning("could not read the embedding cache file %s: %s", path, error)
            return None
        try:
            embedding = decode_entry(key, blob)
        except EmbeddingFileError as error:
            log.warning("deleting the unusable embedding cache file %s: %s", path, error)
            with contextlib.suppress(OSError):
                path.unlink()
            with self._lock:
                self._counts["corrupt"] += 1
                self._forget_file(key)
            return None
        now = time.time()
        with contextlib.suppress(OSError):
            os.utime(path, (now, now))  # mark as recently used, for eviction
        with self._lock:
            self._index()[key] = (len(blob), now)
        return embedding

    def _forget_file(self, key: str) -> None:
        with self._lock:
            if self._disk is not None:
                self._disk.pop(key, None)

    def _index(self) -> dict[str, tuple[int, float]]:
        """key -> (size, last use) of the files on disk, scanned once (lock held).

        Temporary files of writes interrupted more than an hour ago are deleted.
        """
        if self._disk is not None:
            return self._disk
        index: dict[str, tuple[int, float]] = {}
        now = time.time()
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            entries = []
        for entry in entries:
            try:
                if not entry.is_file():
                    continue
                info = entry.stat()
            except OSError:
                continue
            name = entry.name
            if name.startswith(".") and name.endswith(".tmp"):
                if now - info.st_mtime > _STALE_TEMP_SECONDS:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                continue
            key = name[: -len(SUFFIX)]
            if name.endswith(SUFFIX) and len(key) == 64:
                index[key] = (info.st_size, info.st_mtime)
        self._disk = index
        return index

    def _evict_disk(self, keep: str) -> None:
        """Delete least recently used files until the total fits (lock held)."""
        index = self._index()
        total = sum(size for size, _ in index.values())
        if total <= self.max_disk_bytes:
            return
        for key in sorted(index, key=lambda k: index[k][1]):
            if total <= self.max_disk_bytes:
                break
            if key == keep:
                continue
            size, _ = index.pop(key)
            total -= size
            try:
                self.path_for(key).unlink()
            except FileNotFoundError:
                pass
            except OSError as error:  # e.g. open by a reader on Windows: retry next time
                log.warning("could not evict embedding cache file %s: %s", key, error)
                continue
            self._counts["evicted"] += 1


def lookup_encoding(
    cache: EmbeddingCache, segmenter: object, image_path: str | os.PathLike[str]
) -> SamEncoding | None:
    """The cached encoding of an image file for ``segmenter``, or None.

    None also when the segmenter cannot restore stored embeddings (e.g. GrabCut) or the
    file cannot be read (the caller's encoder then reports that). Never raises for a bad
    cache entry: it is deleted and reported as a miss.
    """
    if not isinstance(segmenter, SamSegmenter):
        return None
    try:
        key = cache.key_for_file(image_path, segmenter.model_id)
    except OSError:
        return None
    embedding = cache.get(key)
    if embedding is None or embedding.model_id != segmenter.model_id:
        return None
    return segmenter.restore(embedding)


def store_encoding(
    cache: EmbeddingCache,
    segmenter: object,
    image_path: str | os.PathLike[str],
    encoded: object,
) -> None:
    """Keep a fresh SAM encoding of an image file in ``cache`` (other engines: ignored)."""
    if not isinstance(segmenter, SamSegmenter) or not isinstance(encoded, SamEncoding):
        return
    try:
        key = cache.key_for_file(image_path, segmenter.model_id)
    except OSError as error:
        log.warning("not caching the embedding of %s: %s", image_path, error)
        return
    cache.put(key, encoded.embedding)
