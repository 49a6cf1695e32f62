"""Image encodings for the app: computed on a worker, kept for the current neighbourhood.

`EncodingService.focus(current, neighbours)` makes sure the current image is encoded
first, then its neighbours (prefetch); a new focus supersedes queued requests (latest
wins; a running encode finishes and is kept). Finished encodings stay in memory for the
images of the latest focus and a few recent ones, bounded in bytes. `state(image_id)`
tells the image list what to show.

The service never runs anything heavy on the GUI thread: loading the pixels and encoding
both happen in the job. An optional `lookup`/`store` pair (e.g. the disk embedding
cache) lets the job skip the encoder for an image seen before.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from sam_annotator.inference.segmenter import EncodedImage, Segmenter
from sam_annotator.qt.workers import BackgroundWorker

LoadImage = Callable[[int], np.ndarray]  # image id -> HxWx3 uint8 RGB


class EncodingState(enum.Enum):
    NONE = "not encoded"
    QUEUED = "queued"
    RUNNING = "encoding"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class EncodeResult:
    encoded: EncodedImage
    seconds: float
    from_cache: bool
    generation: int  # the service's document generation when the job was made


class EncodingService(QObject):
    ready = Signal(int, float)  # image id, seconds it took
    failed = Signal(int, object)  # image id, the exception that stopped it
    stateChanged = Signal(int)  # image id

    def __init__(
        self,
        load_image: LoadImage,
        *,
        max_bytes: int = 256 * 2**20,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._load_image = load_image
        self._segmenter: Segmenter | None = None
        self._max_bytes = max_bytes
        self._store: OrderedDict[int, EncodedImage] = OrderedDict()
        self._failed: dict[int, Exception] = {}
        self._wanted: list[int] = []
        self._generation = 0  # bumped when the document's images are replaced
        self.lookup: Callable[[int, Segmenter], EncodedImage | None] | None = None
        self.store_hook: Callable[[int, Segmenter, EncodedImage], None] | None = None
        self.worker = BackgroundWorker("encode", self)
        self.worker.started.connect(self._on_started)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)

    # -- configuration -------------------------------------------------------------------
    @property
    def segmenter(self) -> Segmenter | None:
        return self._segmenter

    def set_segmenter(self, segmenter: Segmenter | None) -> None:
        """Use another engine: every encoding of the previous one is forgotten."""
        self._segmenter = segmenter
        self._store.clear()
        self._failed.clear()
        self.worker.replace_queue([])
        if self._wanted:
            self.focus(self._wanted[0], self._wanted[1:])

    def forget(self, image_id: int | None = None) -> None:
        """Drop one image's encoding and failure (or all of them: the document's
        contents were replaced, so image ids now name other images; queued jobs are
        dropped and the result of a running one will be ignored)."""
        if image_id is None:
            self._store.clear()
            self._failed.clear()
            self._wanted = []
            self._generation += 1
            self.worker.replace_queue([])
        else:
            self._store.pop(image_id, None)
            self._failed.pop(image_id, None)

    # -- requests ------------------------------------------------------------------------
    def focus(self, current: int, neighbours: Sequence[int] = ()) -> None:
        """Encode `current` first, then `neighbours`, dropping older queued requests."""
        self._wanted = [current, *[n for n in neighbours if n != current]]
        previously_queued = set(self.worker.queued_keys())
        jobs = []
        if self._segmenter is not None:
            for image_id in self._wanted:
                if image_id in self._store or image_id in self._failed:
                    continue
                jobs.append((image_id, self._job(image_id, self._segmenter)))
        self.worker.replace_queue(jobs)
        for image_id in previously_queued | {key for key, _ in jobs}:
            self.stateChanged.emit(image_id)

    def get(self, image_id: int) -> EncodedImage | None:
        encoded = self._store.get(image_id)
        if encoded is not None:
            self._store.move_to_end(image_id)
        return encoded

    def state(self, image_id: int) -> EncodingState:
        if image_id in self._store:
            return EncodingState.READY
        if image_id in self._failed:
            return EncodingState.FAILED
        if self.worker.running_key == image_id:
            return EncodingState.RUNNING
        if image_id in self.worker.queued_keys():
            return EncodingState.QUEUED
        return EncodingState.NONE

    def failure(self, image_id: int) -> Exception | None:
        """Why encoding ``image_id`` failed (the exception), or None."""
        return self._failed.get(image_id)

    def shutdown(self) -> None:
        self.worker.shutdown(timeout=5.0)

    # -- worker side ---------------------------------------------------------------------
    def _job(self, image_id: int, segmenter: Segmenter) -> Callable[[], EncodeResult | None]:
        lookup, store_hook, load = self.lookup, self.store_hook, self._load_image
        generation = self._generation

        def encode() -> EncodeResult:
            start = time.perf_counter()
            if lookup is not None:
                cached = lookup(image_id, segmenter)
                if cached is not None:
                    return EncodeResult(cached, time.perf_counter() - start, True, generation)
            encoded = segmenter.encode(load(image_id))
            if store_hook is not None:
                store_hook(image_id, segmenter, encoded)
            return EncodeResult(encoded, time.perf_counter() - start, False, generation)

        def run() -> EncodeResult | None:
            """The encoding, or None for an image of a document replaced since (its
            failure then means nothing: the image id may be another image's now)."""
            if generation != self._generation:
                return None
            try:
                return encode()
            except Exception:
                if generation != self._generation:
                    return None
                raise

        return run

    # -- results (GUI thread) ------------------------------------------------------------
    def _on_started(self, key: Hashable) -> None:
        if isinstance(key, int):
            self.stateChanged.emit(key)

    def _on_finished(self, key: Hashable, result: object) -> None:
        if not isinstance(key, int) or not isinstance(result, EncodeResult):
            return
        if result.generation != self._generation:
            return  # an image of the document before it was replaced
        segmenter = self._segmenter
        if segmenter is None or result.encoded.model_id != segmenter.model_id:
            # Made by an engine that was replaced meanwhile: encode again if still wanted.
            if key in self._wanted:
                self.focus(self._wanted[0], self._wanted[1:])
            self.stateChanged.emit(key)
            return
        self._store[key] = result.encoded
        self._store.move_to_end(key)
        self._evict()
        self.stateChanged.emit(key)
        self.ready.emit(key, result.seconds)

    def _on_failed(self, key: Hashable, error: Exception) -> None:
        if not isinstance(key, int):
            return
        self._failed[key] = error
        self.stateChanged.emit(key)
        self.failed.emit(key, error)

    def _evict(self) -> None:
        wanted = set(self._wanted)
        total = sum(e.nbytes for e in self._store.values())
        for image_id in list(self._store):
            if total <= self._max_bytes:
                break
            if image_id in wanted:
                continue
            total -= self._store.pop(image_id).nbytes
