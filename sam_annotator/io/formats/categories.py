"""Category rules shared by the readers: same-name merges and placeholder classes.

Other tools write categories that are not classes: labelme and labelme2coco a
`_background_` (id 0), Roboflow a dataset-level class (id 0, supercategory "none")
named after the project, which sometimes repeats a real class's name. Readers merge
same-name categories (`merge_same_names`), list placeholders in the report
(`placeholder_categories`) and drop them on request (`drop_placeholders`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sam_annotator.io.formats.report import ImportReport
from sam_annotator.model.document import Document
from sam_annotator.model.records import Category

PLACEHOLDER_NAMES = frozenset({"_background_", "__background__", "__ignore__"})
"""Category names other tools write for "no class" (labelme, labelme2coco)."""
PLACEHOLDER_CHOICES = ("keep", "drop")


def merge_same_names(
    categories: list[tuple[int, Category]],
    document: Document,
    fail: Callable[[str, int, Any, str], None],
) -> dict[int, tuple[int, str]]:
    """Insert (index in the file, category) pairs into `document`, merging categories
    that share a name; returns {merged id: (id merged into, name)}.

    The first of a name is kept, except Roboflow's dataset-level class (id 0,
    supercategory "none"), which gives way to the real class of its name. A repeated
    id is passed to `fail(section, index, id, reason)`.
    """
    kept: list[Category] = []
    merged_into: dict[int, tuple[int, str]] = {}
    ids: set[int] = set()
    for index, category in categories:
        if category.id in ids:
            fail("categories", index, category.id, "duplicate category id")
            continue
        ids.add(category.id)
        same = next((c for c in kept if c.name == category.name), None)
        if same is None:
            kept.append(category)
        elif _is_dataset_level(same) and not _is_dataset_level(category):
            kept[kept.index(same)] = category  # the real class takes the placeholder's place
            merged_into[same.id] = (category.id, same.name)
        else:
            merged_into[category.id] = (same.id, same.name)
    for old, (into, name) in list(merged_into.items()):
        while into in merged_into:  # a chain a -> b -> c ends at c
            into = merged_into[into][0]
        merged_into[old] = (into, name)
    for category in kept:
        document.insert_category(category)
    return merged_into


def _is_dataset_level(category: Category) -> bool:
    """Roboflow's dataset-level class: id 0 without a supercategory ('none')."""
    return category.id == 0 and category.supercategory in (None, "", "none")


def placeholder_categories(document: Document) -> list[int]:
    """Ids of categories that other tools write as placeholders, not classes:
    `_background_` (labelme, labelme2coco) and Roboflow's dataset-level class (id 0,
    supercategory "none", named as the supercategory of the real classes)."""
    categories = document.categories()
    supercategories = {c.supercategory for c in categories if c.supercategory}
    found = []
    for category in categories:
        if category.name.strip().lower() in PLACEHOLDER_NAMES or (
            category.id == 0
            and category.supercategory in (None, "", "none")
            and category.name in supercategories
        ):
            found.append(category.id)
    return found


def drop_placeholders(document: Document, report: ImportReport) -> None:
    """Remove the report's placeholder categories and their annotations (reported)."""
    for category_id in report.placeholders:
        category = document.category(category_id)
        users = [a.id for a in document.annotations_of_category(category_id)]
        document.remove_annotations(users)
        document.remove_category(category_id)
        report.dropped_placeholders.append((category_id, category.name, len(users)))
    report.annotations_read = document.annotation_count()
