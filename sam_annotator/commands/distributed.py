"""The Ray runner: the batch commands' per-image work on a pool of model-holding actors.

The only module that imports Ray (the optional extra ``sam-annotator[cluster]``).

- Pool: one actor per GPU (``--device cuda``: each holds ``num_gpus=1``) or ``--workers N``
  CPU actors (``num_cpus=1`` each; torch then runs one thread per actor, so N actors use
  N cores). Each actor calls the command's work factory once: one model per worker.
- Scheduling: each actor has at most ``DEPTH`` images in flight (one running, one queued,
  so it never waits for the driver); the driver hands out the next image as a result
  comes back. Only small things travel: the item (paths) out, the result (a status,
  polygons) back; images are read and embeddings written by the workers, on the
  filesystem every node shares.
- Faults: when an actor's process dies (killed, out of memory, node lost), what it had
  finished is kept, its unfinished images go back to the front of the queue and a fresh
  actor takes its place. Only the image it was running (its oldest unfinished one) is
  charged an attempt, not the one queued behind it; an image is tried at most
  ``MAX_ATTEMPTS`` times: one that kills its worker every time is listed as failed, not
  retried forever, and does not take an innocent neighbour with it. An image the work
  itself cannot do (unreadable) is a result, never retried. An exception from the work
  that is not ``ImageFailed`` is a bug: it stops the run (what was committed stays
  committed).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from sam_annotator.commands.runner import Failed, RunnerError, WorkFactory, WorkItem, attempt

DEPTH = 2
MAX_ATTEMPTS = 3
_READY_TIMEOUT_S = 600.0  # loading a model on a cold node (checkpoint over NFS)


class _Worker:
    """A Ray actor holding one model (built by the factory, once)."""

    def __init__(self, factory: WorkFactory) -> None:
        self._work = factory()

    def pid(self) -> int:
        return os.getpid()

    def process(self, item: WorkItem) -> Any:
        return attempt(self._work, item)


class RayRunner:
    """Per-image work on Ray actors; see the module docstring.

    ``address``: None starts a local Ray instance on this machine (or uses the one this
    process already joined); ``"auto"`` or ``"ray://host:10001"`` joins an existing
    cluster. ``workers``: number of actors (None: one per GPU with ``gpus_per_worker``,
    else one per CPU of the cluster).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        use_gpu: bool = False,
    ) -> None:
        if workers is not None and workers < 1:
            raise RunnerError("--workers must be at least 1")
        self._started = False
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address,
                    log_to_driver=False,  # workers report through results, not stray lines
                    logging_level=logging.WARNING,
                    include_dashboard=False if address is None else None,
                )
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise RunnerError(f"cannot reach the Ray cluster {address!r}: {error}") from None
            self._started = True
        resources = ray.cluster_resources()
        self._use_gpu = use_gpu
        if use_gpu:
            gpus = int(resources.get("GPU", 0))
            if gpus < 1:
                self.close()
                raise RunnerError("--device cuda: the Ray cluster has no GPU")
            self._workers = workers or gpus
        else:
            self._workers = workers or max(1, int(resources.get("CPU", 1)))
        self._actor_class = ray.remote(_Worker).options(
            num_cpus=0 if use_gpu else 1, num_gpus=1 if use_gpu else 0, max_restarts=0
        )
        self.pids: list[int] = []  # worker process ids, for tests and diagnostics
        self.replaced = 0  # actors that died and were replaced

    @property
    def workers(self) -> int:
        return self._workers

    def describe(self) -> str:
        kind = "GPU" if self._use_gpu else "CPU"
        return f"on Ray, {self._workers} {kind} worker{'s' if self._workers > 1 else ''}"

    def start(self, factory: WorkFactory) -> None:
        """Start the pool: every worker loads the model (RunnerError if one cannot)."""
        self._factory_ref = ray.put(factory)
        self._slots = self._spawn(self._workers)

    def _spawn(self, count: int) -> list[Any]:
        """``count`` new actors, each with its model loaded."""
        actors = [self._actor_class.remote(self._factory_ref) for _ in range(count)]
        try:
            pids = ray.get([actor.pid.remote() for actor in actors], timeout=_READY_TIMEOUT_S)
        except RayActorError as error:
            for actor in actors:
                ray.kill(actor)
            raise RunnerError(f"a worker could not load the model: {_cause(error)}") from None
        except GetTimeoutError:
            for actor in actors:
                ray.kill(actor)
            raise RunnerError(
                f"the workers did not start within {_READY_TIMEOUT_S:.0f} s: does the "
                "cluster have the resources asked for?"
            ) from None
        self.pids.extend(pids)
        return actors

    def map(self, items: Sequence[WorkItem]) -> Iterator[tuple[WorkItem, Any]]:
        """Yield ``(item, outcome)`` as results arrive, each item exactly once."""
        slots = self._slots
        queue: deque[WorkItem] = deque(items)
        tries: dict[int, int] = {}
        generation = [0] * len(slots)  # bumped when a slot's actor is replaced
        in_flight: dict[Any, tuple[int, int, WorkItem]] = {}  # ref -> (slot, gen, item)
        submitted: list[deque[Any]] = [deque() for _ in slots]  # refs, in submission order
        while queue or in_flight:
            for slot, actor in enumerate(slots):
                while queue and len(submitted[slot]) < DEPTH:
                    item = queue.popleft()
                    ref = actor.process.remote(item)
                    in_flight[ref] = (slot, generation[slot], item)
                    submitted[slot].append(ref)
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            slot, gen, item = in_flight.pop(ref)
            try:
                outcome = ray.get(ref)
            except RayActorError:
                if gen != generation[slot]:
                    continue  # an image of an actor already replaced: requeued then
                yield from self._replace_dead(slot, ref, item, in_flight, submitted, tries, queue)
                generation[slot] += 1
                continue
            if gen == generation[slot]:
                submitted[slot].remove(ref)
            yield item, outcome

    def _replace_dead(self, slot, dead_ref, dead_item, in_flight, submitted, tries, queue):
        """The actor of ``slot`` died: yield what it finished before, charge one attempt
        to the image it was running (the oldest unfinished: an actor runs its images in
        submission order; the ones queued behind it are not charged), put the unfinished
        ones back at the front of the queue (or list the running one as failed after
        ``MAX_ATTEMPTS``), and start a fresh actor in its place."""
        refs = list(submitted[slot])
        items = {r: in_flight.pop(r)[2] for r in refs if r != dead_ref}
        items[dead_ref] = dead_item
        others = [r for r in refs if r != dead_ref]
        ready = set(ray.wait(others, num_returns=len(others), timeout=0)[0]) if others else set()
        lost = []
        for r in refs:
            if r in ready:
                try:
                    finished = ray.get(r)
                except RayActorError:
                    lost.append(items[r])
                else:
                    yield items[r], finished
                    continue
            else:
                lost.append(items[r])
        ray.kill(self._slots[slot])
        [self._slots[slot]] = self._spawn(1)
        submitted[slot].clear()
        self.replaced += 1
        running, waiting = lost[0], lost[1:]
        tries[running.index] = tries.get(running.index, 0) + 1
        if tries[running.index] >= MAX_ATTEMPTS:
            yield running, Failed(f"its worker died {MAX_ATTEMPTS} times processing it")
            retry = waiting
        else:
            retry = lost
        queue.extendleft(reversed(retry))

    def close(self) -> None:
        """Stop the workers and leave Ray (stopping the local instance it started)."""
        for actor in getattr(self, "_slots", []):
            ray.kill(actor)
        self._slots = []
        if self._started and ray.is_initialized():
            ray.shutdown()
        self._started = False


def _cause(error: Exception) -> str:
    """The first line of what a worker raised (Ray wraps it in a long report)."""
    text = str(error).strip()
    for line in reversed(text.splitlines()):
        if line.strip() and not line.startswith(" "):
            return line.strip()
    return text
