"""UndoStack semantics and every command: redo, undo, redo again restore exact states."""

from __future__ import annotations

import pytest

from sam_annotator.model.commands import (
    AddAnnotation,
    AddAnnotations,
    AddCategory,
    CategoryInUseError,
    DeleteAnnotations,
    DeleteCategory,
    EditPolygon,
    MacroCommand,
    RecolorCategory,
    RenameCategory,
    ReorderCategories,
    SetAnnotationCategory,
    SetImageStatus,
)
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.records import ImageStatus
from sam_annotator.model.undo_stack import UndoStack

SQUARE = [[10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0]]
TRIANGLE = [[0.0, 0.0, 40.0, 0.0, 0.0, 40.0]]


@pytest.fixture
def doc():
    document = Document()
    document.add_image("a.jpg", 64, 48)
    document.add_image("b.jpg", 64, 48)
    for name in ("cat", "dog", "bird"):
        document.insert_category(document.make_category(name))
    return document


@pytest.fixture
def stack(doc):
    return UndoStack(doc)


def add(doc, stack, image_id=1, category_id=1, polygons=SQUARE):
    annotation = doc.make_annotation(image_id, category_id, polygons)
    stack.push(AddAnnotation(annotation))
    return annotation


def assert_round_trip(doc, stack, command):
    """push, undo, redo: states before/after match exactly, every time."""
    before = doc.snapshot()
    stack.push(command)
    after = doc.snapshot()
    assert after != before
    stack.undo()
    assert doc.snapshot() == before
    stack.redo()
    assert doc.snapshot() == after
    stack.undo()
    assert doc.snapshot() == before
    stack.redo()
    return after


def test_push_undo_redo_texts_and_flags(doc, stack):
    assert not stack.can_undo and not stack.can_redo and stack.undo_text == ""
    a = add(doc, stack)
    assert stack.can_undo and stack.undo_text == "Add annotation"
    stack.push(DeleteAnnotations([a.id]))
    assert stack.undo_text == "Delete annotation"
    assert stack.undo() and doc.has_annotation(a.id)
    assert stack.redo_text == "Delete annotation" and stack.can_redo
    assert stack.undo() and not doc.has_annotation(a.id)
    assert not stack.undo()  # nothing left
    assert stack.redo() and stack.redo() and not stack.redo()
    assert not doc.has_annotation(a.id)


def test_push_after_undo_discards_the_redo_branch(doc, stack):
    a = add(doc, stack)
    add(doc, stack)
    stack.undo()
    stack.push(DeleteAnnotations([a.id]))
    assert len(stack) == 2 and not stack.can_redo


def test_clean_index_tracks_the_saved_state(doc, stack):
    changes = []
    stack.clean_changed.connect(changes.append)
    assert stack.is_clean
    add(doc, stack)
    assert not stack.is_clean and changes == [False]
    stack.set_clean()
    assert stack.is_clean and changes == [False, True]
    add(doc, stack)
    stack.undo()
    assert stack.is_clean
    stack.undo()
    assert not stack.is_clean
    stack.redo()
    assert stack.is_clean
    stack.undo()
    add(doc, stack)  # the saved state can no longer be reached
    while stack.undo():
        assert not stack.is_clean
    assert changes[-1] is False


def test_a_refused_command_changes_nothing(doc, stack):
    add(doc, stack)
    before, depth = doc.snapshot(), len(stack)
    events = []
    stack.changed.connect(lambda: events.append("changed"))
    with pytest.raises(DocumentError, match="no annotation with id 999"):
        stack.push(EditPolygon(999, SQUARE))
    with pytest.raises(DocumentError, match="polygon 0 has 2 points"):
        stack.push(EditPolygon(doc.annotations()[0].id, [[1, 2, 3, 4]]))
    assert doc.snapshot() == before and len(stack) == depth and events == []


def test_vertex_drags_merge_into_one_step_but_not_across_save(doc, stack):
    a = add(doc, stack)
    for dx in range(1, 6):
        moved = [[10.0 + dx, 10.0, 30.0 + dx, 10.0, 30.0 + dx, 20.0, 10.0 + dx, 20.0]]
        stack.push(EditPolygon(a.id, moved, merge_key="drag-1"))
    assert len(stack) == 2
    assert doc.annotation(a.id).segmentation[0][0] == 15.0
    assert doc.annotation(a.id).bbox == (15.0, 10.0, 20.0, 10.0)  # recomputed
    stack.set_clean()
    stack.push(EditPolygon(a.id, TRIANGLE, merge_key="drag-1"))
    assert len(stack) == 3  # not merged into the saved step
    stack.push(EditPolygon(a.id, SQUARE, merge_key="drag-2"))
    assert len(stack) == 4  # another drag
    stack.undo()
    stack.undo()
    stack.undo()
    assert doc.annotation(a.id).segmentation == tuple(tuple(p) for p in SQUARE)


