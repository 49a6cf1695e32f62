"""A folder of real photos for the app tests (the tiny checkpoint is in tests/conftest.py)."""

from __future__ import annotations

import shutil

import pytest

PHOTOS = ("dog.jpg", "groceries.jpg", "skateboard_portrait.jpg")


@pytest.fixture
def images(tmp_path, real_data):
    """A folder with three of the real photos (a copy: tests may add files to it)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(real_data / "images" / name, folder / name)
    return folder


@pytest.fixture
def gray_app(qtbot, tmp_path):
    """A factory: the real window shown, opened with GrabCut on a folder of gray images
    (``gray_app(names, size)``), shut down after the test."""
    from PIL import Image

    from sam_annotator.config import AppDirs
    from sam_annotator.qt.application import LabelingApp

    opened = []

    def start(names: tuple[str, ...], size: tuple[int, int]) -> LabelingApp:
        folder = tmp_path / "photos"
        folder.mkdir()
        for name in names:
            Image.new("RGB", size, "gray").save(folder / name)
        app = LabelingApp(AppDirs.under(tmp_path / "home"), autosave_delay_s=0.05)
        qtbot.addWidget(app.window, before_close_func=lambda _w: app.undo_stack.set_clean())
        app.window.show()
        qtbot.waitExposed(app.window)
        app.start(folder, ask_for_model=False)
        opened.append(app)
        return app

    yield start
    for app in opened:
        app.undo_stack.set_clean()
        app.shutdown()
