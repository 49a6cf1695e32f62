"""Hostile checkpoint files get our errors and warnings, not torch's internals (issue 14)."""

from __future__ import annotations

import warnings
import zipfile

import pytest
import torch

from sam_core import NonFiniteWeightsWarning, NotACheckpointError, load_sam, read_state_dict


@pytest.mark.parametrize(
    ("records", "label"),
    [
        ({"archive/data.pkl": b"not a pickle at all"}, "no version record"),
        ({"archive/data.pkl": b"not a pickle at all", "archive/version": b"3\n"}, "garbage"),
    ],
)
def test_a_zip_with_a_fake_data_pkl_is_our_error_in_our_words(tmp_path, records, label):
    path = tmp_path / "fake.pth"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in records.items():
            archive.writestr(name, data)
    with pytest.raises(NotACheckpointError) as caught:
        read_state_dict(path)
    text = str(caught.value)
    assert str(path) in text and "not a readable PyTorch checkpoint" in text, label
    assert "hasRecord" not in text and "WeightsUnpickler" not in text, label
    assert "run code" not in text  # garbage is not called unsafe


def test_nan_weights_load_with_a_warning_naming_them(tmp_checkpoint_with_nan):
    with pytest.warns(NonFiniteWeightsWarning, match="NaN or infinite") as caught:
        load_sam(tmp_checkpoint_with_nan)
    assert "mask_decoder" in str(caught[0].message)


def test_finite_weights_load_without_a_warning(tiny_checkpoint):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWeightsWarning)
        load_sam(tiny_checkpoint)


@pytest.fixture
def tmp_checkpoint_with_nan(tiny_checkpoint):
    state = torch.load(tiny_checkpoint, weights_only=True)
    name = next(k for k in state if k.startswith("mask_decoder") and k.endswith("weight"))
    state[name][0] = float("nan")
    torch.save(state, tiny_checkpoint)
    return tiny_checkpoint
