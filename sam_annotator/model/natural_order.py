"""The order people expect for file names: ``frame2`` before ``frame10``. No Qt."""

from __future__ import annotations

import re


def natural_key(text: str) -> tuple:
    """Sort key: digit runs compare as numbers, letters without case ('a2' < 'A10')."""
    parts = re.split(r"(\d+)", text.casefold())
    return (tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), text)
