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


def review_sequence(document: Document) -> list[Annotation]:
    """Every annotation of the document in review order (reviewed ones included)."""
    return [
        annotation
        for image in document.images()
        for annotation in review_order(document.annotations(image.id))
    ]


def next_to_review(
    document: Document, position: ReviewPosition | None, step: int = 1
) -> Annotation | None:
    """The next (step=1) or previous (step=-1) annotation not reviewed yet, from
    `position` (excluded), wrapping around the dataset; None when all are reviewed.
    An annotation deleted meanwhile counts from the start of its image."""
    if step not in (1, -1):
        raise ValueError(f"step must be 1 or -1, got {step}")
    sequence = review_sequence(document)
    if not sequence:
        return None
    start = _index(document, sequence, position, step)
    count = len(sequence)
    for offset in range(count):
        annotation = sequence[(start + step * offset) % count]
        if not annotation.reviewed and not _is(annotation, position):
            return annotation
    return None


def unreviewed_count(document: Document, image_id: int | None = None) -> int:
    """Annotations not reviewed yet, in one image or (None) in the whole document."""
    annotations = document.annotations(image_id) if image_id is not None else (
        document.annotations()
    )  # fmt: skip
    return sum(1 for a in annotations if not a.reviewed)


def _is(annotation: Annotation, position: ReviewPosition | None) -> bool:
    return position is not None and annotation.id == position.annotation_id


def _index(
    document: Document,
    sequence: list[Annotation],
    position: ReviewPosition | None,
    step: int,
) -> int:
    """Where to start scanning in `sequence` for a scan in direction `step`."""
    if position is None:
        return 0 if step == 1 else len(sequence) - 1
    if position.annotation_id is not None:
        for index, annotation in enumerate(sequence):
            if annotation.id == position.annotation_id:
                return index + step
    # The start of the image: its first annotation, or the first of a later image.
    order = [image.id for image in document.images()]
    rank = {image_id: n for n, image_id in enumerate(order)}
    here = rank.get(position.image_id, 0)
    for index, annotation in enumerate(sequence):
        if rank[annotation.image_id] >= here:
            return index if step == 1 else index - 1
    return 0 if step == 1 else len(sequence) - 1
