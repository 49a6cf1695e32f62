"""Document: records, ids, queries, validation, events."""

from __future__ import annotations

import numpy as np
import pytest

from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.geometry import mask_to_polygons, polygons_to_mask
from sam_annotator.model.records import Annotation, Category, ImageRecord, ImageStatus
from sam_annotator.model.rle import Rle

SQUARE = [[10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0]]


@pytest.fixture
def doc():
    document = Document("/data/images")
    document.add_image("a.jpg", 64, 48)
    document.add_image("sub/b.png", 32, 32)
    document.insert_category(document.make_category("cat"))
    document.insert_category(document.make_category("dog", color="#00FF00"))
    return document


def record_events(document):
    log = []
    events = document.events
    for name in vars(events):
        getattr(events, name).connect(lambda *args, name=name: log.append((name, args)))
    return log


def test_images_have_stable_ids_from_one_and_are_found_by_path(doc):
    a, b = doc.images()
    assert (a.id, a.path, a.width, a.height, a.status) == (
        1, "a.jpg", 64, 48, ImageStatus.NOT_STARTED,
    )  # fmt: skip
    assert b.id == 2 and doc.image_by_path("sub/b.png") == b
    assert doc.image_by_path("missing.jpg") is None
    with pytest.raises(DocumentError, match="already in the document"):
        doc.add_image("a.jpg", 1, 1)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        doc.add_image("c.jpg", 0, 10)
    with pytest.raises(KeyError, match="no image with id 9"):
        doc.image(9)


def test_categories_ids_names_colours_and_order(doc):
    cat, dog = doc.categories()
    assert (cat.id, dog.id) == (1, 2)
    assert dog.color == "#00ff00" and cat.color.startswith("#") and len(cat.color) == 7
    assert doc.category_by_name("dog") == dog and doc.category_by_name("cow") is None
    with pytest.raises(DocumentError, match="exists already"):
        doc.insert_category(doc.make_category("dog"))
    with pytest.raises(ValueError, match="#rrggbb"):
        doc.make_category("cow", color="green")
    doc.set_category_order([2, 1])
    assert [c.name for c in doc.categories()] == ["dog", "cat"]
    with pytest.raises(DocumentError, match="every category id once"):
        doc.set_category_order([2])


def test_new_category_ids_never_collide_with_imported_ones():
    document = Document()
    document.insert_category(Category(0, "_background_", "#000000"))
    document.insert_category(Category(7, "car", "#ff0000"))
    assert document.make_category("new").id == 8
    empty = Document()
    assert empty.make_category("first").id == 1


def test_make_annotation_computes_area_and_bbox_with_pycocotools(doc):
    annotation = doc.make_annotation(1, 2, SQUARE, extra={"score": 0.9})
    assert annotation.area == 200 and annotation.bbox == (10.0, 10.0, 20.0, 10.0)
    assert annotation.segmentation == tuple(tuple(p) for p in SQUARE)
    assert annotation.extra == {"score": 0.9}
    assert not doc.has_annotation(annotation.id)  # building does not add
    with pytest.raises(DocumentError, match="polygon 0 has 5 coordinates"):
        doc.make_annotation(1, 2, [[1, 2, 3, 4, 5]])
    with pytest.raises(DocumentError, match="no category with id 9"):
        doc.make_annotation(1, 9, SQUARE)
    with pytest.raises(DocumentError, match="RLE size"):
        doc.make_annotation(1, 1, Rle.from_mask(np.ones((5, 5))), iscrowd=True)


def test_a_mask_with_holes_goes_in_as_one_annotation_and_comes_back(doc):
    mask = np.zeros((48, 64), bool)
    mask[5:40, 5:60] = True
    mask[15:25, 15:25] = False
    mask[42:46, 2:6] = True
    polygons = mask_to_polygons(mask).polygons
    annotation = doc.make_annotation(1, 1, polygons)
    assert annotation.area == mask.sum()
    np.testing.assert_array_equal(polygons_to_mask(annotation.polygons, 48, 64), mask)


def test_insert_remove_replace_and_z_order(doc):
    log = record_events(doc)
    first = doc.make_annotation(1, 1, SQUARE)
    second = doc.make_annotation(1, 2, SQUARE)
    third = doc.make_annotation(2, 1, SQUARE)
    doc.insert_annotations([first, second, third])
    assert doc.annotations(1) == (first, second) and doc.annotations(2) == (third,)
    assert doc.annotations() == (first, second, third)
    assert doc.annotation_count() == 3 and doc.annotation_count(1) == 2
    assert log[0] == ("annotations_added", ((first, second, third),)) and log[1][0] == "changed"
    removed = doc.remove_annotations([first.id])
    assert removed == [(first, 0)] and doc.annotations(1) == (second,)
    doc.insert_annotations([first], [0])
    assert doc.annotations(1) == (first, second)
    moved = Annotation(**{**vars(second), "category_id": 1})
    doc.replace_annotations([moved])
    assert doc.annotation(second.id).category_id == 1 and doc.annotation_count(1) == 3
    assert ("annotations_changed", ((moved,),)) in log


def test_mutators_validate_everything_before_changing_anything(doc):
    good = doc.make_annotation(1, 1, SQUARE)
    orphan = Annotation(99, 5, 1, SQUARE, 200, (0, 0, 1, 1))
    before = doc.snapshot()
    log = record_events(doc)
    with pytest.raises(DocumentError, match="no image with id 5"):
        doc.insert_annotations([good, orphan])
    with pytest.raises(DocumentError, match="already used"):
        doc.insert_annotations([good, good])
    with pytest.raises(DocumentError, match="no annotation with id 12345"):
        doc.remove_annotations([12345])
    with pytest.raises(DocumentError, match="used by"):
        doc.insert_annotations([good])
        doc.remove_category(1)
    doc.remove_annotations([good.id])
    assert doc.snapshot() == before
    assert [name for name, _ in log] == [
        "annotations_added", "changed", "annotations_removed", "changed",
    ]  # fmt: skip


def test_annotation_ids_are_fresh_and_never_reused(doc):
    a = doc.make_annotation(1, 1, SQUARE)
    doc.insert_annotations([a])
    doc.remove_annotations([a.id])
    b = doc.make_annotation(1, 1, SQUARE)
    assert b.id > a.id >= 1
    doc.insert_annotations([Annotation(2**40, 1, 1, SQUARE, 200, (10, 10, 20, 10))])
    assert doc.make_annotation(1, 1, SQUARE).id == 2**40 + 1


def test_records_are_immutable_and_copy_their_extra_fields():
    extra = {"score": [0.5]}
    image = ImageRecord(1, "x.jpg", 10, 10, extra=extra)
    extra["score"].append(1)
    assert image.extra == {"score": [0.5]}
    with pytest.raises(AttributeError):
        image.width = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        image.extra["new"] = 1  # type: ignore[index]


def test_replace_contents_resets_and_keeps_listeners(doc):
    other = Document("/elsewhere")
    other.add_image("z.jpg", 5, 5)
    log = record_events(doc)
    doc.replace_contents(other)
    assert [i.path for i in doc.images()] == ["z.jpg"] and doc.categories() == ()
    assert [name for name, _ in log] == ["reset", "changed"]
    other.add_image("y.jpg", 5, 5)  # the two documents do not share state
    assert len(doc.images()) == 1


def test_snapshot_is_a_frozen_copy(doc):
    snapshot = doc.snapshot()
    doc.insert_annotations([doc.make_annotation(1, 1, SQUARE)])
    assert snapshot.annotations == () and len(doc.snapshot().annotations) == 1
