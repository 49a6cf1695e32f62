"""SAM 2's tracking step against the official ``SAM2Base.track_step`` (as the official
video predictor builds it) on identical random weights, over a short real sequence: a
moving window over a real photo. Clicks on the first frame, tracking forward, a
correction on a later frame, a mask prompt, tracking in reverse; two objects at once."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from sam_core.checkpoint import CheckpointKeysError
from sam_core.sam2.build import sam2_from_state_dict, sam2_tracker_from_state_dict
from sam_core.sam2.tracker import FrameOutput, PointInputs
from tests.core.sam2_oracle import official_video_model

TOLERANCE = 1e-4  # logits, object scores, object pointers (the bound)
#: A frame prompted by clicks is memorised from its binarised mask: a pixel whose logit
#: is within rounding of 0 may fall on the other side (at most this share of pixels).
FLIPPED_SHARE = 1e-5
FRAMES = 6


@pytest.fixture(scope="module")
def models():
    """{"2.1": (official, ours), "2.0": (official, ours)} on the tiny test trunk."""
    pairs = {}
    for version, config in (("2.1", "sam2.1/sam2.1_hiera_t"), ("2.0", "sam2/sam2_hiera_t")):
        official = official_video_model(config, seed=11)
        pairs[version] = official, sam2_tracker_from_state_dict(official.state_dict(), "test")
    return pairs


@pytest.fixture(scope="module")
def frames(real_data):
    """FRAMES normalised 1x3x1024x1024 frames: a window sliding over a real photo."""
    with open(real_data / "images" / "cars.jpg", "rb") as file:
        photo = cv2.cvtColor(cv2.imdecode(np.frombuffer(file.read(), np.uint8), 1),
                             cv2.COLOR_BGR2RGB)  # fmt: skip
    mean = np.array([0.485, 0.456, 0.406]) * 255
    std = np.array([0.229, 0.224, 0.225]) * 255
    out = []
    for index in range(FRAMES):
        crop = photo[100 + 20 * index : 1100 + 20 * index, 300 + 60 * index : 1800 + 60 * index]
        crop = cv2.resize(crop, (1024, 1024), interpolation=cv2.INTER_AREA)
        tensor = torch.from_numpy(((crop - mean) / std).astype(np.float32)).permute(2, 0, 1)
        out.append(tensor[None].repeat(2, 1, 1, 1))  # two objects: a batch of two
    return out


class Sequence:
    """Drive both implementations' tracking steps with the same calls and compare."""

    def __init__(self, official, ours, frames):
        self.official, self.ours, self.frames = official, ours, frames
        self.official_dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        self.cond: dict[int, FrameOutput] = {}
        self.non_cond: dict[int, FrameOutput] = {}
        self._official_cache = {}

    def _official_features(self, index):
        if index not in self._official_cache:
            backbone = self.official.forward_image(self.frames[index])
            self._official_cache[index] = self.official._prepare_backbone_features(backbone)[1:]
        return self._official_cache[index]

    def step(self, index, *, init=False, points=None, mask=None, reverse=False):
        cond = points is not None or mask is not None
        feats, pos, sizes = self._official_features(index)
        official_points = None if points is None else {
            "point_coords": points.coords, "point_labels": points.labels}  # fmt: skip
        expected = self.official.track_step(
            frame_idx=index, is_init_cond_frame=init, current_vision_feats=feats,
            current_vision_pos_embeds=pos, feat_sizes=sizes, point_inputs=official_points,
            mask_inputs=mask, output_dict=self.official_dict, num_frames=FRAMES,
            track_in_reverse=reverse,
        )  # fmt: skip
        features = self.ours.frame_features(self.frames[index])
        got = self.ours.track_step(
            index, init, features, points, mask,
            self.cond, self.non_cond, FRAMES, track_in_reverse=reverse,
        )  # fmt: skip
        for name in ("pred_masks", "pred_masks_high_res", "obj_ptr", "object_score_logits"):
            torch.testing.assert_close(
                getattr(got, name),
                expected[name],
                rtol=TOLERANCE,
                atol=TOLERANCE,
                msg=lambda m, n=name: f"frame {index}, {n}: {m}",
            )
        flipped = (got.pred_masks_high_res > 0) != (expected["pred_masks_high_res"] > 0)
        assert flipped.float().mean() <= FLIPPED_SHARE, (index, int(flipped.sum()))
        # The memory: ours made from the official's mask equals the official's.
        official = FrameOutput(*(expected[name] for name in (
            "pred_masks", "pred_masks_high_res", "obj_ptr", "object_score_logits")))  # fmt: skip
        self.ours._encode_memory(features, official, from_points=points is not None)
        torch.testing.assert_close(official.maskmem_features, expected["maskmem_features"],
                                   rtol=TOLERANCE, atol=TOLERANCE)  # fmt: skip
        torch.testing.assert_close(official.maskmem_pos_enc, expected["maskmem_pos_enc"][-1])
        if not flipped.any():
            torch.testing.assert_close(got.maskmem_features, official.maskmem_features,
                                       rtol=TOLERANCE, atol=TOLERANCE)  # fmt: skip
        # Both go on from the official's outputs, so each step is compared on identical
        # memories (a flipped threshold pixel does not snowball).
        got = official
        kind = "cond_frame_outputs" if cond else "non_cond_frame_outputs"
        self.official_dict[kind][index] = expected
        (self.cond if cond else self.non_cond)[index] = got
        if cond:  # a corrected frame is a conditioning frame from now on
            self.official_dict["non_cond_frame_outputs"].pop(index, None)
            self.non_cond.pop(index, None)
        return got


