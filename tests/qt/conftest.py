"""Fixtures shared by the app tests: a folder of real photos and a tiny SAM checkpoint."""

from __future__ import annotations

import shutil

import pytest
import torch

from sam_core import build_sam_vit_tiny_test

PHOTOS = ("dog.jpg", "groceries.jpg", "skateboard_portrait.jpg")


@pytest.fixture
def images(tmp_path, shared_data):
    """A folder with three of the shared photos (a copy: tests may add files to it)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(shared_data / "images" / name, folder / name)
    return folder


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A checkpoint file of the tiny test SAM with seed-0 random weights."""
    torch.manual_seed(0)
    path = tmp_path / "tiny_sam.pth"
    torch.save(build_sam_vit_tiny_test().state_dict(), path)
    return path
