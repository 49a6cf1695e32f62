"""keep_freed_memory: the app's glibc settings apply (on Linux/glibc) and are idempotent."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_settings_apply_and_freed_memory_is_kept() -> None:
    """In a fresh process: after a 48 MiB block (above glibc's largest mmap threshold) is
    freed, the next one is not faulted in again (minor page faults barely grow)."""
    script = """
import resource, sys
from sam_annotator.inference.allocator import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory() and keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = bytearray(b"\x01") * (48 << 20); del a
before = faults()
for _ in range(5):
    a = bytearray(b"\x01") * (48 << 20); del a
print(faults() - before)
"""
    counts = {}
    for mode in ("default", "kept"):
        result = subprocess.run(
            [sys.executable, "-c", script, mode], capture_output=True, text=True, check=True
        )
        counts[mode] = int(result.stdout)
    pages = 5 * (48 << 20) // 4096
    assert counts["default"] > pages // 2  # glibc unmapped and faulted every block in again
    assert counts["kept"] < pages // 20


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_release_hands_back_the_holes_kept_memory_leaves() -> None:
    """In a fresh process with the app's settings: 200 MiB of freed blocks held below a
    small live one stay resident until release_freed_memory hands their pages back."""
    script = """
import sys
from sam_annotator.inference.allocator import keep_freed_memory, release_freed_memory
assert keep_freed_memory()
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
blocks = [bytearray(b"\x01") * (8 << 20) for _ in range(25)]
live = bytearray(b"\x01") * 4096  # allocated above them: the heap top cannot shrink
del blocks
held = rss()
assert release_freed_memory()
print(held - rss())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert int(result.stdout) > 150 * 1024  # KiB given back
