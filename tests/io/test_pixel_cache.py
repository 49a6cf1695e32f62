"""PixelCache: decode once, share between threads, stay within the byte budget."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from sam_annotator.io.pixel_cache import PixelCache


def _loader(calls: list[Path]):
    def load(path: Path) -> np.ndarray:
        calls.append(path)
        return np.full((10, 10, 3), len(calls), np.uint8)  # 300 bytes

    return load


def test_second_get_is_served_from_memory_read_only() -> None:
    calls: list[Path] = []
    cache = PixelCache(loader=_loader(calls))
    first = cache.get("a.jpg")
    assert cache.get("a.jpg") is first and calls == [Path("a.jpg")]
    with pytest.raises(ValueError):
        first[0, 0, 0] = 1


def test_least_recently_used_images_leave_first() -> None:
    calls: list[Path] = []
    cache = PixelCache(max_bytes=650, loader=_loader(calls))
    cache.get("a")
    cache.get("b")
    cache.get("a")  # a is now the most recent
    cache.get("c")
    assert "a" in cache and "c" in cache and "b" not in cache


def test_loader_errors_propagate_and_nothing_is_cached() -> None:
    def broken(path: Path) -> np.ndarray:
        raise OSError("gone")

    cache = PixelCache(loader=broken)
    with pytest.raises(OSError, match="gone"):
        cache.get("x")
    assert "x" not in cache


def test_threads_share_the_cache() -> None:
    calls: list[Path] = []
    cache = PixelCache(loader=_loader(calls))
    threads = [threading.Thread(target=cache.get, args=(f"img{i % 3}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {str(p) for p in calls} == {"img0", "img1", "img2"}
    assert all(f"img{i}" in cache for i in range(3))
