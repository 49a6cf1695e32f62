"""SAM 2 / 2.1 for images against the official ``sam2`` 1.1.0 on identical random weights:
all three feature levels, mask logits, IoU and object scores, masks, for clicks, boxes,
box + negative click, mask input, multimask on and off, on a landscape and a portrait
photo; the real tiny and small trunks as well as the fast test trunk."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core.sam2 import SAM2ImagePredictor, sam2_from_state_dict
from tests.core.conftest import photo
from tests.core.sam2_oracle import TINY_TEST_OVERRIDES, official_predictor, official_sam2_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def pair():
    official = official_sam2_model("sam2.1/sam2.1_hiera_t", seed=5, overrides=TINY_TEST_OVERRIDES)
    ours = sam2_from_state_dict(official.state_dict(), "random test weights")
    assert ours.spec.name == "tiny_test"
    return official_predictor(official), SAM2ImagePredictor(ours)


PROMPTS = {
    "click": dict(point_coords=[[300, 200]], point_labels=[1]),
    "click, single output": dict(point_coords=[[300, 200]], point_labels=[1],
                                 multimask_output=False),
    "two clicks": dict(point_coords=[[300, 200], [120, 90]], point_labels=[1, 1]),
    "box": dict(box=[60, 40, 380, 300]),
    "box and a negative click": dict(box=[60, 40, 380, 300], point_coords=[[200, 150]],
                                     point_labels=[0], multimask_output=False),
}  # fmt: skip


def assert_close(ours, official, what):
    diff = float(np.abs(np.asarray(ours, dtype=np.float64) - official).max())
    assert diff <= TOLERANCE, f"{what}: max difference {diff}"


def assert_same_masks(ours, official, logits):
    """Equal except where the official logit is within rounding of the threshold."""
    differ = ours != official
    assert not (differ & (np.abs(logits) > TOLERANCE)).any(), int(differ.sum())


@pytest.mark.parametrize("shape", [(400, 480), (480, 360)], ids=["landscape", "portrait"])
def test_features_and_every_prompt_kind_match_the_official(pair, real_data, shape):
    official, ours = pair
    image = photo(real_data, "dog.jpg" if shape[1] > shape[0] else "skateboard_portrait.jpg",
                  *shape)  # fmt: skip
    official.set_image(image)
    ours.set_image(image)
    assert ours._orig_hw == [shape]
    assert_close(ours.get_image_embedding(), official.get_image_embedding().numpy(), "embed")
    for level, (a, b) in enumerate(
        zip(ours._features["high_res_feats"], official._features["high_res_feats"], strict=True)
    ):
        assert a.shape == b.shape
        assert_close(a, b.numpy(), f"high-res level {level}")
    for name, prompt in PROMPTS.items():
        prompt = {k: np.asarray(v) if isinstance(v, list) else v for k, v in prompt.items()}
        expected = official.predict(**prompt, return_logits=True)
        got = ours.predict(**prompt, return_logits=True)
        for index, what in enumerate(("logits", "IoU", "low-res logits")):
            assert got[index].shape == expected[index].shape, name
            assert_close(got[index], expected[index], f"{name}: {what}")
        masks = ours.predict(**prompt)[0]
        assert masks.dtype == np.float32 and set(np.unique(masks)) <= {0.0, 1.0}  # as official
        assert_same_masks(masks, official.predict(**prompt)[0], expected[0])
    # The previous low-res logits fed back as the mask prompt.
    previous = official.predict(point_coords=np.array([[300, 200]]), point_labels=np.array([1]))
    prompt = dict(point_coords=np.array([[300, 200], [100, 120]]), point_labels=np.array([1, 0]),
                  mask_input=previous[2][:1], multimask_output=False)  # fmt: skip
    expected = official.predict(**prompt, return_logits=True)
    for got, want in zip(ours.predict(**prompt, return_logits=True), expected, strict=True):
        assert_close(got, want, "mask input")


def test_object_scores_and_the_dynamic_single_output_match(pair):
    """The decoder's own outputs, batched: object-score logits and the stability-based
    choice of the single output (some prompt sets stable, some not)."""
    official, ours = pair
    image = np.random.default_rng(3).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    official.set_image(image)
    ours.set_image(image)
    points = torch.tensor([[[100.0, 200.0]], [[600.0, 500.0]], [[900.0, 100.0]]])
    labels = torch.ones(3, 1, dtype=torch.int)
    model_off, model_ours = official.model, ours.model
    for multimask in (True, False):
        outputs = []
        for model, predictor in ((model_off, official), (model_ours, ours)):
            sparse, dense = model.sam_prompt_encoder(points=(points, labels), boxes=None,
                                                     masks=None)  # fmt: skip
            features = predictor._features
            outputs.append(model.sam_mask_decoder(
                image_embeddings=features["image_embed"],
                image_pe=model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=multimask, repeat_image=True,
                high_res_features=features["high_res_feats"],
            ))  # fmt: skip
        for index, what in enumerate(("masks", "IoU", "tokens", "object scores")):
            assert_close(outputs[1][index].detach(), outputs[0][index].detach().numpy(), what)


@pytest.mark.parametrize("config", ["sam2.1/sam2.1_hiera_t", "sam2/sam2_hiera_s"])
def test_the_real_trunks_match_the_official(config, real_data):
    official = official_sam2_model(config, seed=11)
    ours = sam2_from_state_dict(official.state_dict(), config)
    assert ours.spec.name == ("tiny" if config.endswith("_t") else "small")
    image = photo(real_data, "truck.jpg", 600, 900)
    expected, got = official_predictor(official), SAM2ImagePredictor(ours)
    expected.set_image(image)
    got.set_image(image)
    assert_close(got.get_image_embedding(), expected.get_image_embedding().numpy(), "embed")
    for a, b in zip(got._features["high_res_feats"], expected._features["high_res_feats"],
                    strict=True):  # fmt: skip
        assert_close(a, b.numpy(), "high-res")
    prompt = dict(point_coords=np.array([[450, 300]]), point_labels=np.array([1]))
    for a, b in zip(got.predict(**prompt, return_logits=True),
                    expected.predict(**prompt, return_logits=True), strict=True):  # fmt: skip
        assert_close(a, b, "click")


def test_a_batch_of_images_matches_the_official_batch(pair, real_data):
    """``set_image_batch`` of two photos of different sizes: every feature level of each
    (the encoder works in strips and row chunks over the whole batch) and a click on the
    second image, against the official ``set_image_batch`` / ``predict_batch``."""
    official, ours = pair
    images = [photo(real_data, "dog.jpg", 400, 480),
              photo(real_data, "skateboard_portrait.jpg", 480, 360)]  # fmt: skip
    official.set_image_batch(images)
    ours.set_image_batch(images)
    assert ours._orig_hw == [(400, 480), (480, 360)]
    assert_close(ours._features["image_embed"], official._features["image_embed"].numpy(),
                 "batch embed")  # fmt: skip
    for a, b in zip(ours._features["high_res_feats"], official._features["high_res_feats"],
                    strict=True):  # fmt: skip
        assert a.shape == b.shape
        assert_close(a, b.numpy(), "batch high-res")
    click = np.array([[200.0, 300.0]])
    expected = official.predict_batch([click, click], [np.array([1]), np.array([1])],
                                      return_logits=True)  # fmt: skip
    coords = torch.tensor(click * 1024 / np.array([360, 480]), dtype=torch.float)[None]
    masks, iou, low_res = ours._predict(coords, torch.ones(1, 1, dtype=torch.int),
                                        img_idx=1, return_logits=True)  # fmt: skip
    assert_close(masks[0], expected[0][1], "batch click: logits")
    assert_close(iou[0], expected[1][1], "batch click: IoU")
    assert_close(low_res[0], expected[2][1], "batch click: low-res logits")


def test_all_outputs_at_low_res_and_an_exported_embedding_predict_the_same(pair, real_data):
    """What the app uses: the 3 multimask outputs and the single one from one call, and
    an image's features (all levels) exported and restored in another predictor."""
    _, ours = pair
    ours.set_image(photo(real_data, "dog.jpg", 400, 480))
    prompt = dict(point_coords=np.array([[300, 200]]), point_labels=np.array([1]))
    low_res, scores = ours.predict_low_res(**prompt)
    multi = ours.predict(**prompt, return_logits=True)
    single = ours.predict(**prompt, multimask_output=False, return_logits=True)
    np.testing.assert_array_equal(np.clip(low_res[:3], -32, 32), multi[2])
    np.testing.assert_array_equal(np.clip(low_res[3:], -32, 32), single[2])
    np.testing.assert_array_equal(scores, np.concatenate([multi[1], single[1]]))
    embedding = ours.export_embedding()
    assert [tuple(t.shape) for t in embedding.high_res_features] == [
        (1, 32, 256, 256), (1, 64, 128, 128)]  # fmt: skip
    restored = SAM2ImagePredictor(ours.model)
    restored.set_embedding(embedding)
    np.testing.assert_array_equal(restored.predict(**prompt, return_logits=True)[0], multi[0])
    other = SAM2ImagePredictor(sam2_from_state_dict(
        {k: v + 1 for k, v in ours.model.state_dict().items()}, "changed"))  # fmt: skip
    with pytest.raises(ValueError, match="computed by model"):
        other.set_embedding(embedding)


