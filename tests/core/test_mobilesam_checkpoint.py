"""MobileSAM (vit_t) checkpoints: the released layout, loading, type detection, errors.

The released ``mobile_sam.pt`` is the state_dict of the reference ``build_sam_vit_t()``
model, so the reference model's state_dict stands in for it: same keys, order, shapes
and dtypes (including TinyViT's unused classifier head and BatchNorm counters).
"""

from __future__ import annotations

import pytest
import torch

from sam_core import (
    CheckpointKeysError,
    ModelTypeMismatchError,
    UnknownModelTypeError,
    build_sam_vit_t,
    build_sam_vit_tiny_test,
    detect_model_type,
    load_sam,
    model_id,
    sam_model_registry,
)
from sam_core.model_specs import canonical_model_type
from sam_core.modeling import TinyViT
from sam_core.modeling.tiny_vit import Attention, window_offset_index
from tests.core.conftest import random_state_dict
from tests.oracle import official_mobile_sam


def layout(state_dict: dict[str, torch.Tensor]) -> list[tuple[str, tuple[int, ...], str]]:
    return [(name, tuple(t.shape), str(t.dtype)) for name, t in state_dict.items()]


@pytest.fixture(scope="module")
def reference():
    """The reference model (it cannot be built on the meta device). Do not modify it."""
    return official_mobile_sam().build_sam_vit_t()


@pytest.fixture(scope="module")
def reference_state_dict(reference) -> dict[str, torch.Tensor]:
    """A vit_t state_dict in the reference layout with every tensor random (a stand-in for
    mobile_sam.pt)."""
    return random_state_dict(reference.state_dict(), seed=11)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, reference_state_dict):
    path = tmp_path_factory.mktemp("vit_t") / "mobile_sam.pt"
    torch.save(reference_state_dict, path)
    return path


def test_layout_equals_the_release(reference):
    theirs = reference
    with torch.device("meta"):
        ours = sam_model_registry["vit_t"]()
    assert layout(ours.state_dict()) == layout(theirs.state_dict())
    assert sum(t.numel() for t in ours.image_encoder.parameters()) == pytest.approx(6.08e6, 0.01)
    # Non-persistent buffers: the reference also keeps its attention biases cached (ab).
    ours_buffers = {n for n, _ in ours.named_buffers()} - set(ours.state_dict())
    their_buffers = {n for n, _ in theirs.named_buffers()} - set(theirs.state_dict())
    assert {"pixel_mean", "pixel_std"} < ours_buffers
    assert their_buffers - ours_buffers == {
        n.replace("attention_bias_idxs", "ab") for n in ours_buffers if "attention_bias" in n
    }


def test_release_layout_loads_into_ours_and_back(checkpoint, reference_state_dict):
    reference = official_mobile_sam().build_sam_vit_t()  # modified below
    ours = sam_model_registry["vit_t"](checkpoint=checkpoint)  # strict, via the meta device
    assert isinstance(ours.image_encoder, TinyViT) and not ours.training
    our_state = ours.state_dict()
    assert list(our_state) == list(reference_state_dict)
    for name, tensor in reference_state_dict.items():
        assert torch.equal(our_state[name], tensor), name

    # What the checkpoint does not hold was rebuilt exactly.
    their_indexes = {
        n: b for n, b in reference.named_buffers() if n.endswith("attention_bias_idxs")
    }
    our_indexes = {n: b for n, b in ours.named_buffers() if n.endswith("attention_bias_idxs")}
    assert our_indexes.keys() == their_indexes.keys() and len(our_indexes) == 10
    for name, index in their_indexes.items():
        assert torch.equal(our_indexes[name], index), name
    assert torch.equal(ours.pixel_mean, reference.pixel_mean)
    assert torch.equal(ours.pixel_std, reference.pixel_std)

    # And ours back into the reference, strictly.
    reference.load_state_dict(our_state, strict=True)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, reference_state_dict[name]), name


def test_window_offset_index():
    index = window_offset_index(2)  # positions (0,0) (0,1) (1,0) (1,1)
    assert index.tolist() == [[0, 1, 2, 3], [1, 0, 3, 2], [2, 3, 0, 1], [3, 2, 1, 0]]
    assert int(window_offset_index(7).max()) + 1 == 49  # every (|dy|, |dx|) once
    attention = Attention(dim=8, num_heads=2, window_size=7)
    assert attention.attention_biases.shape == (2, 49)
    assert attention.attention_bias_idxs.shape == (49, 49)


def test_load_sam_detects_vit_t(checkpoint):
    model = load_sam(checkpoint)
    assert isinstance(model.image_encoder, TinyViT)
    assert detect_model_type(model.state_dict()) == "vit_t"
    assert model_id(model).startswith("vit_t-")
    assert model.image_encoder.img_size == 1024


def test_type_detected_from_shapes(reference):
    with torch.device("meta"):
        assert detect_model_type(build_sam_vit_t().state_dict()) == "vit_t"
    assert detect_model_type(reference.state_dict()) == "vit_t"


def test_registry_and_type_names():
    assert sam_model_registry["vit_t"] is build_sam_vit_t
    assert canonical_model_type("vit_t") == "vit_t"
    with pytest.raises(ValueError, match="vit_t"):
        canonical_model_type("vit_x")


def test_vit_t_requested_as_another_type_names_vit_t(checkpoint):
    with pytest.raises(ModelTypeMismatchError, match="is a vit_t model, not vit_b") as caught:
        sam_model_registry["vit_b"](checkpoint=checkpoint)
    assert caught.value.detected == "vit_t" and caught.value.requested == "vit_b"
    with pytest.raises(ModelTypeMismatchError, match="is a vit_t model, not vit_h"):
        load_sam(checkpoint, model_type="default")


def test_another_type_requested_as_vit_t_names_it(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(build_sam_vit_tiny_test().state_dict(), path)
    with pytest.raises(ModelTypeMismatchError, match="is a vit_tiny_test model, not vit_t"):
        sam_model_registry["vit_t"](checkpoint=path)
    with pytest.raises(ModelTypeMismatchError, match="is a vit_tiny_test model, not vit_t"):
        load_sam(path, model_type="vit_t")


def test_tiny_vit_of_unknown_size(tmp_path, reference_state_dict):
    fewer_blocks = {k: v for k, v in reference_state_dict.items() if ".layers.2.blocks.5." not in k}
    path = tmp_path / "five_blocks.pt"
    torch.save(fewer_blocks, path)
    with pytest.raises(UnknownModelTypeError, match="2/2/5/2 blocks.*vit_t"):
        load_sam(path)


def test_missing_and_misshapen_keys_are_listed(tmp_path, reference_state_dict):
    broken = dict(reference_state_dict)
    del broken["image_encoder.head.weight"]
    broken["image_encoder.layers.1.blocks.0.attn.attention_biases"] = torch.zeros(4, 50)
    path = tmp_path / "broken.pt"
    torch.save(broken, path)
    with pytest.raises(CheckpointKeysError, match="does not match vit_t") as caught:
        load_sam(path)
    assert caught.value.missing == ["image_encoder.head.weight"]
    assert caught.value.mismatched == [
        ("image_encoder.layers.1.blocks.0.attn.attention_biases", (4, 50), (4, 49))
    ]


def test_model_id_follows_the_weights(reference_state_dict):
    model = build_sam_vit_t()
    before = model_id(model)
    assert before.startswith("vit_t-")
    model.load_state_dict(reference_state_dict)
    after = model_id(model)
    assert after.startswith("vit_t-") and after != before
