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

import errno
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from sam_annotator.model.natural_order import natural_key

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


@dataclass
class ImageScan:
    """What `scan_images` found: image files, and entries left out with the reason.

    paths: each real file once, in natural order. skipped: relative POSIX path -> why it
    was left out (a link to a folder or file already listed, a link loop, a dangling
    link, a folder that cannot be read).
    """

    paths: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def list_images(folder: str | Path, *, recursive: bool = False) -> list[Path]:
    """Image files in `folder` (and sub-folders if recursive), in natural order.

    Natural order compares digit runs as numbers ('img2' before 'img10'), ignoring case.
    Files are picked by extension (SUPPORTED_EXTENSIONS, any case); hidden files (a
    name starting with '.', e.g. macOS '._x.jpg') are skipped. Each real file is listed
    once, however many links lead to it (see `scan_images`, which also says what it
    left out).
    """
    return scan_images(folder, recursive=recursive).paths


def scan_images(folder: str | Path, *, recursive: bool = False) -> ImageScan:
    """`list_images`, with the entries it left out and why.

    Folders and files are identified by (st_dev, st_ino): a folder reached again through
    a link (e.g. a link to its parent) is not walked again, and a file reached through
    several links is listed once, under the first path found. Real entries are walked
    before links, so a file keeps its real path where it has one.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    scan = ImageScan()
    seen_files: dict[tuple[int, int], Path] = {}
    root_stat = root.stat()
    seen_dirs = {(root_stat.st_dev, root_stat.st_ino): root}
    found: list[Path] = []

    def relative(path: Path) -> str:
        return path.relative_to(root).as_posix() or "."

    def walk(directory: Path) -> None:
        try:
            entries = sorted(
                (e for e in directory.iterdir() if not e.name.startswith(".")),
                key=lambda e: (e.is_symlink(), natural_key(e.name)),
            )
        except OSError as error:
            scan.skipped[relative(directory)] = f"the folder cannot be read ({error.strerror})"
            return
        subfolders = []
        for entry in entries:
            is_image = entry.suffix.lower() in SUPPORTED_EXTENSIONS
            try:
                info = entry.stat()
            except OSError as error:
                if entry.is_symlink() and (is_image or (recursive and not entry.suffix)):
                    scan.skipped[relative(entry)] = _broken_link_reason(entry, error)
                continue
            key = (info.st_dev, info.st_ino)
            if stat.S_ISDIR(info.st_mode):
                if not recursive:
                    continue
                if key in seen_dirs:
                    scan.skipped[relative(entry)] = (
                        f"a link to a folder already listed ({relative(seen_dirs[key])})"
                    )
                    continue
                seen_dirs[key] = entry
                subfolders.append(entry)
            elif is_image and stat.S_ISREG(info.st_mode):
                if key in seen_files:
                    scan.skipped[relative(entry)] = (
                        f"the same file as {relative(seen_files[key])}, already listed"
                    )
                    continue
                seen_files[key] = entry
                found.append(entry)
        for subfolder in subfolders:
            walk(subfolder)

    walk(root)
    scan.paths = sorted(found, key=lambda path: natural_key(path.relative_to(root).as_posix()))
    return scan


def _broken_link_reason(link: Path, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a link loop (the link leads back to itself)"
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return f"a link to {target}, which does not exist ({error.strerror})"


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
