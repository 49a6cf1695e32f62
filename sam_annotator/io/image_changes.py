"""Noticing image files that changed since their size was read (replaced, re-rotated).

Each image record keeps a FileStamp: the file's byte size, modification time and a
content fingerprint (BLAKE2b of the size, the first and the last 64 KiB: header, EXIF
and enough pixel data to tell two photos apart, without reading a whole folder of
large files on every open). A file whose size and mtime match its stamp is taken as
unchanged (as git does); otherwise its fingerprint is computed, and a different
fingerprint (or no stamp yet, e.g. after a COCO import) makes its width/height be read
again from the header. A record whose size was wrong gets the real one, and its
annotations are kept as drawn and re-measured (area, bbox) in the image's real frame;
every such image is reported (ImageChange) so the user can check them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sam_annotator.io.images import ImageLoadError, image_size
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.records import FileStamp, ImageRecord

_SAMPLE = 64 * 1024


@dataclass(frozen=True)
class ImageChange:
    """An image file that is not the one its record was made from."""

    path: str
    old_size: tuple[int, int]  # (width, height) the project had
    new_size: tuple[int, int]  # the file's, now in the record
    annotations: int  # annotations on it, drawn on the old picture

    def describe(self) -> str:
        drawn = f"{self.annotations} annotation{'s' if self.annotations != 1 else ''}"
        if self.old_size == self.new_size:
            what = "the file's content changed (same size)"
        else:
            what = (
                f"the file is now {self.new_size[0]}x{self.new_size[1]}, "
                f"was {self.old_size[0]}x{self.old_size[1]}; size corrected"
            )
        kept = f"; {drawn} drawn on the old picture kept, check them" if self.annotations else ""
        return f"{self.path}: {what}{kept}"


def file_stamp(path: str | Path) -> FileStamp:
    """The stamp of a file as it is now (raises OSError)."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        digest = hashlib.blake2b(str(info.st_size).encode(), digest_size=16)
        digest.update(handle.read(_SAMPLE))
        if info.st_size > _SAMPLE:
            handle.seek(max(_SAMPLE, info.st_size - _SAMPLE))
            digest.update(handle.read(_SAMPLE))
    return FileStamp(info.st_size, info.st_mtime_ns, digest.hexdigest())


def refresh_changed_images(document: Document, images_root: str | Path) -> list[ImageChange]:
    """Check every image file against its record's stamp; fix records of changed files
    (see the module docstring) and stamp unstamped ones. Returns the changes, in
    document order. Missing or unreadable files are left as they are."""
    root = Path(images_root)
    changes = []
    for record in document.images():
        change = _refresh(document, record, root / record.path)
        if change is not None:
            changes.append(change)
    return changes


def _refresh(document: Document, record: ImageRecord, file: Path) -> ImageChange | None:
    stamp = record.file_stamp
    try:
        info = file.stat()
        if stamp is not None and (info.st_size, info.st_mtime_ns) == (stamp.size, stamp.mtime_ns):
            return None
        new_stamp = file_stamp(file)
    except OSError:
        return None  # missing or unreadable: reported elsewhere
    if stamp is not None and new_stamp.digest == stamp.digest:
        document.replace_image(dataclasses.replace(record, file_stamp=new_stamp))  # touched
        return None
    try:
        width, height = image_size(file)
    except (ImageLoadError, OSError):
        return None
    old_size, new_size = (record.width, record.height), (width, height)
    document.replace_image(
        dataclasses.replace(record, width=width, height=height, file_stamp=new_stamp)
    )
    if stamp is None and old_size == new_size:
        return None  # first stamp (e.g. after a COCO import), and the size is right
    annotations = document.annotations(record.id)
    if old_size != new_size:
        _remeasure(document, record.id)
    return ImageChange(record.path, old_size, new_size, len(annotations))


def _remeasure(document: Document, image_id: int) -> None:
    updated = []
    for annotation in document.annotations(image_id):
        if not annotation.is_polygon:
            continue  # an RLE carries its own size; it stays as it was
        try:
            area, bbox = document.measure(image_id, annotation.segmentation)
        except DocumentError:
            continue
        updated.append(dataclasses.replace(annotation, area=area, bbox=bbox))
    document.replace_annotations(updated)
