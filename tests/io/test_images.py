"""The one image loader: orientation, modes, bit depths, clear errors, pixel limit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from sam_annotator.io.images import ImageLoadError, image_size, list_images, load_image

SHARED_SIZES = {  # displayed (width, height), from SOURCES.md
    "cars.jpg": (2250, 1500),
    "leaf_flies_exif6.jpeg": (2592, 3888),
    "skateboard_portrait.jpg": (427, 640),
    "dog.jpg": (800, 534),
    "chelsea.png": (451, 300),
}


@pytest.mark.parametrize("name", sorted(SHARED_SIZES))
def test_real_photos_load_as_displayed(real_data, name):
    path = real_data / "images" / name
    array = load_image(path)
    width, height = SHARED_SIZES[name]
    assert array.shape == (height, width, 3) and array.dtype == np.uint8
    assert array.flags.c_contiguous
    assert image_size(path) == (width, height)


def test_exif_orientation_6_is_rotated_clockwise(real_data):
    path = real_data / "images" / "leaf_flies_exif6.jpeg"
    with Image.open(path) as raw:
        assert raw.size == (3888, 2592)
        stored = np.asarray(raw.convert("RGB").reduce(8))
    shown = load_image(path)[::8, ::8]
    # orientation 6: the stored image is rotated 90 degrees clockwise for display
    expected = np.rot90(stored, k=-1)
    h, w = min(shown.shape[0], expected.shape[0]), min(shown.shape[1], expected.shape[1])
    assert np.abs(shown[:h, :w].astype(int) - expected[:h, :w].astype(int)).mean() < 12
    assert np.abs(shown[:h, :w].astype(int) - np.rot90(stored, k=1)[:h, :w]).mean() > 20


def save(tmp_path, name, image, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_orientation_tag_in_a_png_and_size_without_decoding(tmp_path, monkeypatch):
    pixels = np.zeros((10, 30, 3), np.uint8)
    pixels[:, :5] = 255  # a white band on the left
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 8  # rotate 90 degrees counter-clockwise for display
    path = save(tmp_path, "o.jpg", image, exif=exif, quality=100)
    monkeypatch.setattr(ImageFile.ImageFile, "load", _no_decoding)
    assert image_size(path) == (10, 30)
    monkeypatch.undo()
    array = load_image(path)
    assert array.shape == (30, 10, 3)
    assert array[-5:].mean() > 200 and array[:20].mean() < 50  # band now at the bottom


def _no_decoding(self):
    raise AssertionError("pixels were decoded")


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 77, (77, 77, 77)),
        ("LA", (77, 0), (77, 77, 77)),
        ("RGBA", (10, 20, 30, 0), (10, 20, 30)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("1", 1, (255, 255, 255)),
    ],
)
def test_modes_become_rgb(tmp_path, mode, value, expected):
    suffix = ".tif" if mode == "CMYK" else ".png"
    path = save(tmp_path, f"m{suffix}", Image.new(mode, (4, 3), value))
    array = load_image(path)
    assert array.shape == (3, 4, 3)
    assert tuple(array[1, 1]) == expected


def test_palette_image(tmp_path):
    image = Image.new("P", (4, 4))
    image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    image.putpixel((2, 2), 1)
    array = load_image(save(tmp_path, "p.png", image))
    assert tuple(array[2, 2]) == (200, 100, 50) and tuple(array[0, 0]) == (0, 0, 0)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_is_scaled_to_eight_bits(tmp_path, suffix):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    path = save(tmp_path, f"g16{suffix}", Image.fromarray(values))
    with Image.open(path) as check:
        assert check.mode.startswith("I;16")
    array = load_image(path)
    assert array[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (array[..., 0] == array[..., 2]).all()


def test_missing_folder_and_non_image(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file") as error:
        load_image(tmp_path / "nope.jpg")
    assert error.value.path == tmp_path / "nope.jpg" and isinstance(error.value, ValueError)
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageLoadError, match="not an image file"):
        load_image(text)
    with pytest.raises(ImageLoadError, match="not an image file"):
        image_size(text)


@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.98])
def test_truncated_jpeg_is_an_error_not_a_grey_half(real_data, tmp_path, fraction):
    data = (real_data / "images" / "dog.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(path)


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    path = save(tmp_path, "big.png", Image.new("1", (20000, 10000)))  # 200 MP, tiny file
    monkeypatch.setattr(ImageFile.ImageFile, "load", _no_decoding)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's bomb warning would fail the test
        with pytest.raises(ImageLoadError, match=r"20000x10000 = 200.0 megapixels, above"):
            load_image(path)
        with pytest.raises(ImageLoadError, match="above the limit of 0.1 megapixels"):
            load_image(path, max_pixels=100_000)
        assert image_size(path) == (20000, 10000)  # Pillow alone would refuse: > 179 MP
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's own setting is left as it was


def test_list_images_natural_order_and_filters(tmp_path):
    for name in ["img10.JPG", "img2.jpg", "Img1.png", "notes.txt", ".hidden.jpg", "a.TIFF"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "img3.webp").write_bytes(b"")
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["a.TIFF", "Img1.png", "img2.jpg", "img10.JPG"]
    nested = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)]
    assert nested == ["a.TIFF", "Img1.png", "img2.jpg", "img10.JPG", "sub/img3.webp"]
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "missing")
