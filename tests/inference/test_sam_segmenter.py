"""SamSegmenter: SAM behind the Segmenter seam, equal to the predictor it wraps."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from sam_annotator.inference.grabcut import GrabCutSegmenter
from sam_annotator.inference.sam_segmenter import (
    SamEncoding,
    SamSegmenter,
    load_sam_segmenter,
)
from sam_annotator.inference.segmenter import (
    EncodedImage,
    ProposalsCancelledError,
    ProposalSettings,
    Segmenter,
    proposals_from_records,
)
from sam_annotator.model.prompt_types import PromptSet
from sam_core import SINGLE_OUTPUT, SamAutomaticMaskGenerator, SamPredictor, build_sam_vit_tiny_test


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
    assert single.index == SINGLE_OUTPUT
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
    assert sorted(c.index for c in both) == [0, 1, 2, SINGLE_OUTPUT]
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


def test_an_annotation_mask_becomes_a_mask_prompt_for_refinement(segmenter, encoded) -> None:
    height, width = encoded.original_size
    mask = np.zeros((height, width), bool)
    mask[100:300, 200:500] = True
    prompt = segmenter.mask_input_from_mask(encoded, mask)
    assert prompt.shape == (1, 256, 256)
    click = PromptSet(points=((350.5, 200.5),), labels=(1,))
    prompts = click.with_mask_input(prompt)
    candidates = segmenter.decode(encoded, prompts, with_single=True)
    plain = segmenter.decode(encoded, click, with_single=True)
    assert len(candidates) == 4
    by_index = {c.index: c.low_res_logits for c in plain}
    assert all(not np.allclose(c.low_res_logits, by_index[c.index]) for c in candidates)
    # A first negative click removes a part of the refined mask (it defines an object).
    remove = PromptSet(points=((250.5, 150.5),), labels=(0,)).with_mask_input(prompt)
    assert len(segmenter.decode(encoded, remove, with_single=True)) == 4
    with pytest.raises(ValueError, match="the mask is"):
        segmenter.mask_input_from_mask(encoded, mask[:-1])
    with pytest.raises(ValueError, match="1x256x256"):
        segmenter.decode(encoded, prompts.with_mask_input(np.zeros((1, 64, 64), np.float32)))


def test_propose_all_is_the_mask_generator_on_the_images_embedding(segmenter, encoded, photo):
    settings = ProposalSettings(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    proposals = segmenter.propose_all(encoded, photo, settings)
    records = SamAutomaticMaskGenerator(
        segmenter.model, points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0
    ).generate(photo)
    expected = proposals_from_records(records)
    assert proposals and len(proposals) == len(expected)
    for ours, theirs in zip(proposals, expected, strict=True):
        assert ours.predicted_iou == pytest.approx(theirs.predicted_iou, abs=1e-5)
        assert ours.area == theirs.area


def test_propose_all_stops_when_cancelled(segmenter, encoded, photo) -> None:
    import threading

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ProposalsCancelledError):
        segmenter.propose_all(encoded, photo, ProposalSettings(points_per_side=4), cancel=cancel)
