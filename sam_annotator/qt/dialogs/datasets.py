"""File -> Export… and File -> Import…: a dataset format (io/formats) and where it goes.

`ExportDialog` asks for a writable format, the output (a file for COCO, a folder for the
others) and the options that format has (its WRITE_OPTIONS: holes as RLE, a seeded
train/val split, copying the images, the mask layout); `ImportDialog` for a readable
format, the source (a COCO file, or a dataset folder) and, for COCO, the images folder
and whether to drop other tools' placeholder categories. Read the choice as a
`DatasetRequest` after `exec()`. `write_with_progress` runs an export under a progress
dialog; `show_import_report` shows what an import changed or left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    QWidget,
)

from sam_annotator.io.formats import format_module, readable_formats, writable_formats
from sam_annotator.io.formats.report import ImportReport
from sam_annotator.model.document import DocumentSnapshot


@dataclass(frozen=True)
class DatasetRequest:
    """What the user chose: format name, path (file or folder), the format's options,
    and (import of COCO) the images folder."""

    format_name: str
    path: Path
    options: dict[str, Any] = field(default_factory=dict)
    images_dir: Path | None = None


class _PathField(QWidget):
    """A line edit with a Browse… button that picks a file or a folder."""

    def __init__(self, title: str, *, save: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._save = save
        self.folder = False
        self.edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit)
        row.addWidget(browse)

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text) if text else None

    def _browse(self) -> None:
        start = self.edit.text()
        if self.folder:
            chosen = QFileDialog.getExistingDirectory(self, self._title, start)
        elif self._save:
            chosen, _ = QFileDialog.getSaveFileName(self, self._title, start, "JSON (*.json)")
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self._title, start, "JSON (*.json)")
        if chosen:
            self.edit.setText(chosen)


class _FormatDialog(QDialog):
    """A form that starts with a format choice and ends with OK / Cancel; the subclass
    adds its rows in between and updates them in ``_format_changed``."""

    def __init__(self, title: str, names: list[str], parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.format = QComboBox()
        for name in names:
            self.format.addItem(format_module(name).TITLE, name)
        self._form = QFormLayout(self)
        self._form.addRow("Format", self.format)

    def _finish(self) -> None:
        """Add the buttons and show the first format's rows."""
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self._form.addRow(buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    def _format_changed(self) -> None:
        raise NotImplementedError


class ExportDialog(_FormatDialog):
    """Choose a format, an output and the format's options."""

    def __init__(self, default_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__("Export dataset", writable_formats(), parent)
        self._default_dir = default_dir
        self.output = _PathField("Export to", save=True)
        self.holes_as_rle = QCheckBox("Masks with holes as RLE (detectron2, mmdetection)")
        self.val_fraction = QDoubleSpinBox()
        self.val_fraction.setRange(0.0, 0.9)
        self.val_fraction.setSingleStep(0.05)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.copy_images = QCheckBox("Copy the images into the dataset")
        self.copy_images.setChecked(True)
        self.layout_choice = QComboBox()
        self.layout_choice.addItem("One PNG per instance", "instances")
        self.layout_choice.addItem("One instance-id PNG per image", "ids")
        form = self._form
        form.addRow("Output", self.output)
        self._option_rows = {
            "holes_as_rle": self.holes_as_rle,
            "val_fraction": self.val_fraction,
            "seed": self.seed,
            "copy_images": self.copy_images,
            "layout": self.layout_choice,
        }
        labels = {"val_fraction": "Validation share", "seed": "Split seed", "layout": "Layout"}
        for name, widget in self._option_rows.items():
            form.addRow(labels.get(name, ""), widget)
        self._finish()

    def _format_changed(self) -> None:
        module = format_module(self.format.currentData())
        for name, widget in self._option_rows.items():
            self._form.setRowVisible(widget, name in module.WRITE_OPTIONS)
        self.output.folder = module.SOURCE_KIND == "folder"
        # A dataset folder goes beside the images folder: inside it, its image copies
        # would be listed as new images the next time the folder is opened.
        if self.output.folder:
            default = self._default_dir.parent / f"{self._default_dir.name}-{module.NAME}"
        else:
            default = self._default_dir / "annotations.json"
        self.output.edit.setText(str(default))

    def request(self) -> DatasetRequest | None:
        """The choice, or None without an output path."""
        path = self.output.path()
        if path is None:
            return None
        name = self.format.currentData()
        values = {
            "holes_as_rle": self.holes_as_rle.isChecked(),
            "val_fraction": self.val_fraction.value(),
            "seed": self.seed.value(),
            "copy_images": self.copy_images.isChecked(),
            "layout": self.layout_choice.currentData(),
        }
        accepted = format_module(name).WRITE_OPTIONS
        return DatasetRequest(name, path, {k: v for k, v in values.items() if k in accepted})


class ImportDialog(_FormatDialog):
    """Choose a format and the source; for COCO also the images folder."""

    def __init__(self, images_dir: Path | None, parent: QWidget | None = None) -> None:
        super().__init__("Import dataset", readable_formats(), parent)
        self.source = _PathField("Import from", save=False)
        self.images = _PathField("Images folder", save=False)
        self.images.folder = True
        self.images.edit.setText("" if images_dir is None else str(images_dir))
        self.drop_placeholders = QCheckBox(
            "Drop other tools' placeholder categories (_background_, Roboflow's dataset class)"
        )
        self._form.addRow("Source", self.source)
        self._form.addRow("Images folder", self.images)
        self._form.addRow("", self.drop_placeholders)
        self._finish()

    def _format_changed(self) -> None:
        module = format_module(self.format.currentData())
        from_file = module.SOURCE_KIND == "file"
        self.source.folder = not from_file
        self._form.setRowVisible(self.images, from_file)
        self._form.setRowVisible(self.drop_placeholders, "placeholders" in module.READ_OPTIONS)

    def request(self) -> DatasetRequest | None:
        """The choice, or None without a source (or, for a file, an images folder)."""
        source = self.source.path()
        name = self.format.currentData()
        module = format_module(name)
        images = self.images.path() if module.SOURCE_KIND == "file" else None
        if source is None or (module.SOURCE_KIND == "file" and images is None):
            return None
        options = {}
        if "placeholders" in module.READ_OPTIONS:
            options["placeholders"] = "drop" if self.drop_placeholders.isChecked() else "keep"
        return DatasetRequest(name, source, options, images)


def write_with_progress(
    parent: QWidget, module: ModuleType, snapshot: DocumentSnapshot, request: DatasetRequest
) -> list[Path]:
    """`module.write` of `snapshot` as `request` asks, with a progress dialog (shown
    after half a second); returns the files written, raises what the writer raises."""
    progress = QProgressDialog(f"Exporting {module.TITLE}…", "", 0, 0, parent)
    progress.setCancelButton(None)
    progress.setMinimumDuration(500)

    def advance(done: int, total: int) -> None:
        progress.setMaximum(total)
        progress.setValue(done)

    try:
        return module.write(snapshot, request.path, progress=advance, **request.options)
    finally:
        progress.reset()
        progress.close()


def show_import_report(parent: QWidget, report: ImportReport) -> None:
    """The report's summary, with every detail behind "Show Details…"."""
    box = QMessageBox(QMessageBox.Icon.Information, "Import report", report.summary(),
                      parent=parent)  # fmt: skip
    box.setDetailedText("\n".join(report.lines(limit=1000)))
    box.exec()
