"""Checkpoint reading: every failure has its own error, and a checkpoint never runs code."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sam_core import (
    CheckpointError,
    CheckpointKeysError,
    CheckpointNotFoundError,
    ModelTypeMismatchError,
    NotACheckpointError,
    SamPredictor,
    TruncatedCheckpointError,
    UnknownModelTypeError,
    UnsafeCheckpointError,
    detect_model_type,
    load_sam,
    read_state_dict,
    sam_model_registry,
)
from sam_core.build_sam import build_sam_vit_b, build_sam_vit_h, build_sam_vit_l
from sam_core.model_specs import VIT_SPECS
from tests.core.conftest import synthetic_image


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, tiny_state_dict) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    torch.save(tiny_state_dict, path)
    return path


def fake_encoder_checkpoint(path: Path, model_type: str) -> Path:
    """A small file with only the tensors type detection reads, at the right shapes."""
    spec = VIT_SPECS[model_type]
    width = spec.encoder_embed_dim
    state = {"image_encoder.patch_embed.proj.weight": torch.zeros(width, 3, 16, 16)}
    for i in range(spec.encoder_depth):
        state[f"image_encoder.blocks.{i}.norm1.weight"] = torch.ones(width)
    torch.save(state, path)
    return path


class Payload:
    """Unpickling this calls ``open(marker, "w")``: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


# ------------------------------------------------------------------ good files


def test_tiny_checkpoint_round_trip(tiny_checkpoint, tiny_model):
    loaded = load_sam(tiny_checkpoint)
    assert not loaded.training
    expected = tiny_model.state_dict()
    assert loaded.state_dict().keys() == expected.keys()
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    # The buffers that checkpoints do not hold are restored too.
    assert torch.equal(loaded.pixel_mean, tiny_model.pixel_mean)
    assert torch.equal(loaded.pixel_std, tiny_model.pixel_std)

    image = synthetic_image(120, 90)
    results = []
    for model in (loaded, tiny_model):
        predictor = SamPredictor(model)
        predictor.set_image(image)
        results.append(predictor.predict(np.array([[40, 60]]), np.array([1])))
    for ours, reference in zip(*results, strict=True):
        assert np.array_equal(ours, reference)


def test_registry_builder_loads_checkpoint(tiny_checkpoint, tiny_state_dict):
    model = sam_model_registry["vit_tiny_test"](checkpoint=tiny_checkpoint)
    assert torch.equal(
        model.state_dict()["image_encoder.blocks.1.attn.rel_pos_h"],
        tiny_state_dict["image_encoder.blocks.1.attn.rel_pos_h"],
    )
    assert set(sam_model_registry) >= {"default", "vit_h", "vit_l", "vit_b"}
    assert sam_model_registry["default"] is sam_model_registry["vit_h"]


def test_model_wrapper_is_accepted(tmp_path, tiny_state_dict):
    path = tmp_path / "wrapped.pth"
    torch.save({"model": tiny_state_dict, "epoch": 3}, path)
    state = read_state_dict(path)
    assert state.keys() == tiny_state_dict.keys()
    model = load_sam(path, model_type="vit_tiny_test")
    assert torch.equal(
        model.state_dict()["mask_decoder.iou_token.weight"],
        tiny_state_dict["mask_decoder.iou_token.weight"],
    )


def test_legacy_torch_format_is_accepted(tmp_path, tiny_state_dict):
    path = tmp_path / "legacy.pth"
    torch.save(tiny_state_dict, path, _use_new_zipfile_serialization=False)
    assert detect_model_type(read_state_dict(path)) == "vit_tiny_test"


@pytest.mark.parametrize(
    ("model_type", "build"),
    [("vit_b", build_sam_vit_b), ("vit_l", build_sam_vit_l), ("vit_h", build_sam_vit_h)],
)
def test_type_detected_from_meta_state_dicts(model_type, build):
    with torch.device("meta"):
        model = build()
    assert detect_model_type(model.state_dict()) == model_type


@pytest.mark.parametrize("model_type", ["vit_b", "vit_l", "vit_h"])
def test_type_detected_from_shapes_not_file_name(tmp_path, model_type):
    # The file name claims another model; only the shapes count.
    misleading = {"vit_b": "sam_vit_h_4b8939.pth", "vit_l": "sam_vit_b_01ec64.pth"}
    path = fake_encoder_checkpoint(tmp_path / misleading.get(model_type, "x.pth"), model_type)
    assert detect_model_type(read_state_dict(path)) == model_type


# ------------------------------------------------------------------ errors


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="not found") as caught:
        load_sam(tmp_path / "nope.pth")
    assert isinstance(caught.value, FileNotFoundError)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(CheckpointNotFoundError):
        sam_model_registry["vit_b"](checkpoint=str(tmp_path / "nope.pth"))


def test_folder_is_not_a_checkpoint(tmp_path):
    with pytest.raises(NotACheckpointError, match="not a file"):
        read_state_dict(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            np.random.default_rng(0).integers(1, 255, 5000, dtype=np.uint8).tobytes(),
            "not a PyTorch",
        ),
        (b"<html><body>404 Not Found</body></html>\n", "not a PyTorch"),
        (b"model weights go here\n" * 10, "not a PyTorch"),
    ],
    ids=["random-bytes", "html", "text"],
)
def test_not_a_checkpoint(tmp_path, content, message):
    path = tmp_path / "sam_vit_b_01ec64.pth"
    path.write_bytes(content)
    with pytest.raises(NotACheckpointError, match=message):
        load_sam(path)


