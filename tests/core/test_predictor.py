"""SamPredictor: input validation, BGR input, and exported / restored embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core import (
    PREPROCESSING_VERSION,
    ImageEmbedding,
    ImageNotSetError,
    SamPredictor,
    build_sam_vit_tiny_test,
    model_id,
)
from tests.core.conftest import random_state_dict, synthetic_image

IMAGE = synthetic_image(150, 230, seed=11)
CLICK = {"point_coords": np.array([[120.0, 70.0]]), "point_labels": np.array([1])}


@pytest.fixture(scope="module")
def predictor(tiny_model) -> SamPredictor:
    predictor = SamPredictor(tiny_model)
    predictor.set_image(IMAGE)
    return predictor


@pytest.fixture(scope="module")
def other_model(tiny_state_dict):
    """A tiny model with different weights."""
    model = build_sam_vit_tiny_test()
    model.load_state_dict(random_state_dict(tiny_state_dict, seed=1))
    return model.eval()


def assert_same_outputs(first, second) -> None:
    for a, b in zip(first, second, strict=True):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b)


# ------------------------------------------------------------------ not set


def test_everything_needs_an_image_first(tiny_model):
    predictor = SamPredictor(tiny_model)
    assert not predictor.is_image_set
    calls = [
        lambda: predictor.predict(**CLICK),
        lambda: predictor.predict_torch(torch.zeros(1, 1, 2), torch.ones(1, 1)),
        predictor.get_image_embedding,
        predictor.export_embedding,
    ]
    for call in calls:
        with pytest.raises(ImageNotSetError, match="set_image"):
            call()
    # A ValueError as the project wants, and a RuntimeError as the official raises.
    assert issubclass(ImageNotSetError, ValueError)
    assert issubclass(ImageNotSetError, RuntimeError)


def test_reset_image_forgets_the_image(tiny_model):
    predictor = SamPredictor(tiny_model)
    predictor.set_image(IMAGE)
    assert predictor.is_image_set and predictor.features is not None
    predictor.reset_image()
    assert not predictor.is_image_set
    assert predictor.features is None and predictor.original_size is None
    with pytest.raises(ImageNotSetError):
        predictor.predict(**CLICK)


# ------------------------------------------------------------------ images


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((40, 50), np.uint8), "grayscale"),
        (np.zeros((40, 50, 1), np.uint8), "grayscale"),
        (np.zeros((40, 50, 4), np.uint8), "alpha"),
        (np.zeros((40, 50, 2), np.uint8), "HxWx3"),
        (np.zeros((2, 40, 50, 3), np.uint8), "HxWx3"),
        (np.zeros((40, 50, 3), np.float32), "uint8"),
        (np.zeros((40, 50, 3), np.uint16), "uint8"),
        (np.zeros((0, 50, 3), np.uint8), "empty"),
    ],
    ids=["gray", "gray1", "rgba", "2ch", "batch", "float", "uint16", "empty"],
)
def test_bad_images_are_rejected_with_a_hint(tiny_predictor, image, message):
    with pytest.raises(ValueError, match=message):
        tiny_predictor.set_image(image)


def test_bad_image_format(tiny_predictor):
    with pytest.raises(ValueError, match="'RGB' or 'BGR'"):
        tiny_predictor.set_image(IMAGE, image_format="HSV")


def test_bgr_input_is_flipped_to_rgb(predictor, tiny_model):
    bgr = SamPredictor(tiny_model)
    bgr.set_image(np.ascontiguousarray(IMAGE[..., ::-1]), image_format="BGR")
    assert torch.equal(bgr.get_image_embedding(), predictor.get_image_embedding())
    assert_same_outputs(bgr.predict(**CLICK), predictor.predict(**CLICK))
    # And the channel order matters: the same array read as RGB gives another embedding.
    as_rgb = SamPredictor(tiny_model)
    as_rgb.set_image(np.ascontiguousarray(IMAGE[..., ::-1]))
    assert not torch.equal(as_rgb.get_image_embedding(), predictor.get_image_embedding())


def test_set_torch_image_validates_its_input(tiny_predictor):
    with pytest.raises(ValueError, match="1x3xhxw"):
        tiny_predictor.set_torch_image(torch.zeros(3, 1024, 600), (300, 175))
    with pytest.raises(ValueError, match="long side 1024"):
        tiny_predictor.set_torch_image(torch.zeros(1, 3, 512, 300), (300, 175))
    with pytest.raises(ValueError, match="1x3xhxw"):
        tiny_predictor.set_torch_image(torch.zeros(2, 3, 1024, 600), (300, 175))
    with pytest.raises(ValueError, match="original_image_size"):
        tiny_predictor.set_torch_image(torch.zeros(1, 3, 1024, 600), (0, 175))


def test_outputs_have_the_official_shapes(predictor):
    masks, iou, low_res = predictor.predict(**CLICK)
    assert masks.shape == (3, 150, 230) and masks.dtype == np.bool_
    assert iou.shape == (3,) and iou.dtype == np.float32
    assert low_res.shape == (3, 256, 256) and low_res.dtype == np.float32
    logits, _, _ = predictor.predict(**CLICK, multimask_output=False, return_logits=True)
    assert logits.shape == (1, 150, 230) and logits.dtype == np.float32
    assert predictor.original_size == (150, 230)
    assert predictor.input_size == (668, 1024)
    assert predictor.device == torch.device("cpu")


# ------------------------------------------------------------------ prompts


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"point_coords": np.array([[1.0, 2.0], [3.0, 4.0]]), "point_labels": [1]},
            "2 point_coords but 1",
        ),
        ({"point_coords": np.array([[1.0, 2.0]])}, "without point_labels"),
        ({"point_labels": np.array([1])}, "without point_coords"),
        ({"point_coords": np.array([[1.0, 2.0]]), "point_labels": [2]}, "1 \\(object\\) or 0"),
        ({"point_coords": np.array([[1.0, 2.0]]), "point_labels": [-1]}, "1 \\(object\\) or 0"),
        ({"point_coords": np.array([[1.0, 2.0]]), "point_labels": [0.5]}, "1 \\(object\\) or 0"),
        ({"point_coords": np.array([1.0, 2.0]), "point_labels": [1]}, "\\[\\[x, y\\]\\]"),
        ({"point_coords": np.zeros((2, 3)), "point_labels": [1, 1]}, "Nx2"),
        ({"point_coords": np.array([[np.nan, 2.0]]), "point_labels": [1]}, "finite"),
        ({"point_coords": [["a", "b"]], "point_labels": [1]}, "numbers"),
        ({"box": np.array([1.0, 2.0, 3.0])}, "4 numbers"),
        ({"box": np.array([1.0, 2.0, 3.0, 4.0, 5.0])}, "4 numbers"),
        ({"box": np.zeros((2, 4))}, "4 numbers"),
        ({"box": np.array([50.0, 10.0, 20.0, 40.0])}, "x0 <= x1"),
        ({"box": np.array([10.0, 50.0, 20.0, 40.0])}, "y0 <= y1"),
        ({"box": np.array([0.0, 0.0, np.inf, 4.0])}, "finite"),
        ({"mask_input": np.zeros((256, 256))}, "1x256x256"),
        ({"mask_input": np.zeros((1, 64, 64))}, "1x256x256"),
        ({"mask_input": np.zeros((3, 256, 256))}, "1x256x256"),
    ],
)
def test_bad_prompts_are_rejected(predictor, kwargs, message):
    with pytest.raises(ValueError, match=message):
        predictor.predict(**kwargs)


def test_valid_prompt_variants_are_accepted(predictor):
    box = np.array([20.0, 30.0, 120.0, 140.0])
    reference = predictor.predict(box=box)
    # A 1x4 box, a list, and a degenerate (zero-area) box are fine.
    assert_same_outputs(predictor.predict(box=box[None, :]), reference)
    assert_same_outputs(predictor.predict(box=box.tolist()), reference)
    predictor.predict(box=np.array([20.0, 30.0, 20.0, 30.0]))
    # Lists and boolean labels.
    assert_same_outputs(
        predictor.predict(point_coords=[[120.0, 70.0]], point_labels=[True]),
        predictor.predict(**CLICK),
    )
    # No prompt at all is allowed, as in the official predictor.
    masks, _, _ = predictor.predict()
    assert masks.shape == (3, 150, 230)


def test_predict_torch_validates_shapes(predictor):
    coords = torch.zeros(2, 3, 2)
    labels = torch.ones(2, 3, dtype=torch.int)
    with pytest.raises(ValueError, match="together"):
        predictor.predict_torch(coords, None)
    with pytest.raises(ValueError, match="BxNx2"):
        predictor.predict_torch(torch.zeros(3, 2), labels)
    with pytest.raises(ValueError, match="point_labels must be BxN"):
        predictor.predict_torch(coords, torch.ones(2, 2))
    with pytest.raises(ValueError, match="Bx4"):
        predictor.predict_torch(None, None, boxes=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="Bx1x256x256"):
        predictor.predict_torch(None, None, mask_input=torch.zeros(2, 256, 256))
    with pytest.raises(ValueError, match="batch sizes differ"):
        predictor.predict_torch(coords, labels, boxes=torch.zeros(3, 4))


def test_inference_keeps_no_autograd_graph(predictor):
    masks, iou, low_res = predictor.predict_torch(
        torch.tensor([[[500.0, 300.0]]]), torch.ones(1, 1, dtype=torch.int)
    )
    for tensor in (masks, iou, low_res, predictor.features):
        assert not tensor.requires_grad
        assert tensor.is_inference()


# ------------------------------------------------------------------ embeddings


def test_export_and_set_embedding_restore_the_state(predictor, tiny_model):
    embedding = predictor.export_embedding()
    assert isinstance(embedding, ImageEmbedding)
    assert embedding.features.shape == (1, 256, 64, 64)
    assert embedding.features.device == torch.device("cpu")
    assert embedding.features.dtype == torch.float32
    assert embedding.original_size == (150, 230)
    assert embedding.input_size == (668, 1024)
    assert embedding.model_id == model_id(tiny_model) == predictor.model_id
    assert embedding.model_id.startswith("vit_tiny_test-")
    assert embedding.preprocessing == PREPROCESSING_VERSION

    restored = SamPredictor(tiny_model)
    restored.set_embedding(embedding)
    assert restored.is_image_set
    assert restored.original_size == predictor.original_size
    assert restored.input_size == predictor.input_size
    assert torch.equal(restored.features, predictor.features)
    mask_input = predictor.predict(**CLICK)[2][:1]
    for kwargs in (
        CLICK,
        {"box": np.array([20.0, 30.0, 120.0, 140.0]), "multimask_output": False},
        {**CLICK, "mask_input": mask_input, "return_logits": True},
    ):
        assert_same_outputs(restored.predict(**kwargs), predictor.predict(**kwargs))


def test_exported_embedding_is_a_copy(predictor):
    embedding = predictor.export_embedding()
    embedding.features.zero_()
    assert predictor.features.abs().sum() > 0
    assert not embedding.features.is_inference()


def test_set_embedding_replaces_another_image(tiny_model, predictor):
    embedding = predictor.export_embedding()
    other = SamPredictor(tiny_model)
    other.set_image(synthetic_image(90, 60, seed=4))
    other.set_embedding(embedding)
    assert other.original_size == (150, 230)
    assert_same_outputs(other.predict(**CLICK), predictor.predict(**CLICK))


def test_set_embedding_refuses_another_models_embedding(predictor, other_model):
    embedding = predictor.export_embedding()
    foreign = SamPredictor(other_model)
    assert foreign.model_id != predictor.model_id
    with pytest.raises(ValueError, match="computed by model"):
        foreign.set_embedding(embedding)
    assert not foreign.is_image_set


def test_set_embedding_refuses_other_preprocessing_and_bad_values(predictor):
    embedding = predictor.export_embedding()
    old = ImageEmbedding(
        features=embedding.features,
        original_size=embedding.original_size,
        input_size=embedding.input_size,
        model_id=embedding.model_id,
        preprocessing="opencv-v0",
    )
    with pytest.raises(ValueError, match="preprocessing"):
        predictor.set_embedding(old)
    mismatched = ImageEmbedding(
        features=embedding.features,
        original_size=(150, 231),
        input_size=embedding.input_size,
        model_id=embedding.model_id,
    )
    with pytest.raises(ValueError, match="does not match original_size"):
        predictor.set_embedding(mismatched)
    small = ImageEmbedding(
        features=torch.zeros(1, 256, 32, 32),
        original_size=embedding.original_size,
        input_size=embedding.input_size,
        model_id=embedding.model_id,
    )
    with pytest.raises(ValueError, match="expected \\(1, 256, 64, 64\\)"):
        predictor.set_embedding(small)
    with pytest.raises(ValueError, match="ImageEmbedding"):
        predictor.set_embedding(embedding.features)


def test_image_embedding_validates_its_fields():
    features = torch.zeros(1, 256, 64, 64)
    with pytest.raises(ValueError, match="1xCxhxw"):
        ImageEmbedding(torch.zeros(256, 64, 64), (10, 10), (1024, 1024), "m")
    with pytest.raises(ValueError, match="original_size"):
        ImageEmbedding(features, (10,), (1024, 1024), "m")
    with pytest.raises(ValueError, match="input_size must be positive"):
        ImageEmbedding(features, (10, 10), (0, 1024), "m")
    with pytest.raises(ValueError, match="model_id"):
        ImageEmbedding(features, (10, 10), (1024, 1024), "")
    embedding = ImageEmbedding(features, [10, 12], (853, 1024), "m")
    assert embedding.original_size == (10, 12)
    with pytest.raises(AttributeError):
        embedding.model_id = "other"  # frozen


def test_model_id_follows_the_weights(tiny_state_dict, tiny_model):
    twin = build_sam_vit_tiny_test()
    twin.load_state_dict(tiny_state_dict)
    assert model_id(twin) == model_id(tiny_model)  # same weights, separate objects
    assert model_id(twin) == model_id(twin)
    with torch.no_grad():
        twin.mask_decoder.iou_token.weight[0, 0] += 1e-3  # in place: the id must change
    changed = model_id(twin)
    assert changed != model_id(tiny_model)
    twin.load_state_dict(tiny_state_dict)
    assert model_id(twin) == model_id(tiny_model)
    with torch.device("meta"):
        ghost = build_sam_vit_tiny_test()
    with pytest.raises(ValueError, match="meta"):
        model_id(ghost)


def test_pipeline_creates_no_tensor_on_a_fixed_device():
    """Everything runs on the model's device: on ``meta`` a tensor created on the CPU
    by mistake would fail to combine with the model's (a stand-in for CUDA here)."""
    with torch.device("meta"):
        model = build_sam_vit_tiny_test()
    predictor = SamPredictor(model)
    assert predictor.device == torch.device("meta")
    predictor.set_image(IMAGE)
    assert predictor.features.device.type == "meta"
    coords = torch.zeros(2, 3, 2, device="meta")
    labels = torch.ones(2, 3, dtype=torch.int, device="meta")
    for kwargs in (
        {},
        {"boxes": torch.zeros(2, 4, device="meta")},
        {"mask_input": torch.zeros(2, 1, 256, 256, device="meta")},
    ):
        masks, iou, low_res = predictor.predict_torch(coords, labels, **kwargs)
        assert masks.device.type == "meta" and masks.shape == (2, 3, 150, 230)
        assert iou.shape == (2, 3) and low_res.shape == (2, 3, 256, 256)
    record = {
        "image": torch.zeros(3, 1024, 683, device="meta"),
        "original_size": (300, 200),
        "boxes": torch.zeros(1, 4, device="meta"),
    }
    (output,) = model([record], multimask_output=False)
    assert output["masks"].shape == (1, 1, 300, 200)
