"""The app with the embedding cache and prefetch: revisits and next images are ready at once."""

from __future__ import annotations

import torch
from PySide6.QtCore import QPointF, Qt

from sam_annotator.config import AppDirs
from sam_annotator.inference.sam_segmenter import SamSegmenter
from sam_annotator.qt.application import LabelingApp
from sam_annotator.qt.encodings import EncodingState


def open_app(qtbot, home, images, checkpoint) -> LabelingApp:
    app = LabelingApp(AppDirs.under(home), autosave_delay_s=0.05)
    qtbot.addWidget(app.window, before_close_func=lambda _w: app.undo_stack.set_clean())
    app.window.show()
    qtbot.waitExposed(app.window)
    app.start(images, checkpoint=checkpoint, ask_for_model=False)
    qtbot.waitUntil(lambda: isinstance(app.engine.segmenter, SamSegmenter), timeout=30000)
    return app


def state(app, image_id) -> EncodingState:
    return app.encodings.state(image_id)


def test_a_new_session_reads_embeddings_from_the_disk_cache(
    qtbot, tmp_path, images, tiny_checkpoint, monkeypatch
):
    home = tmp_path / "home"
    first = open_app(qtbot, home, images, tiny_checkpoint)
    try:
        ids = [image.id for image in first.document.images()]
        qtbot.waitUntil(
            lambda: all(state(first, i) is EncodingState.READY for i in ids[:2]), timeout=60000
        )
    finally:
        first.shutdown()
    files = list(AppDirs.under(home).embeddings.glob("*.samemb"))
    assert len(files) >= 2

    def no_encode(self, image):
        raise AssertionError("an image in the embedding cache was encoded again")

    monkeypatch.setattr(SamSegmenter, "encode", no_encode)
    second = open_app(qtbot, home, images, tiny_checkpoint)
    try:
        current = second.navigator.current
        qtbot.waitUntil(lambda: state(second, current) is EncodingState.READY, timeout=10000)
        assert second.encoding_store.cache().stats().disk_hits >= 1
        view = second.window.view
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(QPointF(300, 200))
        )
        qtbot.waitUntil(lambda: second.labeling.session.can_accept, timeout=10000)
        assert len(second.labeling.session.candidates) == 3
    finally:
        second.undo_stack.set_clean()
        second.shutdown()


def test_the_next_image_is_ready_when_the_user_presses_next(
    qtbot, tmp_path, images, tiny_checkpoint
):
    """Prefetch: while the user works on image k, image k+1 is encoded."""
    app = open_app(qtbot, tmp_path / "home", images, tiny_checkpoint)
    try:
        ids = [image.id for image in app.document.images()]
        assert app.navigator.current == ids[0]
        qtbot.waitUntil(lambda: state(app, ids[1]) is EncodingState.READY, timeout=60000)
        app.window.view.setFocus()
        qtbot.keyClick(app.window.view, Qt.Key.Key_D)
        assert app.navigator.current == ids[1]
        assert state(app, ids[1]) is EncodingState.READY  # no wait at all
        assert app.window.view.busy_text() is None
        # ... and the image after it is being prefetched in turn.
        assert state(app, ids[2]) in (
            EncodingState.QUEUED,
            EncodingState.RUNNING,
            EncodingState.READY,
        )
    finally:
        app.undo_stack.set_clean()
        app.shutdown()


def test_an_unusable_cache_setting_falls_back_to_the_default(qtbot, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.json").write_text('{"embedding_cache_gb": "lots"}')
    app = LabelingApp(AppDirs.under(home))
    qtbot.addWidget(app.window)
    try:
        assert app.encoding_store.cache().max_disk_bytes == 4 * 2**30
        assert "embedding_cache_gb" in app.window.statusBar().currentMessage()
    finally:
        app.shutdown()


def test_mobilesam_labels_in_the_app_and_keeps_its_own_cache_entries(
    qtbot, tmp_path, images, tiny_checkpoint
):
    """A vit_t checkpoint (MobileSAM's layout) runs the same session; switching models
    never mixes embeddings: each model's entries have keys of their own."""
    from sam_core import sam_model_registry

    torch.manual_seed(0)
    vit_t = tmp_path / "mobile_sam.pt"
    torch.save(sam_model_registry["vit_t"]().state_dict(), vit_t)
    home = tmp_path / "home"
    app = open_app(qtbot, home, images, vit_t)
    try:
        assert app.window.engine_label.text() == "MobileSAM vit_t"
        current = app.navigator.current
        qtbot.waitUntil(lambda: state(app, current) is EncodingState.READY, timeout=60000)
        view = app.window.view
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(QPointF(300, 200))
        )
        qtbot.waitUntil(lambda: app.labeling.session.can_accept, timeout=10000)
        assert len(app.labeling.session.candidates) == 3
        mobile_files = set(AppDirs.under(home).embeddings.glob("*.samemb"))
        assert mobile_files

        app.labeling.clear_prompts()
        app.engine.load(tiny_checkpoint)
        qtbot.waitUntil(lambda: app.window.engine_label.text().startswith("SAM "), timeout=30000)
        qtbot.waitUntil(lambda: state(app, current) is EncodingState.READY, timeout=60000)
        stats = app.encoding_store.cache().stats()
        assert stats.memory_hits + stats.disk_hits == 0  # nothing of vit_t was reused
        sam_files = set(AppDirs.under(home).embeddings.glob("*.samemb")) - mobile_files
        assert sam_files
    finally:
        app.undo_stack.set_clean()
        app.shutdown()
