"""Render the README screenshot: the real window, offscreen, on a bundled photo.

    .venv/bin/python scripts/screenshot.py docs/screenshot.png [--checkpoint PATH]

Labels two objects with the engine in use (GrabCut unless a SAM checkpoint is given),
then leaves a third object prompted with its candidates showing, and saves
`QWidget.grab()` of the main window. No display is needed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from sam_annotator.config import AppDirs  # noqa: E402
from sam_annotator.qt.application import LabelingApp  # noqa: E402
from sam_annotator.qt.encodings import EncodingState  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "resources" / "samples"


def wait(app: QApplication, condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the application did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--checkpoint")
    args = parser.parse_args()
    qt = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as home:
        folder = Path(home) / "photos"
        folder.mkdir()
        for name in ("truck.jpg", "dog.jpg", "groceries.jpg"):
            (folder / name).write_bytes((SAMPLES / name).read_bytes())
        labeling = LabelingApp(AppDirs.under(Path(home) / "home"))
        window = labeling.window
        window.resize(1500, 900)
        window.show()
        labeling.start(folder, checkpoint=args.checkpoint, ask_for_model=False)
        wait(qt, lambda: labeling.engine.segmenter is not None)
        labeling.navigator.open(labeling.document.image_by_path("truck.jpg").id)
        current = labeling.navigator.current
        wait(qt, lambda: labeling.encodings.state(current) is EncodingState.READY)
        labeling.categories.add("truck")
        labeling.categories.add("wheel")
        lab = labeling.labeling
        objects = [("truck", (70, 280, 1720, 870)), ("wheel", (430, 620, 680, 850))]
        for name, box in objects:
            labeling.set_category(labeling.document.category_by_name(name).id)
            before = labeling.document.annotation_count()
            lab.set_box(*box)
            wait(qt, lambda: lab.session.can_accept)
            lab.accept()
            wait(qt, lambda before=before: labeling.document.annotation_count() == before + 1)
        lab.set_box(1390, 560, 1630, 780)
        wait(qt, lambda: lab.session.can_accept)
        window.view.fit()
        window.view.zoom_by(1.0, QPointF(0, 0))
        for _ in range(20):
            qt.processEvents()
        args.output.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(args.output))
        labeling.undo_stack.set_clean()
        labeling.shutdown()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
