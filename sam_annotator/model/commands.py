"""Every edit the GUI makes, as an undoable command. Push them on an UndoStack.

Each command validates in `redo` before it changes anything (raising DocumentError,
a ValueError), so a refused command leaves the document and the stack as they were.
Ids are fixed on the first `redo`, so undo/redo always brings back the same ids.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.records import (
    Annotation,
    Category,
    ImageRecord,
    ImageStatus,
    Segmentation,
    freeze_segmentation,
)
from sam_annotator.model.tracks import without_propagated
from sam_annotator.model.undo_stack import Command


class CategoryInUseError(DocumentError):
    """DeleteCategory of a category that annotations use, without saying what to do."""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}s" if count != 1 else noun


class AddAnnotations(Command):
    """Add annotations built with `Document.make_annotation` (e.g. "accept all")."""

    def __init__(self, annotations: Iterable[Annotation]) -> None:
        self.annotations = tuple(annotations)
        self.text = f"Add {_plural(len(self.annotations), 'annotation')}"

    def redo(self, document: Document) -> None:
        document.insert_annotations(self.annotations)

    def undo(self, document: Document) -> None:
        document.remove_annotations(a.id for a in self.annotations)


class AddAnnotation(AddAnnotations):
    """Add one annotation."""

    def __init__(self, annotation: Annotation) -> None:
        super().__init__([annotation])

    @property
    def annotation(self) -> Annotation:
        return self.annotations[0]


class DeleteAnnotations(Command):
    """Delete annotations by id; undo puts them back at their z-order positions."""

    def __init__(self, annotation_ids: Iterable[int]) -> None:
        self.annotation_ids = tuple(dict.fromkeys(annotation_ids))
        self.text = f"Delete {_plural(len(self.annotation_ids), 'annotation')}"
        self._removed: list[tuple[Annotation, int]] = []

    def redo(self, document: Document) -> None:
        self._removed = document.remove_annotations(self.annotation_ids)

    def undo(self, document: Document) -> None:
        restore = list(reversed(self._removed))
        document.insert_annotations([a for a, _ in restore], [i for _, i in restore])


class SetAnnotationCategory(Command):
    """Give annotations another category."""

    def __init__(self, annotation_ids: Iterable[int], category_id: int) -> None:
        self.annotation_ids = tuple(dict.fromkeys(annotation_ids))
        self.category_id = category_id
        self.text = "Change category"
        self._old: tuple[Annotation, ...] = ()

    def redo(self, document: Document) -> None:
        _require_category(document, self.category_id)
        self._old = tuple(_require(document, i) for i in self.annotation_ids)
        document.replace_annotations(replace(a, category_id=self.category_id) for a in self._old)

    def undo(self, document: Document) -> None:
        document.replace_annotations(self._old)


class SetReviewed(Command):
    """Mark annotations reviewed (or not reviewed)."""

    def __init__(self, annotation_ids: Iterable[int], reviewed: bool = True) -> None:
        self.annotation_ids = tuple(dict.fromkeys(annotation_ids))
        self.reviewed = reviewed
        count = _plural(len(self.annotation_ids), "annotation")
        self.text = f"Mark {count} {'reviewed' if reviewed else 'not reviewed'}"
        self._old: tuple[Annotation, ...] = ()

    def redo(self, document: Document) -> None:
        self._old = tuple(_require(document, i) for i in self.annotation_ids)
        try:
            changed = [a.with_reviewed(self.reviewed) for a in self._old]
        except ValueError as error:
            raise DocumentError(str(error)) from None
        document.replace_annotations(changed)

    def undo(self, document: Document) -> None:
        document.replace_annotations(self._old)


class EditPolygon(Command):
    """Replace an annotation's segmentation (polygons, or an Rle); area/bbox recomputed.
    A tracked shape edited this way becomes a keyframe (tracks.py).

    merge_key: consecutive edits of the same annotation with the same non-None key merge
    into one undo step (give one key per vertex drag, e.g. a counter).
    """

    def __init__(
        self,
        annotation_id: int,
        segmentation: Segmentation | Sequence[Sequence[float]],
        *,
        merge_key: Hashable | None = None,
    ) -> None:
        self.annotation_id = annotation_id
        self.segmentation = freeze_segmentation(segmentation)
        self.merge_key = merge_key
        self.text = "Edit polygon"
        self._old: Annotation | None = None
        self._new: Annotation | None = None

    def redo(self, document: Document) -> None:
        current = _require(document, self.annotation_id)
        if self._new is None:
            area, bbox = document.measure(current.image_id, self.segmentation)
            self._old = current
            extra = without_propagated(current.extra)  # now a person's shape: a keyframe
            self._new = replace(
                current, segmentation=self.segmentation, area=area, bbox=bbox, extra=extra
            )
        document.replace_annotations([self._new])

    def undo(self, document: Document) -> None:
        if self._old is not None:
            document.replace_annotations([self._old])

    def merge(self, newer: Command) -> bool:
        if (
            isinstance(newer, EditPolygon)
            and self.merge_key is not None
            and newer.merge_key == self.merge_key
            and newer.annotation_id == self.annotation_id
        ):
            self.segmentation = newer.segmentation
            self._new = newer._new
            return True
        return False


class AddCategory(Command):
    """Add a category (fresh id >= 1 on the first redo; read it from `category`)."""

    def __init__(
        self,
        name: str,
        *,
        color: str | None = None,
        supercategory: str | None = None,
        index: int | None = None,
    ) -> None:
        self.name = name
        self.color = color
        self.supercategory = supercategory
        self.index = index
        self.category: Category | None = None
        self.text = f"Add category {name.strip()!r}"

    def redo(self, document: Document) -> None:
        if self.category is None:
            existing = document.category_by_name(self.name.strip())
            if existing is not None:
                raise DocumentError(f"a category named {existing.name!r} exists already")
            self.category = document.make_category(
                self.name, color=self.color, supercategory=self.supercategory
            )
        document.insert_category(self.category, self.index)

    def undo(self, document: Document) -> None:
        if self.category is not None:
            document.remove_category(self.category.id)


class _ChangeCategory(Command):
    """Replace a category record by a changed copy."""

    def __init__(self, category_id: int, text: str, **changes: Any) -> None:
        self.category_id = category_id
        self.changes = changes
        self.text = text
        self._old: Category | None = None

    def redo(self, document: Document) -> None:
        self._old = _require_category(document, self.category_id)
        document.replace_category(replace(self._old, **self.changes))

    def undo(self, document: Document) -> None:
        if self._old is not None:
            document.replace_category(self._old)


class RenameCategory(_ChangeCategory):
    def __init__(self, category_id: int, name: str) -> None:
        super().__init__(category_id, f"Rename category to {name.strip()!r}", name=name.strip())


class RecolorCategory(_ChangeCategory):
    def __init__(self, category_id: int, color: str) -> None:
        super().__init__(category_id, "Change category colour", color=color)


class ReorderCategories(Command):
    """Set the display order of the categories (every id once)."""

    def __init__(self, category_ids: Sequence[int]) -> None:
        self.category_ids = tuple(category_ids)
        self.text = "Reorder categories"
        self._old: tuple[int, ...] = ()

    def redo(self, document: Document) -> None:
        self._old = tuple(c.id for c in document.categories())
        document.set_category_order(self.category_ids)

    def undo(self, document: Document) -> None:
        document.set_category_order(self._old)


class DeleteCategory(Command):
    """Delete a category, deciding explicitly what happens to its annotations.

    If annotations use it, exactly one of `reassign_to` (another category id: they move
    there) or `delete_annotations=True` (they are deleted too) is required; otherwise
    `redo` raises CategoryInUseError and nothing changes. One undo restores all.
    """

    def __init__(
        self,
        category_id: int,
        *,
        reassign_to: int | None = None,
        delete_annotations: bool = False,
    ) -> None:
        if reassign_to is not None and delete_annotations:
            raise ValueError("choose either reassign_to or delete_annotations, not both")
        if reassign_to is not None and reassign_to == category_id:
            raise ValueError("cannot reassign annotations to the category being deleted")
        self.category_id = category_id
        self.reassign_to = reassign_to
        self.delete_annotations = delete_annotations
        self.text = "Delete category"
        self._category: Category | None = None
        self._index = 0
        self._moved: tuple[Annotation, ...] = ()
        self._removed: list[tuple[Annotation, int]] = []

    def redo(self, document: Document) -> None:
        category = _require_category(document, self.category_id)
        users = document.annotations_of_category(self.category_id)
        if users and self.reassign_to is None and not self.delete_annotations:
            raise CategoryInUseError(
                f"category {category.name!r} is used by {len(users)} annotation(s): "
                "reassign them to another category or delete them too"
            )
        if self.reassign_to is not None:
            _require_category(document, self.reassign_to)
        self._category = category
        self.text = f"Delete category {category.name!r}"
        self._moved, self._removed = (), []
        if users and self.reassign_to is not None:
            self._moved = users
            document.replace_annotations(replace(a, category_id=self.reassign_to) for a in users)
        elif users:
            self._removed = document.remove_annotations(a.id for a in users)
        self._index = document.remove_category(self.category_id)

    def undo(self, document: Document) -> None:
        if self._category is None:
            return
        document.insert_category(self._category, self._index)
        if self._moved:
            document.replace_annotations(self._moved)
        if self._removed:
            restore = list(reversed(self._removed))
            document.insert_annotations([a for a, _ in restore], [i for _, i in restore])


class SetImageStatus(Command):
    """Mark an image not started / in progress / done."""

    def __init__(self, image_id: int, status: ImageStatus | str) -> None:
        self.image_id = image_id
        self.status = ImageStatus(status)
        self.text = f"Mark image {self.status.value.replace('_', ' ')}"
        self._old: ImageStatus | None = None

    def redo(self, document: Document) -> None:
        image = _require_image(document, self.image_id)
        self._old = image.status
        document.replace_image(replace(image, status=self.status))

    def undo(self, document: Document) -> None:
        if self._old is not None:
            image = document.image(self.image_id)
            document.replace_image(replace(image, status=self._old))


class MacroCommand(Command):
    """Several commands as one undo step, applied in order, undone in reverse.

    If one of them fails, the ones already applied are undone and the error re-raised.
    """

    def __init__(self, text: str, commands: Iterable[Command]) -> None:
        self.text = text
        self.commands = tuple(commands)

    def redo(self, document: Document) -> None:
        done: list[Command] = []
        try:
            for command in self.commands:
                command.redo(document)
                done.append(command)
        except Exception:
            for command in reversed(done):
                command.undo(document)
            raise

    def undo(self, document: Document) -> None:
        for command in reversed(self.commands):
            command.undo(document)


def _require(document: Document, annotation_id: int) -> Annotation:
    if not document.has_annotation(annotation_id):
        raise DocumentError(f"no annotation with id {annotation_id}")
    return document.annotation(annotation_id)


def _require_category(document: Document, category_id: int) -> Category:
    try:
        return document.category(category_id)
    except KeyError:
        raise DocumentError(f"no category with id {category_id}") from None


def _require_image(document: Document, image_id: int) -> ImageRecord:
    try:
        return document.image(image_id)
    except KeyError:
        raise DocumentError(f"no image with id {image_id}") from None
