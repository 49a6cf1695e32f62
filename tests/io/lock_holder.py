"""A process that takes a project lock and holds it (for the lock tests).

    python -m tests.io.lock_holder PROJECT_PATH

Prints "locked" once it holds the lock (or "busy <message>" if it cannot), then waits
until it is killed or its stdin closes.
"""

from __future__ import annotations

import sys

from sam_annotator.io.project_lock import ProjectLock, ProjectLockedError


def main() -> None:
    lock = ProjectLock(sys.argv[1])
    try:
        lock.acquire()
    except ProjectLockedError as error:
        print("busy", error, flush=True)
        return
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes stdin (or kills us)
    lock.release()


if __name__ == "__main__":
    main()
