"""Fidelity on real COCO masks at default settings (the numbers: bench/polygon_fidelity.py)."""

from __future__ import annotations

import pytest

from bench.polygon_fidelity import DATASETS, measure_file

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.mark.parametrize("dataset", DATASETS)
def test_round_trip_iou_parts_and_holes_on_real_coco_masks(real_data, dataset):
    results = measure_file(real_data / dataset)
    assert len(results) >= 12
    for r in results:
        if r.pixels >= 1000:
            assert r.iou >= 0.98, r
        elif r.pixels >= 100:
            assert r.iou >= 0.95, r
        assert r.parts_kept == r.parts, r
        assert r.holes_kept == r.holes, r
        assert r.vertices >= 3 * r.parts


def test_the_data_exercises_multi_part_masks_and_holes(real_data):
    results = [r for d in DATASETS for r in measure_file(real_data / d)]
    assert any(r.parts > 1 for r in results)
    assert any(r.holes > 0 for r in results)
