"""The model dialog (first run, or File -> Choose Model): where SAM's weights come from.

Three ways: open a local checkpoint file (its model type is detected from its tensors),
download an official checkpoint (hash-checked, resumable), or go on without SAM, with
the classical GrabCut segmenter.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
)

from sam_annotator.inference.checkpoints import loadable_checkpoints

LOCAL, DOWNLOAD, GRABCUT = "local", "download", "grabcut"


class CheckpointDialog(QDialog):
    """Ask how to get a model; read `choice`, `path` and `model_type` after `exec()`."""

    def __init__(self, parent=None, *, reason: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Segment Anything model")
        intro = QLabel(
            (reason + "\n\n" if reason else "")
            + "sam-annotator needs SAM's weights to segment with a click. Choose how to get them:"
        )
        intro.setWordWrap(True)
        self.local = QRadioButton("Open a checkpoint file (.pth / .pt)")
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("sam_vit_b_01ec64.pth, mobile_sam.pt, …")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.download = QRadioButton("Download an official checkpoint")
        self.model_combo = QComboBox()
        for info in loadable_checkpoints():
            self.model_combo.addItem(info.description, info.model_type)
        self.grabcut = QRadioButton("Continue without SAM (classical GrabCut: box + clicks)")
        group = QButtonGroup(self)
        for button in (self.local, self.download, self.grabcut):
            group.addButton(button)
        self.download.setChecked(True)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.local)
        layout.addLayout(path_row)
        layout.addWidget(self.download)
        layout.addWidget(self.model_combo)
        layout.addWidget(self.grabcut)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "SAM checkpoint", "", "PyTorch checkpoints (*.pth *.pt);;All files (*)"
        )
        if path:
            self.path_edit.setText(path)
            self.local.setChecked(True)

    @property
    def choice(self) -> str:
        if self.local.isChecked():
            return LOCAL
        return DOWNLOAD if self.download.isChecked() else GRABCUT

    @property
    def path(self) -> str:
        return self.path_edit.text().strip()

    @property
    def model_type(self) -> str:
        return self.model_combo.currentData()
