"""Work factories for the Ray runner tests (importable by Ray's worker processes).

Each factory is a small picklable object, as the commands' are; the per-image function
it returns writes what it does into a folder of marker files, so the test (another
process) learns about it by events, not by a clock.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from sam_annotator.commands.runner import WorkItem


@dataclass(frozen=True)
class BlockOnceWork:
    """Squares item.index. The first attempt at ``block_index`` announces its process id
    in ``markers/started-<index>`` and waits there (until killed); later attempts finish.
    Every attempt is recorded as ``markers/attempt-<index>-<pid>``."""

    markers: str
    block_index: int

    def __call__(self):
        folder = Path(self.markers)

        def work(item: WorkItem) -> int:
            (folder / f"attempt-{item.index}-{os.getpid()}").touch()
            started = folder / f"started-{item.index}"
            if item.index == self.block_index and not started.exists():
                started.write_text(str(os.getpid()))
                while True:  # the test kills this process now
                    time.sleep(0.05)
            return item.index * item.index

        return work


@dataclass(frozen=True)
class KillerWork:
    """Squares item.index, except that ``poison_index`` kills its worker every time."""

    poison_index: int

    def __call__(self):
        def work(item: WorkItem) -> int:
            if item.index == self.poison_index:
                os._exit(9)  # as the kernel's OOM killer would: no exception, no cleanup
            return item.index * item.index

        return work
