"""Mapping per-image work over a folder: the in-process runner and the driver's loop.

A batch command describes its work in two pieces:

- a **work factory**: a small picklable object (paths and settings, no model) whose call
  loads the model once and returns the per-image function. The same factory is called
  once in this process (:class:`InProcessRunner`) or once in each Ray actor
  (``commands/distributed.py``), so the model is loaded once per worker, never per image;
- the **per-image function** ``work(item) -> result``: a plain function of one
  :class:`WorkItem`, the only place that calls the model. It raises :class:`ImageFailed`
  for an image it cannot do (unreadable, not writable to the cache): the image is then
  listed, never retried. Any other exception is a bug and stops the run.

A runner's ``start(factory)`` loads the models (raising what the factory raises, e.g. a
bad checkpoint, before any image is touched); its ``map(items)`` yields ``(item, outcome)``
pairs in the order the work finishes (not the input order); the outcome is the function's
result or a :class:`Failed`. Callers that write files in input order (auto,
segment-boxes) put the results back in order themselves; see ``commands/coco_job.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Work = Callable[["WorkItem"], Any]


class WorkFactory(Protocol):
    """Picklable; calling it loads the model and returns the per-image function."""

    def __call__(self) -> Work: ...


@dataclass(frozen=True)
class WorkItem:
    """One image to process: its position in the input, its path relative to the images
    folder (POSIX, for messages and output files), its absolute path, and any per-image
    input the command needs (segment-boxes: its boxes)."""

    index: int
    relative: str
    path: str
    payload: Any = None


class ImageFailed(Exception):
    """The per-image function could not do this image; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Failed:
    """The outcome of an image that could not be done: it is listed, not retried."""

    reason: str


def attempt(work: Work, item: WorkItem) -> Any:
    """``work(item)``, or :class:`Failed` when it raises :class:`ImageFailed`."""
    try:
        return work(item)
    except ImageFailed as error:
        return Failed(error.reason)


class Runner(Protocol):
    """Maps per-image work over items; ``workers`` is how many models run at once."""

    @property
    def workers(self) -> int: ...

    def describe(self) -> str: ...

    def start(self, factory: WorkFactory) -> None: ...

    def map(self, items: Sequence[WorkItem]) -> Iterator[tuple]: ...

    def close(self) -> None: ...


class InProcessRunner:
    """One model in this process, the items one after the other."""

    workers = 1

    def __init__(self) -> None:
        self._work: Work | None = None

    def start(self, factory: WorkFactory) -> None:
        self._work = factory()

    def describe(self) -> str:
        return "in this process"

    def close(self) -> None:
        pass

    def map(self, items: Sequence[WorkItem]) -> Iterator[tuple[WorkItem, Any]]:
        if self._work is None:
            raise RuntimeError("start the runner first")
        for item in items:
            yield item, attempt(self._work, item)


class RunnerError(Exception):
    """The runner cannot go on (e.g. no worker could load the model, no cluster)."""


class Progress:
    """The driver's progress line (done / total, rate, ETA) and messages on lines of their
    own above it, so that a warning is never glued into the progress line."""

    def __init__(self, total: int, done: int = 0, unit: str = "image") -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            initial=done,
            unit=unit,
            file=sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
            disable=None if total else True,  # None: no bar when stderr is not a terminal
        )
        self._disabled = bool(self._bar.disable)
        self.total = total
        self.advanced = 0  # images done in this run
        self._start = time.perf_counter()

    def advance(self, what: str = "") -> None:
        if what:
            self._bar.set_postfix_str(what, refresh=False)
        self._bar.update(1)
        self.advanced += 1

    def message(self, text: str) -> None:
        if self._disabled:
            print(text, file=sys.stderr, flush=True)
        else:
            self._bar.write(text, file=sys.stderr)

    def close(self) -> None:
        self._bar.close()

    @property
    def rate(self) -> float | None:
        """Images per second over the run (None before the first)."""
        elapsed = time.perf_counter() - self._start
        return self.advanced / elapsed if elapsed > 0 and self.advanced else None

    def __enter__(self) -> Progress:
        import logging

        from tqdm.contrib.logging import logging_redirect_tqdm

        # Our warnings (e.g. a cache file that could not be written) go above the bar.
        self._redirect = logging_redirect_tqdm(loggers=[logging.getLogger("sam_annotator")])
        self._redirect.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._redirect.__exit__(*exc)
        self.close()


def listed(names: Iterable[str], limit: int = 10) -> str:
    """A short comma-separated list of names (``..., and N more`` beyond ``limit``)."""
    names = sorted(names)
    text = ", ".join(names[:limit])
    return text + (f", and {len(names) - limit} more" if len(names) > limit else "")