def test_zip_that_is_not_torch(tmp_path):
    path = tmp_path / "weights.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(NotACheckpointError, match="zip archive"):
        load_sam(path)


@pytest.mark.parametrize(
    "content",
    [[1, 2, 3], {"a": 1}, {"weights": torch.zeros(2), "step": 5}, {}],
    ids=["list", "dict-of-int", "mixed", "empty"],
)
def test_torch_file_without_a_state_dict(tmp_path, content):
    path = tmp_path / "other.pth"
    torch.save(content, path)
    with pytest.raises(NotACheckpointError, match="state_dict"):
        read_state_dict(path)


@pytest.mark.parametrize("keep", [0.5, 0.999, 100, 3])
def test_truncated_file(tmp_path, tiny_checkpoint, keep):
    data = tiny_checkpoint.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    path = tmp_path / "partial.pth"
    path.write_bytes(data[:cut])
    error = TruncatedCheckpointError if cut >= 4 else NotACheckpointError
    with pytest.raises(error):
        load_sam(path)


def test_empty_file_is_truncated(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    with pytest.raises(TruncatedCheckpointError, match="empty"):
        read_state_dict(path)


def test_truncated_legacy_file(tmp_path, tiny_state_dict):
    path = tmp_path / "legacy.pth"
    torch.save(tiny_state_dict, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedCheckpointError):
        read_state_dict(path)


def test_wrong_model_type_names_the_detected_type(tmp_path):
    path = fake_encoder_checkpoint(tmp_path / "sam_vit_b_01ec64.pth", "vit_l")
    with pytest.raises(ModelTypeMismatchError, match="is a vit_l model, not vit_b") as caught:
        sam_model_registry["vit_b"](checkpoint=path)
    assert (caught.value.detected, caught.value.requested) == ("vit_l", "vit_b")
    with pytest.raises(ModelTypeMismatchError, match="is a vit_l model, not vit_h"):
        load_sam(path, model_type="default")


def test_wrong_model_type_for_a_full_checkpoint(tiny_checkpoint):
    with pytest.raises(ModelTypeMismatchError, match="vit_tiny_test model, not vit_h"):
        load_sam(tiny_checkpoint, model_type="vit_h")


def test_unknown_requested_type(tiny_checkpoint):
    with pytest.raises(ValueError, match="unknown SAM model type 'vit_x'"):
        load_sam(tiny_checkpoint, model_type="vit_x")


def test_missing_keys_reported_before_allocating(tmp_path):
    # Detected as vit_h from shapes, but nearly every tensor is missing: the error lists
    # some of them (and the check runs before a 2.5 GB model would be allocated).
    path = fake_encoder_checkpoint(tmp_path / "partial_h.pth", "vit_h")
    with pytest.raises(CheckpointKeysError, match="missing keys") as caught:
        load_sam(path)
    assert "mask_decoder.iou_token.weight" in caught.value.missing
    assert "image_encoder.neck.0.weight" in caught.value.missing


def test_missing_unexpected_and_misshapen_keys(tmp_path, tiny_state_dict):
    state = dict(tiny_state_dict)
    del state["mask_decoder.iou_token.weight"]
    state["extra.weight"] = torch.zeros(3)
    state["prompt_encoder.no_mask_embed.weight"] = torch.zeros(1, 128)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointKeysError) as caught:
        load_sam(path)
    message = str(caught.value)
    assert "mask_decoder.iou_token.weight" in message
    assert "extra.weight" in message
    assert "prompt_encoder.no_mask_embed.weight: (1, 128) vs (1, 256)" in message
    assert caught.value.missing == ["mask_decoder.iou_token.weight"]
    assert caught.value.unexpected == ["extra.weight"]


def test_not_a_sam_state_dict(tmp_path):
    path = tmp_path / "linear.pth"
    torch.save(torch.nn.Linear(3, 4).state_dict(), path)
    with pytest.raises(UnknownModelTypeError, match="not a SAM checkpoint"):
        load_sam(path)


def test_sam_of_unknown_size(tmp_path):
    state = {"image_encoder.patch_embed.proj.weight": torch.zeros(999, 3, 16, 16)}
    state |= {f"image_encoder.blocks.{i}.norm1.weight": torch.ones(999) for i in range(7)}
    path = tmp_path / "odd_size.pth"
    torch.save(state, path)
    with pytest.raises(UnknownModelTypeError, match="999 wide with 7 blocks"):
        load_sam(path)


def test_all_errors_are_checkpoint_errors():
    for error in (
        CheckpointNotFoundError,
        NotACheckpointError,
        TruncatedCheckpointError,
        UnsafeCheckpointError,
        UnknownModelTypeError,
        ModelTypeMismatchError,
        CheckpointKeysError,
    ):
        assert issubclass(error, CheckpointError)
    assert issubclass(CheckpointError, ValueError)


# ------------------------------------------------------------------ code in pickles


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pickled_code_is_refused_and_never_runs(tmp_path, tiny_state_dict, legacy):
    marker = tmp_path / "code_ran.txt"
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(
        {**tiny_state_dict, "payload": Payload(marker)},
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        load_sam(path)
    with pytest.raises(UnsafeCheckpointError):
        sam_model_registry["vit_tiny_test"](checkpoint=path)
    assert not marker.exists()

    # Control: the payload is live — an unsafe load does run it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_plain_pickle_is_not_unpickled(tmp_path):
    marker = tmp_path / "code_ran.txt"
    path = tmp_path / "weights.pth"
    path.write_bytes(pickle.dumps({"model": Payload(marker)}))
    with pytest.raises(NotACheckpointError):
        load_sam(path)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # control: the payload is live
    assert marker.exists()
