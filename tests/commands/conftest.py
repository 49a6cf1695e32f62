"""A small folder of real photos (one in a sub-folder) for the batch commands."""

from __future__ import annotations

import pytest
from PIL import Image


@pytest.fixture
def folder(tmp_path, real_data):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    for index, name in enumerate(("dog.jpg", "groceries.jpg", "truck.jpg")):
        with Image.open(real_data / "images" / name) as photo:
            small = photo.convert("RGB").resize((160, 120))
        small.save(images / ("sub" if index == 2 else "") / f"{index}_{name}")
    return images
