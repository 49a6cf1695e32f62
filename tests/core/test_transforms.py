"""ResizeLongestSide against the official implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core.utils.transforms import ResizeLongestSide
from tests.core.conftest import photo, synthetic_image


@pytest.fixture(scope="module")
def official_transform(official_sa):
    return official_sa.utils.transforms.ResizeLongestSide(1024)


def test_preprocess_shape_matches_official_for_many_sizes(official_transform):
    sizes = [(h, w) for h in range(1, 3000, 37) for w in range(1, 3000, 41)]
    sizes += [(1500, 2250), (3888, 2592), (640, 427), (534, 800), (1, 1), (1024, 1024)]
    for height, width in sizes:
        expected = official_transform.get_preprocess_shape(height, width, 1024)
        assert ResizeLongestSide.get_preprocess_shape(height, width, 1024) == expected
    assert ResizeLongestSide.get_preprocess_shape(427, 640, 1024) == (683, 1024)


@pytest.mark.parametrize(("height", "width"), [(333, 501), (501, 333), (1031, 77), (1024, 1024)])
def test_apply_image_matches_official(official_transform, height, width):
    image = synthetic_image(height, width, seed=height)
    result = ResizeLongestSide(1024).apply_image(image)
    expected = official_transform.apply_image(image)
    assert result.dtype == np.uint8
    assert result.shape == (*ResizeLongestSide.get_preprocess_shape(height, width, 1024), 3)
    assert np.array_equal(result, expected)


def test_apply_image_matches_official_on_a_photo(official_transform, real_data):
    image = photo(real_data, "cars.jpg", 1499, 2249)
    result = ResizeLongestSide(1024).apply_image(image)
    assert result.shape == (683, 1024, 3)
    assert np.array_equal(result, official_transform.apply_image(image))


def test_apply_image_rejects_non_uint8():
    with pytest.raises(ValueError, match="uint8"):
        ResizeLongestSide(1024).apply_image(np.zeros((10, 10, 3), dtype=np.float32))


def test_coords_and_boxes_match_official(official_transform):
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 700, (5, 2))
    boxes = rng.uniform(0, 700, (3, 4))
    coords_before = coords.copy()
    transform = ResizeLongestSide(1024)
    for size in [(517, 777), (633, 421)]:
        result = transform.apply_coords(coords, size)
        assert result.dtype == np.float64
        assert np.array_equal(result, official_transform.apply_coords(coords, size))
        assert np.array_equal(
            transform.apply_boxes(boxes, size), official_transform.apply_boxes(boxes, size)
        )
        coords_t = torch.as_tensor(coords)
        assert torch.equal(
            transform.apply_coords_torch(coords_t, size),
            official_transform.apply_coords_torch(coords_t, size),
        )
        assert torch.equal(
            transform.apply_boxes_torch(torch.as_tensor(boxes), size),
            official_transform.apply_boxes_torch(torch.as_tensor(boxes), size),
        )
    assert np.array_equal(coords, coords_before)  # not modified in place


def test_coordinates_scale_with_the_image():
    transform = ResizeLongestSide(1024)
    # 500x250 (HxW) -> 1024x512: everything doubles (up to rounding of 512.0).
    assert np.allclose(
        transform.apply_coords(np.array([[250.0, 500.0]]), (500, 250)), [[512, 1024]]
    )
    assert np.allclose(
        transform.apply_boxes(np.array([10, 20, 30, 40]), (500, 250)),
        [[20.48, 40.96, 61.44, 81.92]],
    )


def test_apply_image_torch_resizes_height_and_width():
    """The official version sizes the output from the batch and channel axes (a bug);
    ours resizes H and W like apply_image, to within interpolation differences."""
    image = synthetic_image(333, 501)
    transform = ResizeLongestSide(1024)
    batch = torch.as_tensor(image).permute(2, 0, 1)[None].float()
    result = transform.apply_image_torch(batch)
    assert result.shape == (1, 3, 681, 1024)
    reference = torch.as_tensor(transform.apply_image(image)).permute(2, 0, 1)[None].float()
    assert (result - reference).abs().mean() < 2.0
