"""The application around files: COCO import, bad checkpoints, quitting, saved shortcuts."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtWidgets import QMessageBox

from sam_annotator.config import AppDirs
from sam_annotator.io.coco import read_coco
from sam_annotator.qt.actions import Keymap
from sam_annotator.qt.application import LabelingApp


@pytest.fixture
def make_app(qtbot, tmp_path):
    created = []

    def make() -> LabelingApp:
        app = LabelingApp(AppDirs.under(tmp_path / "home"), autosave_delay_s=0.05)
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
def coco_folder(tmp_path, real_data):
    folder = tmp_path / "coco"
    shutil.copytree(real_data / "coco" / "images", folder)
    return folder, real_data / "coco" / "instances_val2017_subset.json"


def test_launch_with_a_coco_file_shows_its_annotations(qtbot, make_app, coco_folder) -> None:
    folder, coco = coco_folder
    app = make_app()
    app.start(folder, coco=coco, ask_for_model=False)
    expected = read_coco(coco, folder)
    assert len(app.document.annotations()) == len(expected.annotations()) == 36
    assert [c.id for c in app.document.categories()] == [c.id for c in expected.categories()]
    # Open an image with polygons: they are on the canvas and in the annotations list.
    image = app.document.image_by_path("000000404249.jpg")
    app.navigator.open(image.id)
    polygons = [a for a in app.document.annotations(image.id) if a.is_polygon]
    assert len(app.window.scene._annotation_items) == len(polygons) > 0
    assert len(app.annotations.rows()) == len(app.document.annotations(image.id))


def test_a_corrupt_checkpoint_is_reported_and_grabcut_takes_over(
    qtbot, make_app, coco_folder, tmp_path, monkeypatch
) -> None:
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[2]))
    bad = tmp_path / "sam_vit_b_01ec64.pth"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint at all" * 10)
    app = make_app()
    app.start(coco_folder[0], checkpoint=bad, ask_for_model=False)
    qtbot.waitUntil(lambda: app.engine.segmenter is not None, timeout=20000)
    assert app.engine.segmenter.name.startswith("GrabCut")
    assert warnings and "checkpoint" in warnings[0].lower()
    assert app.window.isVisible()


def test_a_missing_checkpoint_path_is_reported(qtbot, make_app, tmp_path, monkeypatch) -> None:
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[2]))
    app = make_app()
    app.start(None, checkpoint=tmp_path / "nope.pth", ask_for_model=False)
    assert "no such file" in warnings[0]
    assert app.engine.segmenter is not None  # GrabCut


def test_quitting_with_changes_not_in_the_coco_file_asks(
    qtbot, make_app, coco_folder, tmp_path, monkeypatch
) -> None:
    app = make_app()
    app.start(coco_folder[0], ask_for_model=False)
    app.categories.add("extra")  # an edit: the COCO file does not have it yet
    answers = [QMessageBox.StandardButton.Cancel]
    asked = []

    def question(*args, **kwargs):
        asked.append(args[2])
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    app.window.close()
    assert app.window.isVisible() and asked  # cancelled: still open
    out = tmp_path / "labels.json"
    assert app.project.export(out)
    app.window.close()
    assert not app.window.isVisible()  # saved: closes without asking again
    assert len(asked) == 1
    assert "extra" in {c["name"] for c in json.loads(out.read_text())["categories"]}


def test_remapped_shortcuts_are_saved_and_used_next_time(qtbot, make_app) -> None:
    first = make_app()
    keymap = Keymap()
    keymap.set("image.next", ["Right"])
    first.window.apply_keymap(keymap)
    first.project.remember(shortcuts=keymap.overrides())
    second = make_app()
    shortcuts = [s.toString() for s in second.window.actions["image.next"].shortcuts()]
    assert shortcuts == ["Right"]


def test_autosave_restores_the_work_after_a_restart(qtbot, make_app, coco_folder) -> None:
    first = make_app()
    first.start(coco_folder[0], ask_for_model=False)
    first.categories.add("kept")
    first.project.flush()
    first.shutdown()
    second = make_app()
    second.start(None, ask_for_model=False)  # no folder: the last one is reopened
    assert second.document.category_by_name("kept") is not None


def test_downloading_a_checkpoint_from_the_dialog_loads_it(
    qtbot, make_app, tmp_path, monkeypatch
) -> None:
    import hashlib
    import io

    import torch

    from sam_annotator.inference import checkpoints
    from sam_core import build_sam_vit_tiny_test
    from tests.inference.range_server import RangeServer

    buffer = io.BytesIO()
    torch.save(build_sam_vit_tiny_test().state_dict(), buffer)
    payload = buffer.getvalue()
    server = RangeServer(payload)
    official = checkpoints.OfficialCheckpoint(
        "vit_b", server.url, hashlib.sha256(payload).hexdigest(), len(payload), "test"
    )
    monkeypatch.setattr(checkpoints, "official_checkpoint", lambda model_type: official)
    try:
        app = make_app()
        app.download("vit_b")
        qtbot.waitUntil(lambda: app.engine.segmenter is not None, timeout=30000)
        assert app.engine.segmenter.name.startswith("SAM")
        downloaded = app.dirs.checkpoints / "weights.pth"
        assert downloaded.read_bytes() == payload
        assert not app._download_dialog.isVisible()
        # Remembered: the next start finds it without a dialog.
        assert checkpoints.resolve_checkpoint(config_dir=app.dirs) == downloaded
    finally:
        server.close()


def test_a_download_without_a_digest_is_kept_only_if_it_loads_as_its_model(
    qtbot, make_app, monkeypatch
) -> None:
    """SAM 2.1 files have no published digest: the app loads the finished download as
    the model type it asked for, and a file that is something else is deleted."""
    import io

    import torch

    from sam_annotator.inference import checkpoints
    from sam_core import build_sam_vit_tiny_test
    from tests.inference.range_server import RangeServer

    buffer = io.BytesIO()
    torch.save(build_sam_vit_tiny_test().state_dict(), buffer)  # a SAM, not a vit_b
    server = RangeServer(buffer.getvalue())
    official = checkpoints.OfficialCheckpoint("vit_b", server.url, None, None, "test")
    table = {**checkpoints.OFFICIAL_CHECKPOINTS, "vit_b": official}
    monkeypatch.setattr(checkpoints, "OFFICIAL_CHECKPOINTS", table)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[2]))
    try:
        app = make_app()
        with qtbot.waitSignal(app.engine.loadFailed, timeout=30000) as failed:
            app.download("vit_b")
        assert "vit_b" in failed.args[0] and warnings == [failed.args[0]]
        assert not list(app.dirs.checkpoints.glob("weights.pth*"))  # nothing unverified kept
        assert checkpoints.resolve_checkpoint(config_dir=app.dirs) is None
    finally:
        server.close()
