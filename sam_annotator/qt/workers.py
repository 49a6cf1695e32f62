"""Background work off the GUI thread: one worker abstraction, latest request wins.

`BackgroundWorker` runs jobs on its own Python thread, one at a time, and reports back
through Qt signals, which Qt delivers on the GUI thread (queued connection, because the
signals are emitted from the worker thread). Jobs are keyed:

- `submit(key, fn)` queues a job; a queued job with the same key is replaced (latest
  wins), e.g. the decoder: only the newest prompt state is worth decoding.
- `replace_queue(jobs)` drops every queued job and queues these instead, e.g. the encoder:
  opening an image queues [current, next, previous]; turning the page again before they
  ran supersedes them.

A job that is already running is never interrupted (torch cannot be stopped mid-call);
its result still arrives, tagged with its key, and the receiver decides whether it is
still wanted. A job's exception arrives as `failed(key, exception)`, never as a crash:
receivers test its type (`isinstance`), and `describe(exception)` words it for the user.
"""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from PySide6.QtCore import QObject, Signal

Job = Callable[[], Any]


def describe(error: BaseException) -> str:
    """An exception as one line for the status bar: ``"TypeName: message"``."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class BackgroundWorker(QObject):
    """One background thread that runs keyed jobs in order; see the module docstring."""

    started = Signal(object)  # key
    finished = Signal(object, object)  # key, result
    failed = Signal(object, object)  # key, the job's exception
    idle = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._queue: OrderedDict[Hashable, Job] = OrderedDict()
        self._running_key: Hashable | None = None
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"worker-{name}", daemon=True)
        self._thread.start()

    # -- requests (GUI thread) ---------------------------------------------------------
    def submit(self, key: Hashable, job: Job) -> None:
        """Queue `job`; a queued job with the same key is replaced by this one."""
        with self._condition:
            self._queue.pop(key, None)
            self._queue[key] = job
            self._condition.notify()

    def replace_queue(self, jobs: Iterable[tuple[Hashable, Job]]) -> None:
        """Drop all queued jobs and queue `jobs` in order (the running job goes on)."""
        with self._condition:
            self._queue.clear()
            for key, job in jobs:
                if key != self._running_key:
                    self._queue[key] = job
            self._condition.notify()

    def cancel(self, key: Hashable) -> None:
        """Forget a queued job (a running one still finishes)."""
        with self._condition:
            self._queue.pop(key, None)

    def queued_keys(self) -> list[Hashable]:
        with self._condition:
            return list(self._queue)

    @property
    def running_key(self) -> Hashable | None:
        with self._condition:
            return self._running_key

    def is_busy(self) -> bool:
        with self._condition:
            return self._running_key is not None or bool(self._queue)

    def shutdown(self, timeout: float | None = 30.0) -> None:
        """Stop after the running job; queued jobs are dropped."""
        with self._condition:
            self._stopping = True
            self._queue.clear()
            self._condition.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # -- the worker thread -------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                key, job = self._queue.popitem(last=False)
                self._running_key = key
            self.started.emit(key)
            try:
                result = job()
            except Exception as exc:  # reported to the GUI, never raised into Qt
                traceback.print_exc()
                with self._condition:
                    self._running_key = None
                    now_idle = not self._queue
                self.failed.emit(key, exc)
            else:
                with self._condition:
                    self._running_key = None
                    now_idle = not self._queue
                self.finished.emit(key, result)
            if now_idle:
                self.idle.emit()