@pytest.mark.parametrize(
    "settings",
    [dict(points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0),
     dict(points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0, crop_n_layers=1,
          output_mode="coco_rle"),
     dict(points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0, use_m2m=True,
          points_per_batch=4)],
    ids=["one crop", "crop layer", "m2m refinement"],
)  # fmt: skip
def test_the_mask_generator_gives_the_official_records(pair, real_data, settings):
    """Same records; a mask may differ only by pixels whose logit is within rounding of
    the threshold (a few pixels of a whole-image mask)."""
    from pycocotools import mask as mask_utils
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator as Official

    from sam_core import SAM2AutomaticMaskGenerator

    official, ours = pair
    image = photo(real_data, "dog.jpg", 120, 160)
    expected = Official(official.model, **settings).generate(image)
    got = SAM2AutomaticMaskGenerator(ours.model, **settings).generate(image)
    assert len(got) == len(expected) > 0
    for a, b in zip(got, expected, strict=True):
        assert a["point_coords"] == b["point_coords"] and a["crop_box"] == b["crop_box"]
        assert abs(a["predicted_iou"] - b["predicted_iou"]) <= TOLERANCE
        assert abs(a["stability_score"] - b["stability_score"]) <= 1e-3
        assert np.abs(np.subtract(a["bbox"], b["bbox"])).max() <= 1
        masks = [mask_utils.decode(r) if isinstance(r, dict) else r
                 for r in (a["segmentation"], b["segmentation"])]  # fmt: skip
        differ = int((masks[0].astype(bool) != masks[1].astype(bool)).sum())
        assert differ <= max(3, b["area"] // 1000), (differ, b["area"])
