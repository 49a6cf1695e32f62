"""Composition root: from parsed command-line arguments to a running application."""

from __future__ import annotations

import argparse
import sys

from PySide6.QtWidgets import QApplication

from sam_annotator.config import app_dirs
from sam_annotator.inference.allocator import keep_freed_memory
from sam_annotator.qt.application import LabelingApp


def run_app(args: argparse.Namespace) -> int:
    keep_freed_memory()  # encoder temporaries are reused, not faulted in again per image
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("sam-annotator")
    labeling = LabelingApp(app_dirs())
    labeling.window.show()
    labeling.start(
        args.images_dir, coco=args.coco, checkpoint=args.checkpoint, model_type=args.model
    )
    try:
        return app.exec()
    finally:
        labeling.shutdown()
