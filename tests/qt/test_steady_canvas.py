"""The canvas never moves under the cursor: showing and hiding SAM's candidates leaves the
view's size and its scene-to-viewport transform as they were, fitted or zoomed."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QApplication

from sam_annotator.config import AppDirs
from sam_annotator.qt.application import LabelingApp
from sam_annotator.qt.docks.candidates import CandidatePreview


def settle(qtbot) -> None:
    """Let Qt lay the window out (layout requests are posted events)."""
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(20)


def cars_app(qtbot, tmp_path, real_data) -> LabelingApp:
    """The real window, 1600x1000, on a 900x600 copy of cars.jpg, with GrabCut."""
    folder = tmp_path / "photos"
    folder.mkdir()
    with Image.open(real_data / "images" / "cars.jpg") as photo:
        photo.convert("RGB").resize((900, 600)).save(folder / "cars.jpg")
    app = LabelingApp(AppDirs.under(tmp_path / "home"), autosave_delay_s=0.05)
    qtbot.addWidget(app.window, before_close_func=lambda _w: app.undo_stack.set_clean())
    app.window.resize(1600, 1000)
    app.window.show()
    qtbot.waitExposed(app.window)
    app.start(folder, ask_for_model=False)
    return app


def test_candidates_coming_and_going_do_not_move_the_image(qtbot, tmp_path, real_data):
    app = cars_app(qtbot, tmp_path, real_data)
    view, strip = app.window.view, app.window.candidates
    settle(qtbot)
    previews = [
        CandidatePreview(np.full((112, 150, 3), 90 + 40 * i, np.uint8), 0.9 - 0.1 * i,
                         "single" if i == 3 else "")
        for i in range(4)
    ]  # fmt: skip
    for zoom in (None, 2.0):  # fitted, then zoomed in by the user
        if zoom is not None:
            view.zoom_by(zoom)
            settle(qtbot)
        before = (view.viewport().size(), view.transform(), view.mapToScene(0, 0))
        for shown in (previews[:3], previews, [], previews[:3]):
            strip.set_candidates(shown, chosen=0 if shown else None)
            settle(qtbot)
            after = (view.viewport().size(), view.transform(), view.mapToScene(0, 0))
            assert after == before, f"{len(shown)} candidates moved the image"
    app.undo_stack.set_clean()
    app.shutdown()


def test_progress_proposals_tools_and_dialogs_do_not_move_the_image(qtbot, tmp_path, real_data):
    from sam_annotator.qt.dialogs.datasets import ExportDialog

    app = cars_app(qtbot, tmp_path, real_data)
    view, window = app.window.view, app.window
    settle(qtbot)
    square = [[100.0, 100.0, 300.0, 100.0, 300.0, 300.0, 100.0, 300.0]]
    changes = {
        "progress": (lambda: window.show_progress("Segment everything", 3, 10),
                     window.hide_progress),
        "proposals": (lambda: window.scene.set_proposals([square], 0),
                      lambda: window.scene.set_proposals([], None)),
        "brush": (lambda: app.keys.use_paint_tool(erase=False), app.paint_tool.cancel),
        "review": (app.review.start, app.review.stop),
    }  # fmt: skip
    for zoom in (None, 2.0):
        if zoom is not None:
            view.zoom_by(zoom)
            settle(qtbot)
        before = (view.viewport().size(), view.transform(), view.mapToScene(0, 0))
        for name, (show, hide) in changes.items():
            for step in (show, hide):
                step()
                settle(qtbot)
                after = (view.viewport().size(), view.transform(), view.mapToScene(0, 0))
                assert after == before, f"{name} moved the image"
        dialog = ExportDialog(tmp_path, app.window)
        dialog.show()
        settle(qtbot)
        dialog.close()
        settle(qtbot)
        assert (view.viewport().size(), view.transform(), view.mapToScene(0, 0)) == before
    app.undo_stack.set_clean()
    app.shutdown()
