"""The order of a review pass over a dataset's annotations (pure logic, no Qt).

A review pass visits annotations image by image, in the document's image order. Within
an image the most doubtful come first: annotations with a model score (``predicted_iou``,
else ``stability_score``, else a detector's ``score``, as `auto`, segment everything and
`segment-boxes` store them) by ascending score, then those without one (hand-drawn or
imported) by ascending area, since small objects are the likeliest mistakes. Ties keep
the z-order.

``next_to_review`` steps from any annotation (or from the start of an image) to the next
or previous one that is not reviewed yet, across images; reviewed annotations are passed
over, so the pass ends when none is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sam_annotator.model.document import Document
from sam_annotator.model.records import Annotation

#: Extra fields that hold a model's confidence, in order of preference.
SCORE_FIELDS = ("predicted_iou", "stability_score", "score")


def review_score(annotation: Annotation) -> tuple[str, float] | None:
    """(field name, value) of the annotation's model score, or None."""
    for name in SCORE_FIELDS:
        value = annotation.extra.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            return name, float(value)
    return None


def review_order(annotations: Iterable[Annotation]) -> list[Annotation]:
    """One image's annotations, most doubtful first (see the module docstring)."""

    def key(item: tuple[int, Annotation]) -> tuple[int, float, int]:
        z, annotation = item
        score = review_score(annotation)
        if score is not None:
            return 0, score[1], z
        return 1, float(annotation.area), z

    return [a for _, a in sorted(enumerate(annotations), key=key)]


@dataclass(frozen=True)
class ReviewPosition:
    """Where a review pass stands: an annotation, or the start of an image (None)."""

    image_id: int
    annotation_id: int | None = None


def next_to_review(
    document: Document, position: ReviewPosition | None, step: int = 1
) -> Annotation | None:
    """The next (step=1) or previous (step=-1) annotation not reviewed yet, from
    `position` (excluded), wrapping around the dataset; None when all are reviewed.
    An annotation deleted meanwhile counts from the start of its image. Only the images
    up to the answer are ordered, so a step costs little in a large dataset."""
    if step not in (1, -1):
        raise ValueError(f"step must be 1 or -1, got {step}")
    images = [image.id for image in document.images()]
    if not images:
        return None
    after = None if position is None else position.annotation_id
    if position is None:
        start = 0 if step == 1 else len(images) - 1
    else:
        start = images.index(position.image_id) if position.image_id in images else 0
    for offset in range(len(images) + 1):  # + 1: the start image's part before `after`
        image_id = images[(start + step * offset) % len(images)]
        ordered = review_order(document.annotations(image_id))
        ids = [a.id for a in ordered]
        if offset in (0, len(images)) and after in ids:
            cut = ids.index(after)
            if offset == 0:  # what follows the position in the direction of the step
                ordered = ordered[cut + 1 :] if step == 1 else ordered[:cut]
            else:  # back where it started: what precedes it
                ordered = ordered[:cut] if step == 1 else ordered[cut + 1 :]
        elif offset == 0 and step == -1 and position is not None:
            continue  # from the start of an image, backwards: the images before it
        for annotation in ordered if step == 1 else reversed(ordered):
            if not annotation.reviewed and annotation.id != after:
                return annotation
    return None


def unreviewed_count(document: Document, image_id: int | None = None) -> int:
    """Annotations not reviewed yet, in one image or (None) in the whole document."""
    annotations = document.annotations(image_id) if image_id is not None else (
        document.annotations()
    )  # fmt: skip
    return sum(1 for a in annotations if not a.reviewed)
