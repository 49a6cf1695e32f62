"""SAM 2 behind the Segmenter seam: equal to its predictor and mask generator, cached
with every feature level, loaded by the app's loader."""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import asdict

import numpy as np
import pytest
import torch
from PIL import Image

from sam_annotator.inference.embedding_cache import EmbeddingCache, lookup_encoding, store_encoding
from sam_annotator.inference.embedding_file import MAGIC, decode_entry, encode_entry
from sam_annotator.inference.sam_segmenter import SamSegmenter, load_sam_segmenter
from sam_annotator.inference.segmenter import ProposalSettings, Segmenter, proposals_from_records
from sam_annotator.model.prompt_types import PromptSet
from sam_core import SINGLE_OUTPUT, SAM2AutomaticMaskGenerator, SAM2ImagePredictor, build_sam2

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = build_sam2("sam2_tiny_test")
    with torch.no_grad():  # weights that make the outputs differ from prompt to prompt
        for parameter in model.parameters():
            parameter.normal_(0, 0.05)
    return model


@pytest.fixture(scope="module")
def photo(real_data) -> np.ndarray:
    with Image.open(real_data / "images" / "dog.jpg") as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def segmenter(model):
    return SamSegmenter(model)


@pytest.fixture(scope="module")
def encoded(segmenter, photo):
    return segmenter.encode(photo)


@pytest.fixture(scope="module")
def predictor(model, photo):
    predictor = SAM2ImagePredictor(model)
    predictor.set_image(photo)
    return predictor


def test_it_is_a_segmenter_with_every_feature_level(segmenter, encoded, photo) -> None:
    assert isinstance(segmenter, Segmenter) and segmenter.is_sam2
    assert segmenter.name == "SAM 2 tiny_test"
    assert encoded.original_size == photo.shape[:2]
    assert encoded.model_id.startswith("sam2_tiny_test-")
    assert encoded.nbytes == 4 * (256 * 64 * 64 + 32 * 256 * 256 + 64 * 128 * 128)


def test_decode_and_render_equal_the_predictor(segmenter, encoded, predictor) -> None:
    prompts = PromptSet(points=((300.5, 200.5), (500.5, 100.5)), labels=(1, 0))
    candidates = segmenter.decode(encoded, prompts, with_single=True)
    coords, labels = np.array([[300, 200], [500, 100]]), np.array([1, 0])
    masks, scores, low_res = predictor.predict(point_coords=coords, point_labels=labels)
    single = predictor.predict(point_coords=coords, point_labels=labels, multimask_output=False)
    assert sorted(c.index for c in candidates) == [0, 1, 2, SINGLE_OUTPUT]
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)
    for candidate in candidates:
        if candidate.index == SINGLE_OUTPUT:
            expected_mask, expected_score = single[0][0], single[1][0]
            assert candidate.description == "single"
        else:
            expected_mask, expected_score = masks[candidate.index], scores[candidate.index]
            np.testing.assert_allclose(np.clip(candidate.low_res_logits, -32, 32),
                                       low_res[candidate.index], atol=1e-6)  # fmt: skip
        assert candidate.score == pytest.approx(float(expected_score), abs=1e-6)
        full = segmenter.render(encoded, candidate)  # the official post-processing
        np.testing.assert_array_equal(full, expected_mask.astype(bool))
        assert segmenter.render(encoded, candidate, (267, 400)).shape == (267, 400)


def test_an_annotation_refined_with_a_box_and_its_mask(segmenter, encoded, predictor) -> None:
    first = segmenter.decode(encoded, PromptSet(box=(100.5, 50.5, 400.5, 300.5)))
    mask = segmenter.render(encoded, first[0])
    mask_input = segmenter.mask_input_from_mask(encoded, mask)
    assert mask_input.shape == (1, 256, 256)
    prompts = PromptSet(points=((250.5, 150.5),), labels=(0,), box=(100.5, 50.5, 400.5, 300.5),
                        mask_input=mask_input)  # fmt: skip
    (single,) = segmenter.decode(encoded, prompts, multimask=False)
    expected = predictor.predict(point_coords=np.array([[250, 150]]), point_labels=np.array([0]),
                                 box=np.array([100, 50, 400, 300]), mask_input=mask_input,
                                 multimask_output=False)  # fmt: skip
    assert single.score == pytest.approx(float(expected[1][0]), abs=1e-6)


def test_segment_everything_is_sam2s_generator_on_the_images_features(
    segmenter, encoded, photo, model
) -> None:
    settings = ProposalSettings(points_per_side=2, pred_iou_thresh=0.0,
                                stability_score_thresh=0.0)  # fmt: skip
    proposals = segmenter.propose_all(encoded, photo, settings)
    records = SAM2AutomaticMaskGenerator(model, **asdict(settings)).generate(photo)
    expected = proposals_from_records(records)
    assert proposals and len(proposals) == len(expected)
    for ours, theirs in zip(proposals, expected, strict=True):
        assert ours.polygons == theirs.polygons and ours.bbox == theirs.bbox
        assert (ours.predicted_iou, ours.stability_score) == (
            theirs.predicted_iou, theirs.stability_score)  # fmt: skip


def test_the_disk_cache_keeps_and_restores_every_level(segmenter, encoded, tmp_path) -> None:
    image = tmp_path / "dog.png"
    Image.fromarray(np.zeros((534, 800, 3), np.uint8)).save(image)
    cache = EmbeddingCache(tmp_path / "cache", max_memory_bytes=0)
    store_encoding(cache, segmenter, image, encoded)
    restored = lookup_encoding(EmbeddingCache(tmp_path / "cache", max_memory_bytes=0),
                               segmenter, image)  # fmt: skip
    assert restored is not None and restored is not encoded
    for a, b in zip((restored.embedding.features, *restored.embedding.high_res_features),
                    (encoded.embedding.features, *encoded.embedding.high_res_features),
                    strict=True):  # fmt: skip
        assert torch.equal(a, b)
    prompts = PromptSet(points=((300.5, 200.5),), labels=(1,))
    assert [c.score for c in segmenter.decode(restored, prompts)] == [
        c.score for c in segmenter.decode(encoded, prompts)]  # fmt: skip


def test_format_1_cache_files_of_sam_are_still_read(encoded) -> None:
    """A file written before SAM 2 (format 1: no levels) decodes as before."""
    sam_like = encoded.embedding
    blob = encode_entry("k" * 64, sam_like)
    header_length = struct.unpack_from("<I", blob, len(MAGIC))[0]
    start = len(MAGIC) + 4
    header = json.loads(blob[start : start + header_length])
    data = blob[start + header_length :][: 4 * 256 * 64 * 64]  # the features only
    header.update(format=1, data_bytes=len(data), crc32=zlib.crc32(data))
    del header["levels"]
    text = json.dumps(header).encode()
    old = decode_entry("k" * 64, MAGIC + struct.pack("<I", len(text)) + text + data)
    assert torch.equal(old.features, sam_like.features) and old.high_res_features == ()


def test_the_apps_loader_loads_a_sam2_checkpoint(model, tmp_path) -> None:
    torch.save({"model": model.state_dict()}, tmp_path / "tiny.pt")
    loaded = load_sam_segmenter(tmp_path / "tiny.pt")
    assert loaded.is_sam2 and loaded.model_id == SamSegmenter(model).model_id
