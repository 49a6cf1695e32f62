"""Real file-system conditions for the safety tests: a read-only folder and a full disk.

Both need a small tmpfs, which only root may mount (Linux); where that is not possible the
helpers say so and the tests fall back (a chmod for read-only as a normal user) or skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _mount(*args: str) -> bool:
    if os.name != "posix" or shutil.which("mount") is None:
        return False
    result = subprocess.run(["mount", *args], capture_output=True)
    return result.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def small_tmpfs(path: Path, size: str = "256k") -> Iterator[bool]:
    """Mount a tmpfs of `size` at `path` (created); yields False where mounting fails."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path))
    try:
        yield mounted
    finally:
        if mounted:
            _umount(path)


@contextmanager
def read_only_copy(source_files: list[Path], path: Path) -> Iterator[bool]:
    """A folder at `path` holding copies of `source_files` that nobody may write to.

    As root: a tmpfs remounted read-only (root ignores permission bits). As a user: the
    folder's write bits removed. Yields False where neither makes the folder read-only.
    """
    total = sum(f.stat().st_size for f in source_files) + (1 << 20)
    with small_tmpfs(path, size=str(total)) as mounted:
        for file in source_files:
            shutil.copy(file, path / file.name)
        if mounted:
            ok = _mount("-o", "remount,ro", str(path))
        else:
            path.chmod(0o555)
            ok = not os.access(path, os.W_OK)
        try:
            yield ok
        finally:
            if not mounted:
                path.chmod(0o755)
