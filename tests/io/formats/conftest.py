"""Shared inputs of the format tests: the real COCO excerpt (tests/data/coco) as a Document."""

from __future__ import annotations

import numpy as np
import pytest

from sam_annotator.io.formats import format_module


@pytest.fixture
def coco_document(real_data):
    """The COCO val2017 excerpt: 6 images (one without annotations), 36 annotations
    (one multi-part, one crowd RLE), 80 categories."""
    document, _report = format_module("coco").read(
        real_data / "coco" / "instances_val2017_subset.json", real_data / "coco" / "images"
    )
    return document


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
