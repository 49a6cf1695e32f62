"""SAM 2 / 2.1 checkpoints: the released layout loads unchanged, the type is detected from
tensors (2.0 and 2.1), a file with the video parts gives a model that can track, and
wrong files get specific errors."""

from __future__ import annotations

import pytest
import torch

from sam_core import (
    CheckpointKeysError,
    ModelTypeMismatchError,
    Sam2,
    detect_model_type,
    load_sam,
    sam2_model_registry,
)
from sam_core.sam2.specs import VIDEO_PREFIXES
from sam_core.sam2.tracker import Sam2Tracker
from tests.core.sam2_oracle import official_sam2_model, save_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def official_tiny():
    return official_sam2_model("sam2.1/sam2.1_hiera_t", seed=2)


def test_a_released_sam2_1_checkpoint_loads_unchanged(official_tiny, tmp_path):
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    save_checkpoint(official_tiny, path)
    state_dict = official_tiny.state_dict()
    assert detect_model_type(state_dict) == "sam2.1_hiera_t"
    model = load_sam(path)
    assert isinstance(model, Sam2Tracker) and model.spec.name == "tiny"  # it can track
    ours = model.state_dict()
    assert set(ours) == set(state_dict)
    assert all(torch.equal(ours[k], state_dict[k]) for k in ours)
    # A file without the video parts is an image model.
    image_only = {k: v for k, v in state_dict.items() if not k.startswith(VIDEO_PREFIXES)}
    torch.save({"model": image_only}, tmp_path / "image_only.pt")
    image_model = load_sam(tmp_path / "image_only.pt")
    assert isinstance(image_model, Sam2) and not isinstance(image_model, Sam2Tracker)
    assert set(image_model.state_dict()) == set(image_only)
    again = sam2_model_registry["sam2.1_hiera_t"](checkpoint=path)
    assert torch.equal(again.no_mem_embed, model.no_mem_embed)
    with pytest.raises(ModelTypeMismatchError, match="sam2.1_hiera_t model, not sam2.1_hiera_s"):
        sam2_model_registry["sam2.1_hiera_s"](checkpoint=path)
    with pytest.raises(ModelTypeMismatchError, match="not vit_b"):
        load_sam(path, model_type="vit_b")


def test_sam2_0_is_told_apart_from_2_1_by_its_tensors(tmp_path):
    official = official_sam2_model("sam2/sam2_hiera_s", seed=3)
    assert detect_model_type(official.state_dict()) == "sam2_hiera_s"
    save_checkpoint(official, tmp_path / "sam2_hiera_small.pt")
    model = load_sam(tmp_path / "sam2_hiera_small.pt", model_type="sam2_hiera_s")
    assert model.spec.name == "small"


def test_foreign_or_damaged_sam2_files_are_refused_with_what_is_wrong(official_tiny, tmp_path):
    state_dict = dict(official_tiny.state_dict())
    state_dict["classifier.weight"] = torch.zeros(3, 3)
    torch.save({"model": state_dict}, tmp_path / "extra.pt")
    with pytest.raises(CheckpointKeysError, match="unexpected keys.*classifier.weight"):
        load_sam(tmp_path / "extra.pt")
    state_dict = dict(official_tiny.state_dict())
    del state_dict["sam_mask_decoder.conv_s0.weight"]
    torch.save({"model": state_dict}, tmp_path / "missing.pt")
    with pytest.raises(CheckpointKeysError, match="missing keys.*conv_s0"):
        load_sam(tmp_path / "missing.pt")
    state_dict = dict(official_tiny.state_dict())
    state_dict["no_mem_embed"] = torch.zeros(1, 1, 128)
    torch.save({"model": state_dict}, tmp_path / "shape.pt")
    with pytest.raises(CheckpointKeysError, match="wrong shape.*no_mem_embed"):
        load_sam(tmp_path / "shape.pt")


def test_every_registered_type_builds_without_a_checkpoint():
    model = sam2_model_registry["sam2_tiny_test"]()
    assert model.image_encoder.trunk.channel_list == [128, 64, 32, 16]
    assert set(sam2_model_registry) >= {
        "sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l",
        "sam2_hiera_t", "sam2_hiera_s", "sam2_hiera_b+", "sam2_hiera_l",
    }  # fmt: skip
    with torch.device("meta"):  # the large trunk's shapes, without allocating it
        large = sam2_model_registry["sam2.1_hiera_l"]()
    assert len(large.image_encoder.trunk.blocks) == 48
