"""A failing autosave is visible while it fails, retried, and never claims to have saved."""

from __future__ import annotations

import errno
import threading

import pytest

from sam_annotator.io import project
from sam_annotator.io.project import AutosaveError, Autosaver, load_project
from sam_annotator.io.save_state import SaveHealth
from sam_annotator.model.commands import AddAnnotation, AddCategory
from sam_annotator.model.document import Document
from sam_annotator.model.undo_stack import UndoStack

SQUARE = [[1.0, 1.0, 9.0, 1.0, 9.0, 9.0, 1.0, 9.0]]


class FullDisk:
    """Stands in for the atomic writer: raises ENOSPC while `full` is set."""

    def __init__(self, real):
        self.real = real
        self.full = threading.Event()
        self.attempts = 0
        self.failed = threading.Semaphore(0)

    def __call__(self, path, data):
        self.attempts += 1
        if self.full.is_set():
            self.failed.release()
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        self.real(path, data)


@pytest.fixture
def disk(monkeypatch):
    fake = FullDisk(project.atomic_write_bytes)
    monkeypatch.setattr(project, "atomic_write_bytes", fake)
    return fake


def edit(document, stack, n):
    for _ in range(n):
        stack.push(AddAnnotation(document.make_annotation(1, 1, SQUARE)))


def test_a_failing_autosave_says_so_until_a_retry_succeeds_on_its_own(tmp_path, disk):
    document = Document(tmp_path)
    document.add_image("a.jpg", 20, 10)
    stack = UndoStack(document)
    stack.push(AddCategory("c"))
    path = tmp_path / "p.json"
    states = []
    recovered = threading.Event()

    def on_state(state):
        states.append(state)
        if state.health is SaveHealth.SAVED and any(s.health is SaveHealth.FAILING for s in states):
            recovered.set()

    disk.full.set()
    with Autosaver(document, path, delay_s=0.01, on_state=on_state) as saver:
        edit(document, stack, 3)
        assert disk.failed.acquire(timeout=10)
        state = saver.state()
        assert state.health is SaveHealth.FAILING and not state.is_safe
        assert "No space left" in state.reason and "No space left" in state.label()
        assert "saved nowhere" in state.unsaved_warning()
        assert saver.has_unsaved_changes
        with pytest.raises(AutosaveError, match="No space left"):
            saver.flush(timeout=10)
        assert disk.failed.acquire(timeout=10)  # the timer tries again, with no new edit
        assert saver.state().health is SaveHealth.FAILING  # still failing: still says so
        disk.full.clear()  # space is freed; nobody edits or flushes
        assert recovered.wait(timeout=10)
        assert saver.state().health is SaveHealth.SAVED and not saver.has_unsaved_changes
    assert load_project(path).annotation_count() == 3


def test_an_edit_while_failing_is_saved_once_the_disk_has_room(tmp_path, disk):
    document = Document(tmp_path)
    document.add_image("a.jpg", 20, 10)
    stack = UndoStack(document)
    stack.push(AddCategory("c"))
    path = tmp_path / "p.json"
    with Autosaver(document, path, delay_s=0.01) as saver:
        edit(document, stack, 1)
        saver.flush(timeout=10)
        disk.full.set()
        edit(document, stack, 1)
        assert disk.failed.acquire(timeout=10)
        assert load_project(path).annotation_count() == 1  # the old save is intact
        disk.full.clear()
        edit(document, stack, 1)
        saver.flush(timeout=10)
        assert saver.state().health is SaveHealth.SAVED
    assert load_project(path).annotation_count() == 3
