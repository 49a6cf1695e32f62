"""A folder of real photos for the app tests (the tiny checkpoint is in tests/conftest.py)."""

from __future__ import annotations

import shutil

import pytest

PHOTOS = ("dog.jpg", "groceries.jpg", "skateboard_portrait.jpg")


@pytest.fixture
def images(tmp_path, real_data):
    """A folder with three of the real photos (a copy: tests may add files to it)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(real_data / "images" / name, folder / name)
    return folder
