"""Peak memory growth of a piece of work in this process (Linux): reset the peak resident
size through ``/proc/self/clear_refs``, then compare ``VmHWM`` with the size before."""

from __future__ import annotations

from pathlib import Path


def resident_kib(field: str) -> int:
    """A ``/proc/self/status`` size field (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def start() -> int:
    """Reset the peak to the current size; returns the current size (KiB)."""
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    return resident_kib("VmRSS")


def growth_mib(before_kib: int) -> float:
    """How far the peak rose above `before_kib` since `start`, in MiB."""
    return (resident_kib("VmHWM") - before_kib) / 1024