def clicks(*rows) -> PointInputs:
    coords = torch.tensor([[[x, y] for x, y, _ in row] for row in rows], dtype=torch.float32)
    labels = torch.tensor([[label for _, _, label in row] for row in rows], dtype=torch.int32)
    return PointInputs(coords, labels)


def test_tracking_matches_the_official_step_by_step(models, frames):
    """SAM 2.1: two objects; clicks, tracking, a correction, a mask, both directions."""
    official, ours = models["2.1"]
    sequence = Sequence(official, ours, frames)
    with torch.inference_mode():
        first = sequence.step(0, init=True,
                              points=clicks([(500, 500, 1)], [(250, 700, 1)]))  # fmt: skip
        assert first.pred_masks.shape == (2, 1, 256, 256)
        sequence.step(1)
        # A correction on frame 2 (a positive and a negative click) ...
        sequence.step(2, points=clicks([(520, 480, 1), (900, 100, 0)],
                                       [(260, 690, 1), (100, 900, 0)]))  # fmt: skip
        # ... a mask given for frame 5, then frame 1 tracked in reverse (frames after it
        # are its past): the memories of frames 2 and 5, the pointers of 2 and 5.
        mask = torch.zeros(2, 1, 1024, 1024)
        mask[0, :, 300:700, 350:750] = 1
        mask[1, :, 600:900, 100:400] = 1
        sequence.step(5, mask=mask)
        sequence.step(1, reverse=True)
    assert sorted(sequence.cond) == [0, 2, 5] and sorted(sequence.non_cond) == [1]


def test_sam_2_0_tracking_matches_the_official(models, frames):
    """SAM 2.0 (no temporal encoding of object pointers, no spatial no-object embedding)."""
    official, ours = models["2.0"]
    sequence = Sequence(official, ours, [frame[:1] for frame in frames])
    with torch.inference_mode():
        sequence.step(0, init=True, points=clicks([(500, 500, 1)]))
        sequence.step(1)
        sequence.step(2, points=clicks([(520, 480, 1), (900, 100, 0)]))


def test_the_tracker_needs_the_whole_checkpoint(models):
    official, _ours = models["2.1"]
    image_only = sam2_from_state_dict(official.state_dict(), "test").state_dict()
    with pytest.raises(CheckpointKeysError, match="memory_attention"):
        sam2_tracker_from_state_dict(image_only, "image only")
