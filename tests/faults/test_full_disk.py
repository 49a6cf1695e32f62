"""The app's save path on a disk that fills up: the project file always parses and holds
a prefix of the committed edits, no temporary file is left behind, and the first save
after space is freed holds every edit.

The disk is a real small tmpfs where this process may mount one (root on Linux); other
platforms get an injected ENOSPC from the same point (the atomic writer) once the bytes
written exceed the same budget, so the test runs everywhere.
"""

from __future__ import annotations

import errno
import math
from pathlib import Path

from sam_annotator.io import project
from sam_annotator.io.project import AutosaveError, Autosaver, load_project, save_project
from sam_annotator.model.commands import AddAnnotation, AddCategory
from sam_annotator.model.document import Document
from sam_annotator.model.undo_stack import UndoStack
from tests.filesystems import small_tmpfs

DISK_BYTES = 96 * 1024
FILLER_BYTES = 48 * 1024  # freed at the end: room for the final save


def ring(step: int, points: int = 64) -> list[list[float]]:
    """A polygon of ~1 kB of JSON, different for every step."""
    cx, cy, r = 100.0 + step, 120.0 + step, 40.0 + step % 9
    flat: list[float] = []
    for k in range(points):
        angle = 2 * math.pi * k / points
        flat += [round(cx + r * math.cos(angle), 3), round(cy + r * math.sin(angle), 3)]
    return [flat]


class InjectedDisk:
    """Where no tmpfs can be mounted: ENOSPC once the live files would exceed the budget."""

    def __init__(self, real, folder: Path, budget: int) -> None:
        self.real, self.folder, self.budget = real, folder, budget

    def __call__(self, path, data) -> None:
        used = sum(f.stat().st_size for f in self.folder.iterdir() if f != Path(path))
        if used + 2 * len(data) > self.budget:  # the temp file and the old file coexist
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        self.real(path, data)


def comparable(snapshot):
    return snapshot.images, snapshot.categories, snapshot.annotations


def test_a_filling_disk_keeps_a_parsable_prefix_and_the_next_save_has_everything(
    tmp_path, monkeypatch
):
    folder = tmp_path / "disk"
    with small_tmpfs(folder, size=str(DISK_BYTES)) as mounted:
        if not mounted:
            fake = InjectedDisk(project.atomic_write_bytes, folder, DISK_BYTES)
            monkeypatch.setattr(project, "atomic_write_bytes", fake)
        filler = folder / "someone-elses-file.bin"
        filler.write_bytes(b"\0" * FILLER_BYTES)
        path = folder / "project.json"
        document = Document(folder)
        document.add_image("a.jpg", 1000, 800)
        stack = UndoStack(document)
        stack.push(AddCategory("thing"))
        save_project(document, path)
        states = [comparable(document.snapshot())]  # states[k]: after k edits
        on_disk = 0  # the number of edits the file held at the last check
        failures = 0
        with Autosaver(document, path, delay_s=60.0) as saver:  # saves only on flush
            for step in range(1, 400):
                stack.push(AddAnnotation(document.make_annotation(1, 1, ring(step))))
                states.append(comparable(document.snapshot()))
                try:
                    saver.flush(timeout=30)
                except AutosaveError as error:
                    assert "No space left" in str(error)
                    failures += 1
                saved = comparable(load_project(path).snapshot())  # always parses
                assert saved in states, f"after edit {step} the file is no prefix of the edits"
                held = states.index(saved)
                assert on_disk <= held <= step  # never goes back, never invents
                on_disk = held
                assert not list(folder.glob(".*.tmp")), "a failed save left a temp file"
                if failures >= 3:
                    break
            assert failures >= 3, "the disk never filled: the test proved nothing"
            assert on_disk < step  # the last edits are not on disk yet ...
            filler.unlink()  # ... until someone frees space
            saver.flush(timeout=30)
        assert comparable(load_project(path).snapshot()) == states[step]
