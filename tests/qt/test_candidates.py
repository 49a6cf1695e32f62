"""The candidate strip shows previews with their IoU and reports the user's choice."""

from __future__ import annotations

import numpy as np
import pytest

from sam_annotator.qt.docks.candidates import (
    CandidatePreview,
    CandidateStrip,
    candidate_previews,
    compose_preview,
)


def _preview(score: float) -> CandidatePreview:
    return CandidatePreview(np.full((40, 60, 3), 128, np.uint8), score)


def test_shows_scores_in_given_order_and_highlights_the_chosen(qtbot) -> None:
    strip = CandidateStrip()
    qtbot.addWidget(strip)
    strip.set_candidates([_preview(0.93), _preview(0.81), _preview(0.42)], chosen=0)
    assert strip.button_texts() == ["1: IoU 0.93", "2: IoU 0.81", "3: IoU 0.42"]
    assert strip.chosen_index == 0
    with qtbot.waitSignal(strip.chosen) as blocker:
        strip.click(2)
    assert blocker.args == [2]
    strip.set_candidates([], chosen=None)
    assert strip.count() == 0


def test_compose_preview_tints_the_mask_and_dims_the_rest() -> None:
    image = np.full((10, 10, 3), 200, np.uint8)
    mask = np.zeros((10, 10), bool)
    mask[2:5, 2:5] = True
    out = compose_preview(image, mask, (255, 0, 0))
    assert out[3, 3, 0] > out[3, 3, 1]  # tinted red inside
    assert out[8, 8, 0] < 200 and out[8, 8, 0] == out[8, 8, 1]  # dimmed grey outside
    with pytest.raises(ValueError):
        compose_preview(image, np.zeros((5, 5), bool), (0, 0, 0))


def test_previews_zoom_onto_the_candidates_region() -> None:
    base = np.full((400, 600, 3), 100, np.uint8)  # grey: the red tint shows as R > G
    small = np.zeros((400, 600), bool)
    small[100:120, 300:330] = True  # a small object: 20x30 px of a 600x400 photo
    larger = small.copy()
    larger[95:125, 290:340] = True
    previews = candidate_previews(base, [small, larger], (255, 0, 0))
    assert len(previews) == 2 and previews[0].shape == previews[1].shape
    tinted = previews[1][..., 0] > previews[1][..., 1]
    # The larger candidate fills a good part of its preview, not a few pixels of it.
    assert tinted.mean() > 0.25
    assert (previews[0][..., 0] > previews[0][..., 1]).sum() < tinted.sum()
    assert candidate_previews(base, [], (0, 0, 0)) == []


def test_score_name_follows_the_engine(qtbot) -> None:
    strip = CandidateStrip()
    qtbot.addWidget(strip)
    strip.set_candidates([_preview(0.5)], chosen=0, score_name="score")
    assert strip.button_texts() == ["1: score 0.50"]
