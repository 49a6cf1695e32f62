"""File -> Export… / Import…: the format dialogs, and datasets written and read by the app."""

from __future__ import annotations

import shutil

import pytest
import yaml
from PIL import Image
from PySide6.QtWidgets import QDialog, QMessageBox

from sam_annotator.config import AppDirs
from sam_annotator.io.formats import format_module, readable_formats, writable_formats, yolo_seg
from sam_annotator.qt.actions import Keymap
from sam_annotator.qt.application import LabelingApp
from sam_annotator.qt.dialogs.datasets import DatasetRequest, ExportDialog, ImportDialog

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture
def app(qtbot, tmp_path, real_data):
    folder = tmp_path / "photos"
    shutil.copytree(real_data / "coco" / "images", folder)
    labeling = LabelingApp(AppDirs.under(tmp_path / "home"), autosave_delay_s=0.05)
    qtbot.addWidget(labeling.window, before_close_func=lambda _w: labeling.undo_stack.set_clean())
    labeling.start(folder, coco=real_data / "coco" / "instances_val2017_subset.json",
                   ask_for_model=False)  # fmt: skip
    yield labeling
    labeling.undo_stack.set_clean()
    labeling.shutdown()


def test_the_export_dialog_offers_each_format_with_only_its_options(qtbot, tmp_path):
    dialog = ExportDialog(tmp_path)
    qtbot.addWidget(dialog)
    names = [dialog.format.itemData(i) for i in range(dialog.format.count())]
    assert names == writable_formats()
    for name in names:
        dialog.format.setCurrentIndex(names.index(name))
        module = format_module(name)
        request = dialog.request()
        assert request.format_name == name
        assert set(request.options) == set(module.WRITE_OPTIONS)
        shown = {option for option, widget in dialog._option_rows.items()
                 if dialog._form.isRowVisible(widget)}  # fmt: skip
        assert shown == set(module.WRITE_OPTIONS)
        if module.SOURCE_KIND == "file":
            assert request.path == tmp_path / "annotations.json"
        else:
            assert request.path == tmp_path.parent / f"{tmp_path.name}-{name}"
    dialog.output.edit.setText("")
    assert dialog.request() is None


def test_the_import_dialog_asks_for_an_images_folder_only_for_a_coco_file(qtbot, tmp_path):
    dialog = ImportDialog(tmp_path)
    qtbot.addWidget(dialog)
    names = [dialog.format.itemData(i) for i in range(dialog.format.count())]
    assert names == readable_formats()
    dialog.source.edit.setText(str(tmp_path / "a.json"))
    dialog.format.setCurrentIndex(names.index("coco"))
    assert dialog._form.isRowVisible(dialog.images)
    dialog.drop_placeholders.setChecked(True)
    assert dialog.request() == DatasetRequest(
        "coco", tmp_path / "a.json", {"placeholders": "drop"}, tmp_path
    )
    dialog.format.setCurrentIndex(names.index("yolo-seg"))
    assert not dialog._form.isRowVisible(dialog.images)
    assert dialog.request() == DatasetRequest("yolo-seg", tmp_path / "a.json", {}, None)


def test_export_from_the_menu_writes_the_chosen_format(app, qtbot, tmp_path, monkeypatch):
    out = tmp_path / "yolo"

    def choose(dialog):
        names = [dialog.format.itemData(i) for i in range(dialog.format.count())]
        dialog.format.setCurrentIndex(names.index("yolo-seg"))
        dialog.output.edit.setText(str(out))
        dialog.val_fraction.setValue(0.5)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ExportDialog, "exec", choose)
    messages = []
    app.project.message.connect(messages.append)
    app.window.actions["file.export"].trigger()
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert len(data["names"]) == 80
    assert len(list((out / "labels" / "val").iterdir())) == 3
    assert any("Exported 36 annotations of 6 images" in m for m in messages)
    assert any("1 crowd regions left out" in m for m in messages)


def test_import_from_the_menu_opens_a_yolo_dataset_with_its_report(
    app, qtbot, tmp_path, monkeypatch
):
    dataset = tmp_path / "dataset"
    yolo_seg.write(app.document, dataset)
    with (dataset / "labels" / "train" / "000000404249.txt").open("a") as labels:
        labels.write("99 0.1 0.1 0.5 0.1 0.5 0.5\n")  # a class data.yaml does not name
    app.window.show()
    qtbot.waitExposed(app.window)

    def choose(dialog):
        names = [dialog.format.itemData(i) for i in range(dialog.format.count())]
        dialog.format.setCurrentIndex(names.index("yolo-seg"))
        dialog.source.edit.setText(str(dataset))
        return QDialog.DialogCode.Accepted

    shown = []

    def show_report(box):
        shown.append((box.text(), box.detailedText()))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(ImportDialog, "exec", choose)
    monkeypatch.setattr(QMessageBox, "exec", show_report)
    app.window.actions["file.import"].trigger()
    assert app.project.workspace.images_dir == dataset.resolve()
    assert app.document.annotation_count() == 35
    assert len(app.document.categories()) == 80
    [(summary, details)] = shown
    assert "35 annotations read, 1 dropped" in summary
    assert "labels/train/000000404249.txt" in details and "not in data.yaml" in details


def test_shortcuts_saved_under_the_old_menu_ids_still_apply():
    keymap = Keymap.from_overrides({"file.import_coco": ["Ctrl+Shift+I"]})
    assert keymap.shortcuts("file.import") == ("Ctrl+Shift+I",)


def test_an_unreadable_dataset_is_reported_and_the_open_project_stays(app, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[2]))
    app.window.show()
    before = app.document.annotation_count()
    (tmp_path / "empty").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "empty" / "x.png")
    assert not app.project.import_dataset(DatasetRequest("yolo-seg", tmp_path / "empty"))
    assert warnings and "no data.yaml" in warnings[0]
    assert app.document.annotation_count() == before == 36


def test_opening_another_folder_while_an_image_is_shown_shows_the_new_one(app, tmp_path):
    image = app.document.image_by_path("000000404249.jpg")
    app.navigator.open(image.id)
    assert app.annotations.rows()
    other = tmp_path / "other"
    other.mkdir()
    Image.new("RGB", (64, 48), "white").save(other / "only.png")
    assert app.project.open_folder(other)
    [only] = app.document.images()
    assert app.labeling.image_id == only.id and app.annotations.image_id == only.id
    assert app.annotations.rows() == []


def test_a_voc_dataset_opens_on_its_images_not_its_label_pngs(app, tmp_path):
    from sam_annotator.io.formats import voc

    voc.write(app.document, tmp_path / "voc")
    assert app.project.import_dataset(DatasetRequest("voc", tmp_path / "voc"))
    assert app.project.workspace.images_dir == (tmp_path / "voc" / "JPEGImages").resolve()
    assert sorted(i.path for i in app.document.images()) == sorted(
        p.name for p in (tmp_path / "voc" / "JPEGImages").glob("*.jpg"))  # fmt: skip
    assert app.document.annotation_count() == 35
