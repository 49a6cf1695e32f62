"""The app never lets a labeler believe work is saved when it is not (issue 14, 1-3).

A read-only folder, a full disk and a second window: the autosave state is shown
permanently, the quit question tells the truth and offers "Save elsewhere…".
"""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from sam_annotator.config import AppDirs
from sam_annotator.io import project as project_module
from sam_annotator.io.project import load_project
from sam_annotator.io.workspace import project_path_for
from sam_annotator.qt.application import LabelingApp
from sam_annotator.qt.dialogs import unsaved
from tests.conftest import REPO_ROOT
from tests.filesystems import read_only_copy


@pytest.fixture
def make_app(qtbot, tmp_path):
    created = []

    def make(home=None) -> LabelingApp:
        app = LabelingApp(AppDirs.under(home or tmp_path / "home"), autosave_delay_s=0.01)
        qtbot.addWidget(app.window, before_close_func=lambda _w: app.undo_stack.set_clean())
        app.window.show()
        qtbot.waitExposed(app.window)
        created.append(app)
        return app

    yield make
    for app in created:
        app.undo_stack.set_clean()
        app.shutdown()


@pytest.fixture
def quit_answers(monkeypatch, tmp_path):
    """Records the quit questions; answers the truthful one with "Save elsewhere…" and
    the file dialog with tmp_path/elsewhere.json. The usual one must not be asked."""
    asked = {"unsaved": [], "question": []}
    target = tmp_path / "elsewhere.json"

    def ask(parent, title, text, choices):
        asked["unsaved"].append((text, choices))
        return unsaved.SAVE_ELSEWHERE

    def question(*args, **kwargs):
        asked["question"].append(args[2])
        return QMessageBox.StandardButton.Discard

    monkeypatch.setattr(unsaved, "ask_unsaved", ask)
    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    return asked, target


def autosaved(app):
    saver = app.project.autosaver
    return app.window.save_label.text() == "Autosaved" and not saver.has_unsaved_changes


def close_and_check_saved_elsewhere(app, quit_answers, category):
    asked, target = quit_answers
    app.window.close()
    assert not app.window.isVisible()
    assert not asked["question"], "the dialog claimed the autosave has the changes"
    ((text, choices),) = asked["unsaved"]
    assert "saved nowhere" in text or "loses them" in text
    assert unsaved.SAVE_ELSEWHERE in choices and unsaved.DISCARD in choices
    names = {c["name"] for c in json.loads(target.read_text())["categories"]}
    assert category in names
    return text


# -- 1: read-only folder ----------------------------------------------------------------------


def test_a_read_only_folder_is_autosaved_in_the_data_dir(qtbot, make_app, tmp_path, real_data):
    with read_only_copy([real_data / "images" / "dog.jpg"], tmp_path / "ro") as ok:
        if not ok:
            pytest.skip("cannot make a read-only folder here")
        app = make_app()
        app.start(tmp_path / "ro", ask_for_model=False)
        assert app.project.save_state().is_safe
        app.categories.add("kept")
        qtbot.waitUntil(lambda: autosaved(app), timeout=10000)
        path = app.project.workspace.project_path
        assert path.parent == tmp_path / "home" / "projects"
        assert load_project(path).category_by_name("kept") is not None


def test_nowhere_writable_is_shown_and_the_quit_question_tells_the_truth(
    qtbot, make_app, tmp_path, real_data, quit_answers
):
    with read_only_copy([real_data / "images" / "dog.jpg"], tmp_path / "ro") as ok:
        if not ok:
            pytest.skip("cannot make a read-only folder here")
        app = make_app(home=tmp_path / "ro" / "home")  # the data dir cannot be created
        app.start(tmp_path / "ro", ask_for_model=False)
        assert not app.project.save_state().is_safe
        assert app.window.save_label.text().startswith("NOT SAVED")
        app.categories.add("precious")
        assert app.window.save_label.text().startswith("NOT SAVED")  # stays
        close_and_check_saved_elsewhere(app, quit_answers, "precious")


# -- 2: the autosave fails (disk full) --------------------------------------------------------


