"""SamSegmenter: SAM behind the Segmenter seam, equal to the predictor it wraps."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from sam_annotator.inference.grabcut import GrabCutSegmenter
from sam_annotator.inference.sam_segmenter import (
    SamEncoding,
    SamSegmenter,
    _resample_logits,
    load_sam_segmenter,
)
from sam_annotator.inference.segmenter import (
    SINGLE_MASK_INDEX,
    EncodedImage,
    PromptSet,
    Segmenter,
)
from sam_core import SamPredictor, build_sam_vit_tiny_test


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_sam_vit_tiny_test()


@pytest.fixture(scope="module")
def segmenter(model) -> SamSegmenter:
    return SamSegmenter(model)


@pytest.fixture(scope="module")
def photo(real_data) -> np.ndarray:
    with Image.open(real_data / "images" / "dog.jpg") as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def encoded(segmenter, photo) -> SamEncoding:
    return segmenter.encode(photo)


@pytest.fixture(scope="module")
def predictor(model, photo) -> SamPredictor:
    predictor = SamPredictor(model)
    predictor.set_image(photo)
    return predictor


def test_it_is_a_segmenter(segmenter, encoded, photo) -> None:
    assert isinstance(segmenter, Segmenter)
    assert isinstance(encoded, EncodedImage)
    assert segmenter.name == "SAM vit_tiny_test" or segmenter.name.startswith("SAM ")
    assert encoded.original_size == photo.shape[:2]
    assert encoded.model_id == segmenter.model_id
    assert encoded.nbytes == 256 * 64 * 64 * 4


def test_decode_equals_the_predictor_with_pixel_centre_coordinates(
    segmenter, encoded, predictor
) -> None:
    # A click in the middle of pixel (row 200, column 300) is (300.5, 200.5) on the canvas.
    prompts = PromptSet(points=((300.5, 200.5), (500.5, 100.5)), labels=(1, 0))
    candidates = segmenter.decode(encoded, prompts, multimask=True)
    _, scores, low_res = predictor.predict(
        point_coords=np.array([[300, 200], [500, 100]], np.float32),
        point_labels=np.array([1, 0]),
    )
    assert [c.index for c in candidates] == list(np.argsort(-scores))
    for candidate in candidates:
        assert candidate.score == pytest.approx(float(scores[candidate.index]), abs=1e-6)
        np.testing.assert_allclose(candidate.low_res_logits, low_res[candidate.index], atol=1e-5)
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)


def test_single_output_box_and_mask_input(segmenter, encoded, predictor) -> None:
    first = segmenter.decode(encoded, PromptSet(box=(100.5, 50.5, 400.5, 300.5)))
    logits = first[0].low_res_logits
    prompts = PromptSet(
        points=((250.5, 150.5),), labels=(0,), box=(100.5, 50.5, 400.5, 300.5), mask_input=logits
    )
    (single,) = segmenter.decode(encoded, prompts, multimask=False)
    assert single.index == SINGLE_MASK_INDEX
    _, scores, low_res = predictor.predict(
        point_coords=np.array([[250, 150]], np.float32),
        point_labels=np.array([0]),
        box=np.array([100, 50, 400, 300], np.float32),
        mask_input=logits[None],
        multimask_output=False,
    )
    assert single.score == pytest.approx(float(scores[0]), abs=1e-6)
    np.testing.assert_allclose(single.low_res_logits, low_res[0], atol=1e-5)


def test_full_size_render_is_the_official_mask(segmenter, encoded, predictor) -> None:
    candidates = segmenter.decode(encoded, PromptSet(points=((400.5, 260.5),), labels=(1,)))
    masks, _, _ = predictor.predict(
        point_coords=np.array([[400, 260]], np.float32), point_labels=np.array([1])
    )
    for candidate in candidates:
        full = segmenter.render(encoded, candidate)
        assert full.dtype == bool and full.shape == (534, 800)
        np.testing.assert_array_equal(full, masks[candidate.index])
        small = segmenter.render(encoded, candidate, (267, 400))
        assert small.dtype == bool and small.shape == (267, 400)


def test_display_and_full_size_render_use_the_models_threshold(
    segmenter, encoded, model, monkeypatch
) -> None:
    """What the user sees is what accept stores, whatever the model's mask threshold."""
    (candidate, *_) = segmenter.decode(encoded, PromptSet(points=((400.5, 260.5),), labels=(1,)))
    at_zero = segmenter.render(encoded, candidate, (267, 400))
    threshold = float(np.quantile(candidate.low_res_logits, 0.75))  # logits of a random model
    monkeypatch.setattr(model, "mask_threshold", threshold)
    full = segmenter.render(encoded, candidate)
    small = segmenter.render(encoded, candidate, (267, 400))
    # The display follows the full-size mask at this threshold, not the one at zero (the
    # random model's logits are noise, so the two sizes agree only roughly: ~94 % vs ~65 %).
    agreement = np.mean(small == full[::2, ::2])
    assert agreement > np.mean(at_zero == full[::2, ::2]) + 0.2


