"""The review pass: the reviewed flag (kept as a COCO attribute, undoable) and the order
annotations are visited in: image by image, most doubtful first, reviewed ones skipped."""

from __future__ import annotations

import pytest

from sam_annotator.model.commands import AddAnnotation, SetReviewed
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.review import (
    ReviewPosition,
    next_to_review,
    review_order,
    unreviewed_count,
)
from sam_annotator.model.undo_stack import UndoStack


def square(x: float, y: float, side: float) -> list[list[float]]:
    return [[x, y, x + side, y, x + side, y + side, x, y + side]]


@pytest.fixture
def doc():
    document = Document()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        document.add_image(name, 100, 100)
    document.insert_category(document.make_category("thing"))
    return document


def add(stack, doc, image_index, side, **extra):
    image = doc.images()[image_index]
    category = doc.categories()[0].id
    annotation = doc.make_annotation(image.id, category, square(5, 5, side), extra=extra)
    stack.push(AddAnnotation(annotation))
    return annotation.id


def test_the_flag_is_an_attribute_that_keeps_the_others_and_undoes(doc):
    stack = UndoStack(doc)
    first = add(stack, doc, 0, 10, attributes={"occluded": False})
    assert not doc.annotation(first).reviewed
    stack.push(SetReviewed([first]))
    marked = doc.annotation(first)
    assert marked.reviewed
    assert dict(marked.extra["attributes"]) == {"occluded": False, "reviewed": True}
    stack.undo()
    assert dict(doc.annotation(first).extra["attributes"]) == {"occluded": False}
    stack.redo()
    stack.push(SetReviewed([first], reviewed=False))
    assert "reviewed" not in doc.annotation(first).extra["attributes"]


def test_a_foreign_attributes_value_is_not_overwritten(doc):
    stack = UndoStack(doc)
    odd = add(stack, doc, 0, 10, attributes="occluded")
    with pytest.raises(DocumentError, match="not an object"):
        stack.push(SetReviewed([odd]))
    assert doc.annotation(odd).extra["attributes"] == "occluded"


def test_within_an_image_scored_ones_come_first_lowest_score_first_then_small_ones(doc):
    stack = UndoStack(doc)
    big = add(stack, doc, 0, 50)
    sure = add(stack, doc, 0, 20, predicted_iou=0.98)
    small = add(stack, doc, 0, 5)
    doubtful = add(stack, doc, 0, 30, predicted_iou=0.61)
    stable = add(stack, doc, 0, 30, stability_score=0.7)
    order = [a.id for a in review_order(doc.annotations(doc.images()[0].id))]
    assert order == [doubtful, stable, sure, small, big]


def test_next_to_review_crosses_images_skips_reviewed_and_wraps(doc):
    stack = UndoStack(doc)
    a1 = add(stack, doc, 0, 10)
    a2 = add(stack, doc, 0, 20)
    c1 = add(stack, doc, 2, 10)  # image b has none
    stack.push(SetReviewed([a2]))
    images = [image.id for image in doc.images()]
    assert next_to_review(doc, None).id == a1
    assert next_to_review(doc, ReviewPosition(images[0], a1)).id == c1  # a2 is reviewed
    assert next_to_review(doc, ReviewPosition(images[2], c1)).id == a1  # wraps around
    assert next_to_review(doc, ReviewPosition(images[0], a1), step=-1).id == c1
    assert next_to_review(doc, None, step=-1).id == c1  # backwards from the end
    assert next_to_review(doc, ReviewPosition(images[2], c1), step=-1).id == a1
    assert next_to_review(doc, ReviewPosition(images[1]), step=-1).id == a1  # before b
    assert next_to_review(doc, ReviewPosition(images[1])).id == c1  # from an empty image
    assert next_to_review(doc, ReviewPosition(images[2], 999)).id == c1  # deleted: its image
    assert unreviewed_count(doc) == 2 and unreviewed_count(doc, images[0]) == 1
    a3 = add(stack, doc, 0, 30)  # larger than a1: after it within image a
    assert next_to_review(doc, ReviewPosition(images[0], a1)).id == a3
    assert next_to_review(doc, ReviewPosition(images[0], a3), step=-1).id == a1
    assert next_to_review(doc, ReviewPosition(images[0], a3)).id == c1
    stack.undo()
    stack.push(SetReviewed([a1, c1]))
    assert next_to_review(doc, None) is None and unreviewed_count(doc) == 0
