"""The one image loader of the app: any image file -> HxWx3 uint8 RGB, as displayed.

- EXIF orientation is applied, so the array, every mask and every COCO width/height
  are in the frame the user sees (a photo stored 3888x2592 with orientation 6 comes out
  2592 wide and 3888 high). `image_size` gives that size from the header alone.
- Grayscale, palette, LA / RGBA (alpha dropped), CMYK, ... are converted to RGB;
  16-bit and 32-bit grayscale are scaled to 8 bits (0..65535 -> 0..255).
- Every failure raises ImageLoadError (a ValueError) naming the file and the reason:
  missing, unreadable, not an image, truncated or corrupt, or too large. The pixel
  limit is checked from the header, before anything is decoded.

Pillow's own decompression-bomb check (a warning above 89 MP, an error above 179 MP)
is replaced by our `max_pixels` limit while the header is read, so it neither warns
nor refuses an image the caller allowed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 100_000_000
"""Images above 100 megapixels are refused (an RGB copy alone would take 300 MB)."""

SUPPORTED_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp"}
)
"""Extensions `list_images` picks up (compared case-insensitively)."""

_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_BOMB_CHECK_LOCK = threading.Lock()


class ImageLoadError(ValueError):
    """An image could not be loaded; `path` and `reason` say which and why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed (EXIF orientation applied), from the header only."""
    with _open(path) as image:
        width, height = image.size
        if _orientation(image) in (5, 6, 7, 8):
            width, height = height, width
        return width, height


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file -> HxWx3 uint8 RGB array, EXIF orientation applied.

    Raises ImageLoadError if the file is missing, unreadable, not an image, truncated
    or corrupt, or has more than `max_pixels` pixels (checked before decoding).
    """
    with _open(path) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageLoadError(
                path,
                f"the image is {width}x{height} = {width * height / 1e6:.1f} megapixels, "
                f"above the limit of {max_pixels / 1e6:.1f} megapixels",
            )
        orientation = _orientation(image)
        try:
            image.load()
            rgb = _to_rgb(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise ImageLoadError(
                path, f"the image data is truncated or corrupt ({error})"
            ) from None
        if orientation in _TRANSPOSE:
            rgb = rgb.transpose(_TRANSPOSE[orientation])
        array = np.asarray(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:  # a safeguard for exotic plugins
        raise ImageLoadError(path, f"decoded to an unexpected shape {array.shape}")
    return np.ascontiguousarray(array)


def list_images(folder: str | Path, *, recursive: bool = False) -> list[Path]:
    """Image files in `folder` (and sub-folders if recursive), in natural order.

    Natural order compares digit runs as numbers ('img2' before 'img10'), ignoring case.
    Files are picked by extension (SUPPORTED_EXTENSIONS, any case); hidden files (a
    name starting with '.', e.g. macOS '._x.jpg') are skipped.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    found = [
        path
        for path in _walk(root, recursive)
        if path.suffix.lower() in SUPPORTED_EXTENSIONS and path.is_file()
    ]
    return sorted(found, key=lambda path: natural_key(path.relative_to(root).as_posix()))


def natural_key(text: str) -> tuple:
    """Sort key: digit runs compare as numbers, letters without case ('a2' < 'A10')."""
    parts = re.split(r"(\d+)", text.casefold())
    return (tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), text)


def _walk(root: Path, recursive: bool) -> Iterator[Path]:
    for entry in root.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if recursive:
                yield from _walk(entry, recursive)
        else:
            yield entry


def _open(path: str | Path) -> Image.Image:
    """Image.open (header only) with Pillow's bomb check off; errors -> ImageLoadError."""
    file = Path(path)
    if not file.exists():
        raise ImageLoadError(path, "no such file")
    if file.is_dir():
        raise ImageLoadError(path, "is a folder, not an image file")
    try:
        with _BOMB_CHECK_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                return Image.open(file)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not an image file, or a format we cannot read") from None
    except PermissionError:
        raise ImageLoadError(path, "permission denied") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageLoadError(path, f"cannot be read ({error})") from None


def _orientation(image: Image.Image) -> int:
    """EXIF orientation 1..8 (1 when absent or unreadable), without decoding pixels.

    A PNG whose eXIf chunk comes after the pixel data would need a full decode to find
    it; such files are treated as unrotated, the same in image_size and load_image.
    """
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a corrupt EXIF block must not make the image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 'RGB' (high bit depths scaled to 8 bits, alpha dropped)."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        values = np.asarray(image)
        return Image.fromarray(_scale_to_uint8(values, image.mode)).convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    return image.convert("RGB")


def _scale_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Grayscale of more than 8 bits -> uint8: 16-bit by /257 (rounded); floats 0..1 by
    255; other ranges linearly from their min..max."""
    data = values.astype(np.float64)
    low, high = float(np.nanmin(data)), float(np.nanmax(data))
    if mode != "F" and low >= 0 and high <= 65535:
        scaled = data / 257.0
    elif mode == "F" and low >= 0 and high <= 1:
        scaled = data * 255.0
    else:
        scaled = (data - low) * (255.0 / (high - low)) if high > low else data * 0
    return np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)