@pytest.mark.parametrize("size", [(534, 800), (267, 400), (100, 150)])
def test_one_step_resample_matches_the_official_two_step_upsampling(model, size) -> None:
    # A smooth logit field (real SAM logits are smooth; random-model ones are noise).
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
    field = np.sin(xx / 9.0) + np.cos(yy / 13.0)
    with torch.inference_mode():
        official = model.postprocess_masks(torch.from_numpy(field)[None, None], (683, 1024), size)
    ours = _resample_logits(field, (683, 1024), size)
    assert np.abs(ours - official[0, 0].numpy()).max() < 0.02  # of an amplitude of 2


def affine_resample(logits: np.ndarray, input_size, size) -> np.ndarray:
    """The display resample by its definition: one bilinear affine warp, edges replicated."""
    valid_h, valid_w = input_size[0] / 4, input_size[1] / 4
    sx, sy = valid_w / size[1], valid_h / size[0]
    matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(logits, matrix, size[::-1], flags=flags, borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize(
    ("input_size", "size"),
    [
        ((683, 1024), (1000, 1500)),  # enlarged, the image part not a whole number of cells
        ((683, 1024), (100, 150)),  # reduced
        ((1024, 683), (1500, 1000)),  # portrait
        ((1024, 1024), (512, 512)),  # the whole grid, exactly twice
        ((1024, 1024), (256, 256)),  # the grid itself
        ((1024, 1022), (7, 5)),  # the part ends inside the last cell
        ((16, 1024), (3, 700)),  # a strip a few cells high
    ],
)
def test_display_resample_is_the_affine_warp(input_size, size) -> None:
    field = np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32)
    ours = _resample_logits(field, input_size, size)
    assert ours.shape == size and ours.dtype == np.float32
    np.testing.assert_allclose(ours, affine_resample(field, input_size, size), atol=1e-4)


def test_no_object_no_candidates(segmenter, encoded) -> None:
    assert segmenter.decode(encoded, PromptSet()) == []
    assert segmenter.decode(encoded, PromptSet(points=((5.5, 5.5),), labels=(0,))) == []


def test_foreign_encodings_and_embeddings_are_refused(segmenter, encoded, photo) -> None:
    torch.manual_seed(1)
    other = SamSegmenter(build_sam_vit_tiny_test())
    with pytest.raises(ValueError, match="encoded by"):
        other.decode(encoded, PromptSet(points=((1.5, 1.5),), labels=(1,)))
    with pytest.raises(ValueError, match="computed by"):
        other.restore(encoded.embedding)
    grabcut = GrabCutSegmenter()
    with pytest.raises(ValueError):
        segmenter.decode(grabcut.encode(photo), PromptSet(points=((1.5, 1.5),), labels=(1,)))
    restored = segmenter.restore(encoded.embedding)
    prompts = PromptSet(points=((100.5, 100.5),), labels=(1,))
    a = segmenter.decode(encoded, prompts)
    b = segmenter.decode(restored, prompts)
    assert [c.score for c in a] == [c.score for c in b]


def test_encode_on_one_thread_while_decoding_on_another(segmenter, encoded, photo) -> None:
    prompts = PromptSet(points=((300.5, 200.5),), labels=(1,))
    expected = [c.score for c in segmenter.decode(encoded, prompts)]
    results: dict[str, object] = {}

    def encode_other() -> None:
        results["encoded"] = segmenter.encode(np.ascontiguousarray(photo[::-1]))

    thread = threading.Thread(target=encode_other)
    thread.start()
    decoded = [[c.score for c in segmenter.decode(encoded, prompts)] for _ in range(5)]
    thread.join()
    assert all(scores == pytest.approx(expected, abs=1e-6) for scores in decoded)
    flipped = results["encoded"]
    assert not torch.equal(flipped.embedding.features, encoded.embedding.features)


def test_load_from_a_checkpoint_detects_the_type(tmp_path, model) -> None:
    path = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), path)
    loaded = load_sam_segmenter(path)
    assert loaded.model_id == SamSegmenter(model).model_id


def test_multimask_and_single_candidates_cost_one_decoder_call(model, photo, monkeypatch):
    segmenter = SamSegmenter(model)
    encoded = segmenter.encode(photo)
    calls = []
    real = SamPredictor.predict_low_res

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SamPredictor, "predict_low_res", counted)
    prompts = PromptSet(points=((300.0, 200.0),), labels=(1,))
    both = segmenter.decode(encoded, prompts, with_single=True)
    assert len(calls) == 1
    assert sorted(c.index for c in both) == [0, 1, 2, SINGLE_MASK_INDEX]
    assert [c.score for c in both] == sorted((c.score for c in both), reverse=True)
    assert all(not c.low_res_logits.flags.writeable for c in both)
    # The same answers as asking separately.
    multimask = segmenter.decode(encoded, prompts)
    (single,) = segmenter.decode(encoded, prompts, multimask=False)
    expected = {c.index: c.score for c in [*multimask, single]}
    assert {c.index: c.score for c in both} == expected


def test_weights_changed_in_place_are_not_paired_with_the_old_identity(photo) -> None:
    torch.manual_seed(2)
    model = build_sam_vit_tiny_test()
    segmenter = SamSegmenter(model)
    with torch.no_grad():
        model.mask_decoder.iou_token.weight.add_(1.0)
    encoded = segmenter.encode(photo)  # computed by the changed weights ...
    assert encoded.model_id != segmenter.model_id  # ... and named after them
    with pytest.raises(ValueError, match="encoded by"):
        segmenter.decode(encoded, PromptSet(points=((1.5, 1.5),), labels=(1,)))
