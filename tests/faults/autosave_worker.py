"""A process that edits a document forever, autosaving after each edit (for the SIGKILL test).

    python -m tests.faults.autosave_worker PROJECT_PATH

Prints "ready", then the number of each edit once its save has completed (flush). The
edits are deterministic, so the test can replay them to know the expected state.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from sam_annotator.io.project import Autosaver, save_project
from sam_annotator.model.commands import (
    AddAnnotation,
    DeleteAnnotations,
    EditPolygon,
    SetImageStatus,
)
from sam_annotator.model.document import Document
from sam_annotator.model.records import ImageStatus
from sam_annotator.model.undo_stack import UndoStack

PREFILLED = 300  # annotations present from the start, so each save takes a while


def circle(cx: float, cy: float, r: float, points: int = 48) -> list[list[float]]:
    flat = []
    for k in range(points):
        angle = 2 * math.pi * k / points
        flat += [round(cx + r * math.cos(angle), 2), round(cy + r * math.sin(angle), 2)]
    return [flat]


def build_document(root: Path) -> tuple[Document, UndoStack]:
    document = Document(root)
    document.add_image("frames/000001.jpg", 1920, 1080)
    document.add_image("frames/000002.jpg", 1920, 1080)
    category = document.make_category("object")
    document.insert_category(category)
    document.insert_annotations(
        document.make_annotation(1, category.id, circle(50 + i * 6 % 1800, 60 + i, 20))
        for i in range(PREFILLED)
    )
    return document, UndoStack(document)


def apply_edit(document: Document, stack: UndoStack, step: int) -> None:
    """Edit number `step` (1, 2, ...): add, reshape, delete, mark status, in turn."""
    kind = step % 4
    if kind == 1:
        annotation = document.make_annotation(2, 1, circle(100 + step % 1700, 500, 15 + step % 7))
        stack.push(AddAnnotation(annotation))
    elif kind == 2:
        last = document.annotations(2)[-1]
        stack.push(EditPolygon(last.id, circle(200 + step % 1600, 400, 30)))
    elif kind == 3:
        stack.push(DeleteAnnotations([document.annotations(1)[0].id]))
    else:
        statuses = list(ImageStatus)
        stack.push(SetImageStatus(1, statuses[(step // 4) % len(statuses)]))


def main() -> None:
    path = Path(sys.argv[1])
    document, stack = build_document(path.parent)
    save_project(document, path)
    saver = Autosaver(document, path, delay_s=0.002)
    print("ready", flush=True)
    step = 0
    while True:
        step += 1
        apply_edit(document, stack, step)
        saver.flush()
        print(step, flush=True)


if __name__ == "__main__":
    main()