def test_limit_drops_the_oldest_commands(doc):
    stack = UndoStack(doc, limit=2)
    for _ in range(4):
        add(doc, stack)
    assert len(stack) == 2 and stack.clean_index is None
    assert stack.undo() and stack.undo() and not stack.undo()
    assert doc.annotation_count() == 2


def test_unlimited_by_default(doc, stack):
    for _ in range(300):
        add(doc, stack)
    assert len(stack) == 300 and stack.limit is None


def test_add_many_deletes_many_and_restores_z_order(doc, stack):
    annotations = [doc.make_annotation(1, 1, SQUARE) for _ in range(3)]
    after = assert_round_trip(doc, stack, AddAnnotations(annotations))
    assert stack.undo_text == "Add 3 annotations"
    assert len(after.annotations) == 3
    ids = [a.id for a in annotations]
    assert_round_trip(doc, stack, DeleteAnnotations([ids[2], ids[0]]))
    stack.undo()
    assert [a.id for a in doc.annotations(1)] == ids


def test_set_category_edit_polygon_and_status_round_trip(doc, stack):
    a = add(doc, stack)
    b = add(doc, stack, category_id=2)
    assert_round_trip(doc, stack, SetAnnotationCategory([a.id, b.id], 3))
    assert {x.category_id for x in doc.annotations()} == {3}
    assert_round_trip(doc, stack, EditPolygon(a.id, TRIANGLE))
    # pixel centres (i + .5, j + .5) with i + j + 1 < 40 are inside: columns 0..38
    assert doc.annotation(a.id).bbox == (0.0, 0.0, 39.0, 39.0)
    assert doc.annotation(a.id).area == sum(range(40))  # 39 + 38 + ... + 1
    assert_round_trip(doc, stack, SetImageStatus(2, "done"))
    assert doc.image(2).status is ImageStatus.DONE
    with pytest.raises(DocumentError, match="no category with id 42"):
        stack.push(SetAnnotationCategory([a.id], 42))


def test_category_commands_round_trip(doc, stack):
    command = AddCategory("cow", supercategory="animal", index=0)
    assert_round_trip(doc, stack, command)
    assert command.category.id == 4 and doc.categories()[0].name == "cow"
    assert_round_trip(doc, stack, RenameCategory(4, "cattle"))
    assert doc.category(4).name == "cattle"
    assert_round_trip(doc, stack, RecolorCategory(4, "#123456"))
    assert doc.category(4).color == "#123456"
    assert_round_trip(doc, stack, ReorderCategories([1, 2, 3, 4]))
    with pytest.raises(DocumentError, match="exists already"):
        stack.push(RenameCategory(4, "dog"))
    with pytest.raises(DocumentError, match="exists already"):
        stack.push(AddCategory("dog"))


def test_deleting_a_used_category_requires_a_choice(doc, stack):
    add(doc, stack, category_id=2)
    before = doc.snapshot()
    with pytest.raises(CategoryInUseError, match="used by 1 annotation"):
        stack.push(DeleteCategory(2))
    assert doc.snapshot() == before
    with pytest.raises(ValueError, match="not both"):
        DeleteCategory(2, reassign_to=1, delete_annotations=True)


def test_delete_category_reassigning_its_annotations(doc, stack):
    a = add(doc, stack, category_id=2)
    assert_round_trip(doc, stack, DeleteCategory(2, reassign_to=3))
    assert doc.annotation(a.id).category_id == 3
    assert [c.name for c in doc.categories()] == ["cat", "bird"]
    stack.undo()
    assert doc.annotation(a.id).category_id == 2
    assert [c.name for c in doc.categories()] == ["cat", "dog", "bird"]  # same position


def test_delete_category_with_its_annotations(doc, stack):
    keep = add(doc, stack, category_id=1)
    gone = [add(doc, stack, category_id=2) for _ in range(2)]
    assert_round_trip(doc, stack, DeleteCategory(2, delete_annotations=True))
    assert [a.id for a in doc.annotations()] == [keep.id]
    stack.undo()
    assert [a.id for a in doc.annotations()] == [keep.id] + [g.id for g in gone]


def test_delete_unused_category_and_unknown_target(doc, stack):
    add(doc, stack, category_id=2)
    assert_round_trip(doc, stack, DeleteCategory(3))
    with pytest.raises(DocumentError, match="no category with id 77"):
        stack.push(DeleteCategory(2, reassign_to=77))


def test_macro_is_one_step_and_rolls_back_on_failure(doc, stack):
    a = add(doc, stack)
    split = [doc.make_annotation(1, 1, SQUARE), doc.make_annotation(1, 1, TRIANGLE)]
    macro = MacroCommand("Split", [DeleteAnnotations([a.id]), AddAnnotations(split)])
    assert_round_trip(doc, stack, macro)
    assert stack.undo_text == "Split"
    before = doc.snapshot()
    broken = MacroCommand("Broken", [SetImageStatus(1, "done"), EditPolygon(12345, SQUARE)])
    with pytest.raises(DocumentError):
        stack.push(broken)
    assert doc.snapshot() == before
