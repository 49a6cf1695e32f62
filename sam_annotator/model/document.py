"""The annotation document: images, categories, annotations, ids, change events. No Qt.

Reading: the query methods (`images`, `image`, `image_by_path`, `categories`,
`category`, `category_by_name`, `annotations`, `annotation`, ...) return immutable
records (records.py).

Writing: the mutators below (`insert_annotations`, `remove_category`, ...) are the
primitives that commands (commands.py) and loaders (io/) use. The GUI does not call them
directly: it pushes commands on an `UndoStack`, so that every edit can be undone, and
the autosaver hears about it through `events.changed`. Each mutator validates all its
input before it changes anything, then emits its specific event and `changed`.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam_annotator.model.events import DocumentEvents
from sam_annotator.model.geometry import segmentation_area_bbox
from sam_annotator.model.records import (
    Annotation,
    Category,
    FileStamp,
    ImageRecord,
    ImageStatus,
    Segmentation,
    default_color,
    freeze_segmentation,
)


class DocumentError(ValueError):
    """An edit the document refuses (unknown id, duplicate name, ...); nothing changed."""


@dataclass(frozen=True)
class DocumentSnapshot:
    """An immutable copy of a document's whole state, cheap to take (for autosave/export).

    images, categories (display order) and annotations (image order, then z-order).
    info / licenses / extra: COCO top-level data kept for export (do not mutate).
    """

    images_root: Path | None
    images: tuple[ImageRecord, ...]
    categories: tuple[Category, ...]
    annotations: tuple[Annotation, ...]
    info: Mapping[str, Any] | None
    licenses: Sequence[Any] | None
    extra: Mapping[str, Any]


class Document:
    """Images, categories and annotations of one dataset, with stable ids."""

    def __init__(self, images_root: str | Path | None = None) -> None:
        self.events = DocumentEvents()
        self.images_root: Path | None = Path(images_root) if images_root is not None else None
        self.info: dict[str, Any] | None = None
        """COCO 'info' object kept for export (None: write a default one)."""
        self.licenses: list[Any] | None = None
        """COCO 'licenses' list kept for export (None: write [])."""
        self.extra: dict[str, Any] = {}
        """Unknown top-level COCO fields, kept for export."""
        self._images: dict[int, ImageRecord] = {}
        self._image_by_path: dict[str, int] = {}
        self._categories: dict[int, Category] = {}
        self._category_order: list[int] = []
        self._annotations: dict[int, Annotation] = {}
        self._image_annotations: dict[int, list[int]] = {}
        self._category_use: Counter[int] = Counter()
        self._next_image_id = 1
        self._next_category_id = 1
        self._next_annotation_id = 1

    # --- queries ------------------------------------------------------------------------

    def images(self) -> tuple[ImageRecord, ...]:
        """All images, in display order."""
        return tuple(self._images.values())

    def image(self, image_id: int) -> ImageRecord:
        try:
            return self._images[image_id]
        except KeyError:
            raise KeyError(f"no image with id {image_id}") from None

    def image_by_path(self, path: str) -> ImageRecord | None:
        """The image at `path` (relative to the images root, POSIX), or None."""
        image_id = self._image_by_path.get(path)
        return None if image_id is None else self._images[image_id]

    def categories(self) -> tuple[Category, ...]:
        """All categories, in their explicit display order."""
        return tuple(self._categories[i] for i in self._category_order)

    def category(self, category_id: int) -> Category:
        try:
            return self._categories[category_id]
        except KeyError:
            raise KeyError(f"no category with id {category_id}") from None

    def category_by_name(self, name: str) -> Category | None:
        for category in self._categories.values():
            if category.name == name:
                return category
        return None

    def category_index(self, category_id: int) -> int:
        """Position of a category in the display order."""
        self.category(category_id)
        return self._category_order.index(category_id)

    def annotations(self, image_id: int | None = None) -> tuple[Annotation, ...]:
        """The annotations of one image in z-order (last drawn on top), or all of them."""
        if image_id is None:
            return tuple(
                self._annotations[a] for ids in self._image_annotations.values() for a in ids
            )
        self.image(image_id)
        return tuple(self._annotations[a] for a in self._image_annotations[image_id])

    def annotation(self, annotation_id: int) -> Annotation:
        try:
            return self._annotations[annotation_id]
        except KeyError:
            raise KeyError(f"no annotation with id {annotation_id}") from None

    def has_annotation(self, annotation_id: int) -> bool:
        return annotation_id in self._annotations

    def annotation_count(self, category_id: int | None = None) -> int:
        """Number of annotations, of one category or in all."""
        if category_id is None:
            return len(self._annotations)
        return self._category_use[category_id]

    def annotations_of_category(self, category_id: int) -> tuple[Annotation, ...]:
        return tuple(a for a in self.annotations() if a.category_id == category_id)

    def snapshot(self) -> DocumentSnapshot:
        """An immutable copy of the whole state (O(number of records), no deep copies)."""
        return DocumentSnapshot(
            images_root=self.images_root,
            images=self.images(),
            categories=self.categories(),
            annotations=self.annotations(),
            info=copy.deepcopy(self.info),
            licenses=copy.deepcopy(self.licenses),
            extra=copy.deepcopy(self.extra),
        )

    # --- building records (no change to the document except id counters) ---------------

    def allocate_annotation_id(self) -> int:
        """A fresh annotation id (>= 1, never handed out before by this document)."""
        annotation_id = self._next_annotation_id
        self._next_annotation_id += 1
        return annotation_id

    def allocate_category_id(self) -> int:
        """A fresh category id: >= 1 and above every id in use (imported 0 included)."""
        category_id = self._next_category_id
        self._next_category_id += 1
        return category_id

    def make_annotation(
        self,
        image_id: int,
        category_id: int,
        segmentation: Segmentation | Sequence[Sequence[float]],
        *,
        iscrowd: bool = False,
        extra: Mapping[str, Any] | None = None,
        annotation_id: int | None = None,
    ) -> Annotation:
        """A new Annotation with a fresh id and area/bbox computed by pycocotools.

        Raises DocumentError for an unknown image/category or a bad segmentation (e.g.
        "polygon 1 has 5 coordinates (odd)"). The document does not change: push
        `AddAnnotation(annotation)` to add it.
        """
        self._require_category(category_id)
        area, bbox = self.measure(image_id, segmentation)
        return Annotation(
            id=self.allocate_annotation_id() if annotation_id is None else annotation_id,
            image_id=image_id,
            category_id=category_id,
            segmentation=freeze_segmentation(segmentation),
            area=area,
            bbox=bbox,
            iscrowd=iscrowd,
            extra=extra or {},
        )

    def measure(
        self, image_id: int, segmentation: Segmentation | Sequence[Sequence[float]]
    ) -> tuple[int, tuple[float, float, float, float]]:
        """(area, bbox) of a segmentation on an image, as pycocotools computes them.

        DocumentError for a bad segmentation, and for one that covers no pixel (a
        three-point line, a polygon collapsed by an edit, a sliver between pixel
        centres): such geometry would reach a file as area 0, bbox [0, 0, 0, 0].
        """
        image = self._require_image(image_id)
        try:
            area, bbox = segmentation_area_bbox(
                freeze_segmentation(segmentation), image.height, image.width
            )
        except ValueError as error:
            raise DocumentError(f"image {image_id}: {error}") from None
        if area == 0:
            raise DocumentError(
                f"image {image_id}: the shape covers no pixel (zero area); draw it larger"
            )
        return area, bbox

    def make_category(
        self, name: str, *, color: str | None = None, supercategory: str | None = None
    ) -> Category:
        """A new Category with a fresh id (default colour from the palette).

        The document does not change: push `AddCategory` to add it.
        """
        category_id = self.allocate_category_id()
        return Category(
            category_id, name.strip(), color or default_color(category_id), supercategory
        )

    # --- images (set up when a folder or file is opened; not undoable) -----------------

    def add_image(
        self,
        path: str,
        width: int,
        height: int,
        *,
        image_id: int | None = None,
        status: ImageStatus = ImageStatus.NOT_STARTED,
        extra: Mapping[str, Any] | None = None,
        file_stamp: FileStamp | None = None,
    ) -> ImageRecord:
        """Add one image (path relative to the images root, POSIX); a fresh id by default."""
        image = ImageRecord(
            self._next_image_id if image_id is None else image_id,
            path, width, height, status, extra or {}, file_stamp,
        )  # fmt: skip
        self.insert_images([image])
        return image

    def insert_images(self, images: Iterable[ImageRecord]) -> None:
        images = tuple(images)
        paths, ids = set(), set()
        for image in images:
            if image.id < 0:
                raise DocumentError(f"image id {image.id} is not >= 0")
            if image.id in self._images or image.id in ids:
                raise DocumentError(f"image id {image.id} is already used")
            if image.path in self._image_by_path or image.path in paths:
                raise DocumentError(f"image {image.path!r} is already in the document")
            ids.add(image.id)
            paths.add(image.path)
        for image in images:
            self._images[image.id] = image
            self._image_by_path[image.path] = image.id
            self._image_annotations[image.id] = []
            self._next_image_id = max(self._next_image_id, image.id + 1)
        if images:
            self.events.images_added.emit(images)
            self.events.changed.emit()

    def replace_image(self, image: ImageRecord) -> None:
        """Replace an image record (same id and path), e.g. with a new status."""
        old = self._require_image(image.id)
        if image.path != old.path:
            raise DocumentError(f"image {image.id}: the path cannot change")
        self._images[image.id] = image
        self.events.image_changed.emit(image)
        self.events.changed.emit()

    # --- annotations --------------------------------------------------------------------

    def insert_annotations(
        self, annotations: Iterable[Annotation], positions: Sequence[int | None] | None = None
    ) -> None:
        """Add annotations; positions[i]: index in its image's z-order (None: on top)."""
        annotations = tuple(annotations)
        positions = list(positions) if positions is not None else [None] * len(annotations)
        if len(positions) != len(annotations):
            raise DocumentError("one position per annotation is needed")
        ids: set[int] = set()
        for annotation in annotations:
            if annotation.id in self._annotations or annotation.id in ids:
                raise DocumentError(f"annotation id {annotation.id} is already used")
            if annotation.id < 1:
                raise DocumentError(f"annotation id {annotation.id} is not >= 1")
            ids.add(annotation.id)
            self._check_references(annotation)
        for annotation, position in zip(annotations, positions, strict=True):
            order = self._image_annotations[annotation.image_id]
            order.insert(len(order) if position is None else position, annotation.id)
            self._annotations[annotation.id] = annotation
            self._category_use[annotation.category_id] += 1
            self._next_annotation_id = max(self._next_annotation_id, annotation.id + 1)
        if annotations:
            self.events.annotations_added.emit(annotations)
            self.events.changed.emit()

    def remove_annotations(self, annotation_ids: Iterable[int]) -> list[tuple[Annotation, int]]:
        """Remove annotations; returns (annotation, z-order index) in removal order.

        Re-inserting them in reverse order at those indices restores the document.
        """
        annotation_ids = list(dict.fromkeys(annotation_ids))
        for annotation_id in annotation_ids:
            self._require_annotation(annotation_id)
        removed = []
        for annotation_id in annotation_ids:
            annotation = self._annotations.pop(annotation_id)
            order = self._image_annotations[annotation.image_id]
            index = order.index(annotation_id)
            del order[index]
            self._category_use[annotation.category_id] -= 1
            removed.append((annotation, index))
        if removed:
            self.events.annotations_removed.emit(tuple(a for a, _ in removed))
            self.events.changed.emit()
        return removed

    def replace_annotations(self, annotations: Iterable[Annotation]) -> None:
        """Replace annotations by id (same image); keeps their z-order."""
        annotations = tuple(annotations)
        for annotation in annotations:
            old = self._require_annotation(annotation.id)
            if annotation.image_id != old.image_id:
                raise DocumentError(f"annotation {annotation.id}: the image cannot change")
            self._check_references(annotation)

        for annotation in annotations:
            self._category_use[self._annotations[annotation.id].category_id] -= 1
            self._category_use[annotation.category_id] += 1
            self._annotations[annotation.id] = annotation
        if annotations:
            self.events.annotations_changed.emit(annotations)
            self.events.changed.emit()

    # --- categories ---------------------------------------------------------------------

    def insert_category(self, category: Category, index: int | None = None) -> None:
        """Add a category at `index` in the display order (None: last)."""
        if category.id in self._categories:
            raise DocumentError(f"category id {category.id} is already used")
        self._check_name_free(category.name, category.id)
        self._categories[category.id] = category
        position = len(self._category_order) if index is None else index
        self._category_order.insert(position, category.id)
        self._next_category_id = max(self._next_category_id, category.id + 1)
        self.events.category_added.emit(category)
        self.events.changed.emit()

    def remove_category(self, category_id: int) -> int:
        """Remove an unused category; returns its index in the display order."""
        category = self._require_category(category_id)
        if self._category_use[category_id]:
            raise DocumentError(
                f"category {category.name!r} is used by {self._category_use[category_id]} "
                "annotations"
            )
        index = self._category_order.index(category_id)
        del self._category_order[index]
        del self._categories[category_id]
        self.events.category_removed.emit(category)
        self.events.changed.emit()
        return index

    def replace_category(self, category: Category) -> None:
        """Replace a category by id (new name, colour, ...)."""
        self._require_category(category.id)
        self._check_name_free(category.name, category.id)
        self._categories[category.id] = category
        self.events.category_changed.emit(category)
        self.events.changed.emit()

    def set_category_order(self, category_ids: Sequence[int]) -> None:
        """Set the display order; `category_ids` must hold every category id once."""
        order = list(category_ids)
        if sorted(order) != sorted(self._category_order):
            raise DocumentError(
                f"a new order must list every category id once: got {order}, "
                f"have {sorted(self._category_order)}"
            )
        self._category_order = order
        self.events.categories_reordered.emit(tuple(order))
        self.events.changed.emit()

    # --- whole document -----------------------------------------------------------------

    def replace_contents(self, other: Document) -> None:
        """Take over `other`'s whole state (e.g. after loading a file); emits `reset`."""
        for name in (
            "images_root", "info", "licenses", "extra", "_images", "_image_by_path",
            "_categories", "_category_order", "_annotations", "_image_annotations",
            "_category_use", "_next_image_id", "_next_category_id", "_next_annotation_id",
        ):  # fmt: skip
            setattr(self, name, copy.copy(getattr(other, name)))
        self._image_annotations = {k: list(v) for k, v in other._image_annotations.items()}
        self.events.reset.emit()
        self.events.changed.emit()

    # --- helpers ------------------------------------------------------------------------

    def _require_image(self, image_id: int) -> ImageRecord:
        image = self._images.get(image_id)
        if image is None:
            raise DocumentError(f"no image with id {image_id}")
        return image

    def _require_category(self, category_id: int) -> Category:
        category = self._categories.get(category_id)
        if category is None:
            raise DocumentError(f"no category with id {category_id}")
        return category

    def _require_annotation(self, annotation_id: int) -> Annotation:
        annotation = self._annotations.get(annotation_id)
        if annotation is None:
            raise DocumentError(f"no annotation with id {annotation_id}")
        return annotation

    def _check_references(self, annotation: Annotation) -> None:
        self._require_image(annotation.image_id)
        self._require_category(annotation.category_id)

    def _check_name_free(self, name: str, category_id: int) -> None:
        other = self.category_by_name(name)
        if other is not None and other.id != category_id:
            raise DocumentError(f"a category named {name!r} exists already (id {other.id})")
