"""Propagation behind the Segmenter seam: a SAM 2.1 segmenter tracks an object from a
person's masks exactly as sam_core's SAM2VideoPredictor does with those masks as prompts;
keyframes are never answered; cancel stops it; engines without video memory say so."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from sam_annotator.inference.grabcut import GrabCutSegmenter
from sam_annotator.inference.sam_segmenter import SamSegmenter, load_sam_segmenter
from sam_annotator.inference.segmenter import (
    TrackingCancelledError,
    TrackingError,
    TrackRequest,
    UnsupportedOperationError,
)
from sam_annotator.model.tracks import Direction, Span, propagation_spans
from sam_core import build_sam2, build_sam_vit_tiny_test
from sam_core.sam2.video_predictor import build_sam2_video_predictor

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
FRAMES = 3


@pytest.fixture(scope="module")
def clip(real_data, tmp_path_factory):
    """FRAMES 320x240 JPEG frames of a window moving over a real photo."""
    folder = tmp_path_factory.mktemp("clip")
    photo = cv2.imread(str(real_data / "images" / "cars.jpg"))
    paths = []
    for index in range(FRAMES):
        crop = photo[200 + 15 * index : 1100 + 15 * index, 300 + 50 * index : 1500 + 50 * index]
        paths.append(folder / f"frame{index}.jpg")
        cv2.imwrite(str(paths[-1]), cv2.resize(crop, (320, 240), interpolation=cv2.INTER_AREA))
    return tuple(paths)


def car_mask() -> np.ndarray:
    mask = np.zeros((240, 320), bool)
    mask[110:170, 60:180] = True
    return mask


@pytest.fixture(scope="module")
def answers(tracking_sam2_checkpoint, clip):
    """The segmenter's answers for a keyframe on the middle frame, both ways."""
    segmenter = load_sam_segmenter(tracking_sam2_checkpoint)
    spans = tuple(propagation_spans(FRAMES, {1}, 1, Direction.BOTH))
    got: list[tuple[int, np.ndarray | None]] = []
    segmenter.track(TrackRequest(clip, {1: car_mask()}, spans), lambda i, m: got.append((i, m)))
    return segmenter, got


def test_tracking_is_sam2s_video_predictor_with_the_keyframes_as_mask_prompts(
    answers, tracking_sam2_checkpoint, clip
):
    _, got = answers
    assert [index for index, _ in got] == [2, 0]  # forward, then backward; not the keyframe
    predictor = build_sam2_video_predictor(tracking_sam2_checkpoint)
    state = predictor.init_state([str(p) for p in clip])
    predictor.add_new_mask(state, 1, "car", car_mask())
    expected = {}
    for reverse in (False, True):
        for index, _, logits in predictor.propagate_in_video(state, 1, 1, reverse=reverse):
            expected[index] = (logits[0, 0] > 0).numpy()
    for index, mask in got:
        assert mask is not None and mask.shape == (240, 320) and mask.dtype == bool
        assert np.array_equal(mask, expected[index]), f"frame {index}"
    assert not np.array_equal(got[0][1], got[1][1])  # the frames differ


def test_cancel_stops_between_frames(answers, clip):
    segmenter, _ = answers
    cancel = threading.Event()
    got = []

    def on_frame(index, mask):
        got.append(index)
        cancel.set()

    request = TrackRequest(clip, {0: car_mask()}, (Span(0, 2, reverse=False),))
    with pytest.raises(TrackingCancelledError):
        segmenter.track(request, on_frame, cancel=cancel)
    assert got == [1]


def test_unreadable_frames_and_bad_requests_say_what_is_wrong(answers, clip, tmp_path):
    segmenter, _ = answers
    other_size = tmp_path / "other.jpg"
    cv2.imwrite(str(other_size), np.zeros((100, 100, 3), np.uint8))
    request = TrackRequest((clip[0], other_size), {0: car_mask()}, (Span(0, 1, False),))
    with pytest.raises(TrackingError, match="other.jpg: 100x100, the first frame is 320x240"):
        segmenter.track(request, lambda i, m: None)
    wrong_mask = TrackRequest(clip, {0: np.ones((10, 10), bool)}, (Span(0, 1, False),))
    with pytest.raises(ValueError, match="10x10 mask on 240x320 frames"):
        segmenter.track(wrong_mask, lambda i, m: None)
    with pytest.raises(ValueError, match="not a keyframe"):
        TrackRequest(clip, {0: car_mask()}, (Span(1, 2, False),))
    with pytest.raises(ValueError, match="HxW bool"):
        TrackRequest(clip, {0: car_mask().astype(np.uint8)}, ())
    with pytest.raises(ValueError, match="keyframe 5"):
        TrackRequest(clip, {5: car_mask()}, ())


def test_engines_without_video_memory_say_so(clip):
    request = TrackRequest(clip, {0: car_mask()}, (Span(0, 1, False),))
    engines = {
        "GrabCut": GrabCutSegmenter(),
        "SAM 1 has no video memory": SamSegmenter(build_sam_vit_tiny_test()),
        "no video parts": SamSegmenter(build_sam2("sam2_tiny_test")),
    }
    for reason, engine in engines.items():
        with pytest.raises(UnsupportedOperationError, match=reason):
            engine.track(request, lambda i, m: None)
