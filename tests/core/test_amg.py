"""SamAutomaticMaskGenerator against the official one, and its helpers and extensions.

Random weights give speckled, low-scored masks whose boxes cover the whole image, so
the thresholds are lowered and box NMS is relaxed (1.0) in the pipeline comparisons to
keep many masks; our NMS is compared separately with an independent greedy NMS on
random boxes (tests/oracle.py), where it has real work to do.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from sam_core import GenerationCancelled, SamAutomaticMaskGenerator, SamPredictor
from sam_core.utils import amg
from tests.core.conftest import synthetic_image
from tests.oracle import _batched_nms

IMAGE = synthetic_image(101, 157)
LOOSE = {"pred_iou_thresh": 0.0, "box_nms_thresh": 1.0, "stability_score_offset": 0.05}


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def _assert_same_records(ours: list[dict], official: list[dict]) -> None:
    assert len(ours) == len(official)
    for mine, theirs in zip(ours, official, strict=True):
        assert _mask_iou(mine["segmentation"], theirs["segmentation"]) >= 0.99
        assert mine["predicted_iou"] == pytest.approx(theirs["predicted_iou"], abs=1e-3)
        assert mine["stability_score"] == pytest.approx(theirs["stability_score"], abs=1e-3)
        assert mine["bbox"] == theirs["bbox"] and mine["area"] == theirs["area"]
        assert mine["point_coords"] == theirs["point_coords"]
        assert mine["crop_box"] == theirs["crop_box"]


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"points_per_side": 4, "stability_score_thresh": 0.6}, id="grid"),
        pytest.param(
            {"points_per_side": 3, "stability_score_thresh": 0.0, "min_mask_region_area": 30},
            id="small-regions",
        ),
        pytest.param(
            {
                "points_per_side": 2,
                "stability_score_thresh": 0.0,
                "crop_n_layers": 1,
                "crop_nms_thresh": 1.0,
            },
            id="crops",
        ),
    ],
)
def test_same_masks_as_the_official_generator(
    tiny_model, official_tiny_model, official_sa, settings
) -> None:
    options = {**LOOSE, **settings}
    ours = SamAutomaticMaskGenerator(tiny_model, **options).generate(IMAGE)
    official = official_sa.SamAutomaticMaskGenerator(official_tiny_model, **options).generate(IMAGE)
    assert len(official) >= 4, "too few masks survive to compare anything"
    _assert_same_records(ours, official)


def test_small_region_removal_really_changes_masks(tiny_model) -> None:
    options = {**LOOSE, "points_per_side": 3, "stability_score_thresh": 0.0}
    raw = SamAutomaticMaskGenerator(tiny_model, **options).generate(IMAGE)
    cleaned = SamAutomaticMaskGenerator(tiny_model, **options, min_mask_region_area=30).generate(
        IMAGE
    )
    assert sum(r["area"] for r in raw) != sum(r["area"] for r in cleaned)


@pytest.mark.parametrize("mode", ["uncompressed_rle", "coco_rle"])
def test_rle_output_modes_match_the_official(
    tiny_model, official_tiny_model, official_sa, mode
) -> None:
    from pycocotools import mask as coco_mask

    options = {**LOOSE, "points_per_side": 2, "stability_score_thresh": 0.0, "output_mode": mode}
    ours = SamAutomaticMaskGenerator(tiny_model, **options).generate(IMAGE)
    official = official_sa.SamAutomaticMaskGenerator(official_tiny_model, **options).generate(IMAGE)
    assert len(ours) == len(official) > 0
    for mine, theirs in zip(ours, official, strict=True):
        assert mine["segmentation"] == theirs["segmentation"]
        if mode == "coco_rle":
            assert coco_mask.decode(mine["segmentation"]).sum() == mine["area"]


def test_nothing_surviving_gives_an_empty_list(tiny_model) -> None:
    generator = SamAutomaticMaskGenerator(tiny_model, points_per_side=2, pred_iou_thresh=0.99)
    assert generator.generate(IMAGE) == []


def test_nms_matches_an_independent_greedy_nms() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        xy = rng.uniform(0, 80, (60, 2))
        wh = rng.uniform(5, 40, (60, 2))
        boxes = torch.as_tensor(np.concatenate([xy, xy + wh], 1), dtype=torch.float)
        scores = torch.as_tensor(rng.uniform(0, 1, 60), dtype=torch.float)
        categories = torch.as_tensor(rng.integers(0, 3, 60))
        ours = amg.batched_nms(boxes, scores, categories, 0.4)
        reference = _batched_nms(boxes, scores, categories, 0.4)
        assert 5 < len(ours) < 60
        assert ours.tolist() == reference.tolist()


def test_helpers_match_the_official_ones(official_sa) -> None:
    official = official_sa.utils.amg
    for n in (1, 4, 7):
        np.testing.assert_allclose(amg.build_point_grid(n), official.build_point_grid(n))
    for size in ((101, 157), (640, 427), (1500, 2250)):
        for layers in (0, 1, 2):
            assert amg.generate_crop_boxes(size, layers, 512 / 1500) == (
                official.generate_crop_boxes(size, layers, 512 / 1500)
            )
    rng = np.random.default_rng(1)
    masks = torch.as_tensor(rng.uniform(size=(4, 23, 31)) > 0.7)
    masks[1] = False  # an empty mask
    masks[2, 0, 0] = True  # a mask starting with a foreground run
    assert amg.mask_to_rle_pytorch(masks) == official.mask_to_rle_pytorch(masks)
    for rle in amg.mask_to_rle_pytorch(masks):
        np.testing.assert_array_equal(amg.rle_to_mask(rle), official.rle_to_mask(rle))
        assert amg.area_from_rle(rle) == official.area_from_rle(rle)
    assert torch.equal(amg.batched_mask_to_box(masks), official.batched_mask_to_box(masks))
    logits = torch.as_tensor(rng.normal(size=(5, 40, 50)), dtype=torch.float)
    assert torch.equal(
        amg.calculate_stability_score(logits, 0.0, 0.3),
        official.calculate_stability_score(logits, 0.0, 0.3),
    )
    boxes = torch.tensor([[0, 0, 50, 50], [30, 30, 99, 79], [10, 10, 60, 60]])
    assert torch.equal(
        amg.is_box_near_crop_edge(boxes, [20, 10, 120, 90], [0, 0, 200, 100]),
        official.is_box_near_crop_edge(boxes, [20, 10, 120, 90], [0, 0, 200, 100]),
    )
    blob = np.zeros((40, 40), bool)
    blob[5:30, 5:30] = True
    blob[10:12, 10:12] = False  # a small hole
    blob[35:37, 35:37] = True  # a small island
    for mode in ("holes", "islands"):
        mine, changed = amg.remove_small_regions(blob, 10, mode)
        theirs, their_changed = official.remove_small_regions(blob, 10, mode)
        np.testing.assert_array_equal(mine, theirs)
        assert changed == their_changed is True


def test_progress_counts_every_batch(tiny_model) -> None:
    calls = []
    generator = SamAutomaticMaskGenerator(
        tiny_model, points_per_side=3, points_per_batch=4, **LOOSE
    )
    generator.generate(IMAGE, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]  # 9 points in batches of 4


def test_cancel_stops_at_the_next_batch(tiny_model) -> None:
    cancel = threading.Event()
    batches = []

    def progress(done: int, total: int) -> None:
        batches.append(done)
        cancel.set()

    generator = SamAutomaticMaskGenerator(tiny_model, points_per_side=3, points_per_batch=2)
    with pytest.raises(GenerationCancelled):
        generator.generate(IMAGE, progress=progress, cancel=cancel)
    assert batches == [1]
    with pytest.raises(GenerationCancelled):
        generator.generate(IMAGE, cancel=lambda: True)


def test_a_given_embedding_replaces_the_encoder(tiny_model, monkeypatch) -> None:
    predictor = SamPredictor(tiny_model)
    predictor.set_image(IMAGE)
    embedding = predictor.export_embedding()
    options = {**LOOSE, "points_per_side": 3, "stability_score_thresh": 0.5}
    expected = SamAutomaticMaskGenerator(tiny_model, **options).generate(IMAGE)
    generator = SamAutomaticMaskGenerator(tiny_model, **options)
    encodes = []
    original = generator.predictor.set_image
    monkeypatch.setattr(
        generator.predictor, "set_image", lambda *a, **k: (encodes.append(1), original(*a, **k))
    )
    reused = generator.generate(IMAGE, embedding=embedding)
    assert encodes == []
    _assert_same_records(reused, expected)
    with pytest.raises(ValueError, match="embedding"):
        generator.generate(IMAGE[:50], embedding=embedding)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output_mode": "polygons"}, "output_mode"),
        ({"points_per_side": None}, "exactly one"),
        ({"point_grids": [amg.build_point_grid(2)]}, "exactly one"),
        ({"points_per_batch": 0}, "points_per_batch"),
    ],
)
def test_bad_settings_are_refused(tiny_model, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SamAutomaticMaskGenerator(tiny_model, **kwargs)


def test_grayscale_images_are_refused_with_a_hint(tiny_model) -> None:
    generator = SamAutomaticMaskGenerator(tiny_model, points_per_side=2)
    with pytest.raises(ValueError, match="(?i)gray|channel"):
        generator.generate(IMAGE[..., 0])


def test_the_generator_runs_on_mobilesam_like_on_the_vit_models() -> None:
    """vit_t shares the predictor and decoder: same output records, same mask size."""
    from sam_core import sam_model_registry

    torch.manual_seed(0)
    model = sam_model_registry["vit_t"]().eval()
    image = synthetic_image(120, 160, seed=3)
    generator = SamAutomaticMaskGenerator(
        model, points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0
    )
    records = generator.generate(image)
    assert records, "no mask at all"
    for record in records:
        assert record["segmentation"].shape == (120, 160)
        assert record["area"] == int(record["segmentation"].sum())
