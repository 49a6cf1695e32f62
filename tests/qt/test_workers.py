"""BackgroundWorker: work happens off the GUI thread, latest request wins, errors arrive."""

from __future__ import annotations

import threading

import pytest

from sam_annotator.qt.workers import BackgroundWorker, describe


@pytest.fixture
def worker(qtbot):
    w = BackgroundWorker("test")
    yield w
    w.shutdown()


def test_job_runs_off_the_gui_thread_and_result_arrives_on_it(qtbot, worker) -> None:
    gui_thread = threading.get_ident()
    seen = {}

    def on_finished(key, result):
        seen["receiver_thread"] = threading.get_ident()
        seen["result"] = (key, result)

    worker.finished.connect(on_finished)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.submit("a", threading.get_ident)
    key, job_thread = seen["result"]
    assert key == "a"
    assert job_thread != gui_thread
    assert seen["receiver_thread"] == gui_thread


def test_queued_job_with_same_key_is_replaced(qtbot, worker) -> None:
    gate = threading.Event()
    results = []
    worker.finished.connect(lambda key, result: results.append((key, result)))
    worker.submit("block", gate.wait)
    qtbot.waitUntil(lambda: worker.running_key == "block", timeout=5000)
    worker.submit("decode", lambda: "old prompts")
    worker.submit("decode", lambda: "new prompts")
    assert worker.queued_keys() == ["decode"]
    gate.set()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
    assert results == [("block", True), ("decode", "new prompts")]


def test_replace_queue_drops_stale_requests_but_not_the_running_one(qtbot, worker) -> None:
    gate = threading.Event()
    done = []
    worker.finished.connect(lambda key, result: done.append(key))
    worker.submit("img0", gate.wait)
    qtbot.waitUntil(lambda: worker.running_key == "img0", timeout=5000)
    worker.replace_queue([("img1", lambda: 1), ("img2", lambda: 2)])
    worker.replace_queue([("img5", lambda: 5), ("img0", lambda: 0), ("img6", lambda: 6)])
    assert worker.queued_keys() == ["img5", "img6"]  # img0 is running: not queued twice
    gate.set()
    qtbot.waitUntil(lambda: len(done) == 3, timeout=5000)
    assert done == ["img0", "img5", "img6"]


def test_exception_is_reported_and_worker_goes_on(qtbot, worker) -> None:
    failures = []
    worker.failed.connect(lambda key, error: failures.append((key, error)))

    def broken():
        raise OSError("disk on fire")

    with qtbot.waitSignal(worker.finished, timeout=5000) as blocker:
        worker.submit("bad", broken)
        worker.submit("good", lambda: 42)
    ((key, error),) = failures
    assert key == "bad" and isinstance(error, OSError)
    assert describe(error) == "OSError: disk on fire"
    assert blocker.args == ["good", 42]


def test_idle_is_signalled_when_queue_drains(qtbot, worker) -> None:
    with qtbot.waitSignal(worker.idle, timeout=5000):
        worker.submit("x", lambda: None)
    assert not worker.is_busy()