def test_a_failing_autosave_is_shown_retried_and_the_quit_question_tells_the_truth(
    qtbot, make_app, images, monkeypatch, quit_answers
):
    app = make_app()
    app.start(images, ask_for_model=False)
    real = project_module.atomic_write_bytes
    full = [True]

    def write(path, data):
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(project_module, "atomic_write_bytes", write)
    app.categories.add("before quitting")
    qtbot.waitUntil(lambda: "AUTOSAVE FAILING" in app.window.save_label.text(), timeout=10000)
    assert "No space left" in app.window.save_label.text()
    # Retried by the timer: once there is room again it recovers with no new edit.
    full[0] = False
    qtbot.waitUntil(lambda: autosaved(app), timeout=10000)
    path = app.project.workspace.project_path
    assert load_project(path).category_by_name("before quitting") is not None
    full[0] = True
    app.categories.add("lost without the dialog")
    qtbot.waitUntil(lambda: "AUTOSAVE FAILING" in app.window.save_label.text(), timeout=10000)
    text = close_and_check_saved_elsewhere(app, quit_answers, "lost without the dialog")
    assert "No space left" in text


# -- 3: a second window on the same folder ----------------------------------------------------


def hold_lock(project_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.io.lock_holder", str(project_path)],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_window_opens_read_only_and_never_overwrites_the_first(
    qtbot, make_app, images, tmp_path, quit_answers
):
    first = make_app()
    first.start(images, ask_for_model=False)
    first.categories.add("X")
    second = make_app()
    second.start(images, ask_for_model=False)
    assert "[read-only]" in second.window.windowTitle()
    assert second.window.save_label.text().startswith("NOT SAVED: read-only")
    assert "another sam-annotator window" in second.window.save_label.text()
    second.categories.add("Y")
    first.categories.add("Z")
    first.project.flush()
    saved = load_project(first.project.workspace.project_path)
    assert saved.category_by_name("X") and saved.category_by_name("Z")
    assert saved.category_by_name("Y") is None  # never written over the first's file
    close_and_check_saved_elsewhere(second, quit_answers, "Y")


def test_a_window_of_another_process_makes_this_one_read_only(qtbot, make_app, images, tmp_path):
    holder = hold_lock(project_path_for(images, tmp_path / "home"))
    try:
        app = make_app()
        app.start(images, ask_for_model=False)
        assert f"process {holder.pid}" in app.window.save_label.text()
        assert not app.project.workspace.project_path.exists()  # not even the first save
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_a_lock_left_by_a_killed_window_does_not_block(qtbot, make_app, images, tmp_path):
    holder = hold_lock(project_path_for(images, tmp_path / "home"))
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    app = make_app()
    app.start(images, ask_for_model=False)
    assert "[read-only]" not in app.window.windowTitle()
    app.categories.add("mine")
    qtbot.waitUntil(lambda: autosaved(app), timeout=10000)
    assert load_project(app.project.workspace.project_path).category_by_name("mine")


# -- 4: an image file replaced since last time ------------------------------------------------


def test_a_replaced_image_is_reported_on_open_and_exported_with_its_real_size(
    qtbot, make_app, images, tmp_path, monkeypatch
):
    from PIL import Image

    from sam_annotator.io.coco import read_coco

    first = make_app()
    first.start(images, ask_for_model=False)
    dog = first.document.image_by_path("dog.jpg")
    assert (dog.width, dog.height) == (800, 534)
    first.project.flush()
    first.shutdown()
    with Image.open(images / "dog.jpg") as photo:
        photo.transpose(Image.Transpose.ROTATE_90).save(images / "dog.jpg", quality=90)
    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda _w, _t, text: told.append(text))
    second = make_app()
    second.start(None, ask_for_model=False)  # the last folder again
    assert len(told) == 1 and "dog.jpg" in told[0] and "534x800" in told[0]
    out = tmp_path / "out.json"
    assert second.project.export(out)
    exported = read_coco(out, images).image_by_path("dog.jpg")
    assert (exported.width, exported.height) == (534, 800)
