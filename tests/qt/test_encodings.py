"""EncodingService: current image first, neighbours prefetched, stale requests dropped."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sam_annotator.qt.encodings import EncodingService, EncodingState
from tests.qt.fakes import FakeSegmenter


def _image(image_id: int) -> np.ndarray:
    image = np.zeros((40, 60, 3), np.uint8)
    image[0, 0, 0] = image_id
    return image


@pytest.fixture
def service(qtbot):
    s = EncodingService(_image)
    yield s
    s.shutdown()


def test_current_first_then_neighbours_all_off_the_gui_thread(qtbot, service) -> None:
    segmenter = FakeSegmenter()
    service.set_segmenter(segmenter)
    with qtbot.waitSignals([service.ready] * 3, timeout=5000):
        service.focus(5, [6, 4])
    assert segmenter.encoded == [5, 6, 4]
    assert threading.get_ident() not in segmenter.encode_threads
    assert all(service.state(i) is EncodingState.READY for i in (4, 5, 6))
    assert service.get(5).image_id_hint == 5


def test_new_focus_supersedes_queued_requests(qtbot, service) -> None:
    gate = threading.Event()
    segmenter = FakeSegmenter(gate=gate)
    service.set_segmenter(segmenter)
    service.focus(1, [2, 3])
    qtbot.waitUntil(lambda: service.state(1) is EncodingState.RUNNING, timeout=5000)
    assert service.state(2) is EncodingState.QUEUED
    service.focus(9, [10])  # the user turned the page before 2 and 3 were encoded
    gate.set()
    qtbot.waitUntil(lambda: len(segmenter.encoded) == 3, timeout=5000)
    assert segmenter.encoded == [1, 9, 10]  # 1 was running: it finished and is kept
    assert service.state(1) is EncodingState.READY
    assert service.state(2) is EncodingState.NONE


def test_cached_encodings_are_not_recomputed(qtbot, service) -> None:
    segmenter = FakeSegmenter()
    service.set_segmenter(segmenter)
    with qtbot.waitSignal(service.ready, timeout=5000):
        service.focus(1)
    service.focus(1)
    qtbot.wait(50)
    assert segmenter.encoded == [1]


def test_failure_is_reported_and_remembered(qtbot) -> None:
    def load(image_id: int) -> np.ndarray:
        if image_id == 2:
            raise OSError("truncated JPEG")
        return _image(image_id)

    service = EncodingService(load)
    try:
        service.set_segmenter(FakeSegmenter())
        with qtbot.waitSignal(service.failed, timeout=5000) as blocker:
            service.focus(2)
        image_id, error = blocker.args
        assert image_id == 2
        assert isinstance(error, OSError) and str(error) == "truncated JPEG"
        assert service.state(2) is EncodingState.FAILED
        assert service.failure(2) is error
    finally:
        service.shutdown()


def test_switching_engine_drops_encodings_and_late_results(qtbot, service) -> None:
    gate = threading.Event()
    old = FakeSegmenter("old", gate=gate)
    service.set_segmenter(old)
    service.focus(1)
    qtbot.waitUntil(lambda: service.state(1) is EncodingState.RUNNING, timeout=5000)
    new = FakeSegmenter("new")
    service.set_segmenter(new)
    gate.set()
    qtbot.waitUntil(lambda: new.encoded == [1], timeout=5000)
    qtbot.waitUntil(lambda: service.get(1) is not None, timeout=5000)
    assert service.get(1).model_id == "new"


def test_memory_is_bounded_but_wanted_images_stay(qtbot) -> None:
    service = EncodingService(_image, max_bytes=2500)  # room for two 1000-byte encodings
    try:
        service.set_segmenter(FakeSegmenter())
        for image_id in (1, 2, 3, 4):
            with qtbot.waitSignal(service.ready, timeout=5000):
                service.focus(image_id)
        assert service.get(4) is not None and service.get(3) is not None
        assert service.get(1) is None and service.get(2) is None
    finally:
        service.shutdown()


def test_an_encoding_of_a_replaced_document_is_never_kept(qtbot, service) -> None:
    """Opening another folder reuses image ids for other images: an encoding that was
    running for the old image 1 must not become the new image 1's."""
    gate = threading.Event()
    segmenter = FakeSegmenter(gate=gate)
    service.set_segmenter(segmenter)
    service.focus(1, [2])
    qtbot.waitUntil(lambda: service.state(1) is EncodingState.RUNNING, timeout=5000)
    service.forget()  # the document's contents were replaced
    assert service.state(2) is EncodingState.NONE  # the queued neighbour is dropped
    with qtbot.waitSignal(service.worker.idle, timeout=5000):
        gate.set()
    assert service.state(1) is EncodingState.NONE and service.get(1) is None
    with qtbot.waitSignal(service.ready, timeout=5000):
        service.focus(1)  # the new image 1 is encoded afresh
    assert segmenter.encoded == [1, 1]
