"""The Images list follows the document: an edit re-reads only the rows it touches."""

from __future__ import annotations

from sam_annotator.model.commands import AddAnnotation, AddCategory, SetImageStatus
from sam_annotator.model.document import Document
from sam_annotator.model.records import ImageStatus
from sam_annotator.model.undo_stack import UndoStack
from sam_annotator.qt.docks.images import ImagesDock


def test_an_edit_re_reads_only_the_rows_it_touches(qtbot, monkeypatch):
    document = Document("/tmp/images")
    images = [document.add_image(f"frame{i}.jpg", 100, 80) for i in range(50)]
    stack = UndoStack(document)
    stack.push(AddCategory("cat"))
    dock = ImagesDock(document)
    qtbot.addWidget(dock)
    refreshed: list[int] = []
    original = ImagesDock.refresh_row
    monkeypatch.setattr(
        ImagesDock, "refresh_row",
        lambda self, image_id, apply_filter=True: (
            refreshed.append(image_id), original(self, image_id, apply_filter))[1],
    )  # fmt: skip
    target = images[7].id
    category = document.category_by_name("cat").id
    stack.push(AddAnnotation(document.make_annotation(target, category, [[1, 1, 20, 1, 20, 20]])))
    stack.push(SetImageStatus(target, ImageStatus.IN_PROGRESS))
    assert set(refreshed) == {target}
    assert dock.row_texts(target)[1:3] == ["◐ started", "1"]
    stack.undo()
    stack.undo()
    assert dock.row_texts(target)[1:3] == ["○ to do", "0"]
    assert set(refreshed) == {target}
    assert all(dock.row_texts(i.id)[2] == "0" for i in images)
