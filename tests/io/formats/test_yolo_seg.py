"""YOLO segmentation (ultralytics layout): export read back by a reader written from
ultralytics' dataset documentation, and import of such folders, including bad lines."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from sam_annotator.io.formats import yolo_seg
from sam_annotator.io.formats.common import ExportError, annotation_mask
from sam_annotator.model.document import Document
from sam_annotator.model.geometry import polygons_to_mask
from tests.io.formats.conftest import iou

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def read_label_file(path, width, height):
    """ultralytics' documented label line: `class x1 y1 x2 y2 ...`, normalised to 0-1."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        points = np.asarray(fields[1:], dtype=float).reshape(-1, 2) * (width, height)
        rows.append((int(fields[0]), points.ravel().tolist()))
    return rows


def test_export_is_the_ultralytics_layout_and_every_instance_comes_back(coco_document, tmp_path):
    snapshot = coco_document.snapshot()
    done = []
    written = yolo_seg.write(coco_document, tmp_path, val_fraction=0.5, seed=0,
                             progress=lambda i, n: done.append((i, n)))  # fmt: skip
    assert done[-1] == (6, 6) and len(done) == 6
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["names"] == {i: c.name for i, c in enumerate(snapshot.categories)}
    assert data["nc"] == 80 and data["train"] == "images/train" and data["val"] == "images/val"
    assert all(path.exists() for path in written)
    train = {p.stem for p in (tmp_path / "labels" / "train").glob("*.txt")}
    val = {p.stem for p in (tmp_path / "labels" / "val").glob("*.txt")}
    assert len(val) == 3 and not train & val
    assert train | val == {image.path.rsplit(".", 1)[0] for image in snapshot.images}
    classes = {c.id: i for i, c in enumerate(snapshot.categories)}
    worst = 1.0
    for image in snapshot.images:
        stem = image.path.rsplit(".", 1)[0]
        split = "val" if stem in val else "train"
        assert (tmp_path / "images" / split / image.path).is_file()
        rows = read_label_file(tmp_path / "labels" / split / f"{stem}.txt", image.width,
                               image.height)  # fmt: skip
        objects = [a for a in snapshot.annotations if a.image_id == image.id and not a.iscrowd]
        assert [row[0] for row in rows] == [classes[a.category_id] for a in objects]
        for (_, ring), annotation in zip(rows, objects, strict=True):
            # Rasterised as pycocotools does, so that only the export's loss is measured.
            exported = polygons_to_mask([ring], image.height, image.width)
            worst = min(worst, iou(exported, annotation_mask(annotation, image)))
    assert worst >= 0.985, worst  # 6-decimal normalised coordinates: 1 px on a 94 px object
    notes = (tmp_path / "EXPORT_NOTES.txt").read_text()
    assert notes.startswith("1 crowd regions left out")


def test_the_split_is_seeded(coco_document, tmp_path):
    def val_set(folder, seed):
        yolo_seg.write(coco_document, folder, val_fraction=0.5, seed=seed, copy_images=False)
        return {p.name for p in (folder / "labels" / "val").glob("*.txt")}

    assert val_set(tmp_path / "a", 0) == val_set(tmp_path / "b", 0)
    assert any(val_set(tmp_path / f"s{seed}", seed) != val_set(tmp_path / "a", 0)
               for seed in range(1, 6))  # fmt: skip
    with pytest.raises(ExportError, match="val fraction"):
        yolo_seg.write(coco_document, tmp_path / "c", val_fraction=1.0)


def test_parts_are_bridged_into_one_ring_that_fills_both(tmp_path):
    document = Document(tmp_path)
    image = document.add_image("x.png", 100, 60)
    document.insert_category(document.make_category("thing"))
    left = [5, 5, 30, 5, 30, 40, 5, 40]
    right = [60, 10, 90, 10, 90, 50, 60, 50]
    annotation = document.make_annotation(image.id, document.categories()[0].id, [left, right])
    document.insert_annotations([annotation])
    yolo_seg.write(document, tmp_path / "out", copy_images=False)
    [(_, ring)] = read_label_file(tmp_path / "out" / "labels" / "train" / "x.txt", 100, 60)
    original = annotation_mask(annotation, image)
    assert iou(polygons_to_mask([ring], 60, 100), original) == 1.0


def test_clashing_file_names_get_distinct_label_files(tmp_path):
    document = Document(tmp_path)
    document.insert_category(document.make_category("thing"))
    for path in ("a/x.png", "b/x.png"):
        image = document.add_image(path, 20, 20)
        document.insert_annotations([document.make_annotation(
            image.id, document.categories()[0].id, [[2, 2, 15, 2, 15, 15]])])  # fmt: skip
    yolo_seg.write(document, tmp_path / "out", copy_images=False)
    labels = sorted(p.name for p in (tmp_path / "out" / "labels" / "train").glob("*.txt"))
    assert labels == ["b__x.txt", "x.txt"]


def test_an_export_reads_back_as_the_same_dataset(coco_document, tmp_path):
    yolo_seg.write(coco_document, tmp_path, val_fraction=0.5, seed=1)
    document, report = yolo_seg.read(tmp_path)
    source = coco_document.snapshot()
    assert [c.name for c in document.categories()] == [c.name for c in source.categories]
    assert report.images_read == 6 and report.skipped == []
    assert report.annotations_read == 35  # the crowd region is not in the format
    for image in source.images:
        [back] = [i for i in document.images() if i.path.endswith("/" + image.path)]
        assert (back.width, back.height) == (image.width, image.height)
        originals = [a for a in source.annotations if a.image_id == image.id and not a.iscrowd]
        read = document.annotations(back.id)
        assert len(read) == len(originals)
        for a, b in zip(originals, read, strict=True):
            assert document.category(b.category_id).name == next(
                c.name for c in source.categories if c.id == a.category_id)  # fmt: skip
            assert iou(annotation_mask(a, image), annotation_mask(b, back)) >= 0.985


def write_dataset(root, names, labels):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text(yaml.safe_dump({"names": names}))
    for stem, text in labels.items():
        Image.new("RGB", (200, 100)).save(root / "images" / f"{stem}.png")
        if text is not None:
            (root / "labels" / f"{stem}.txt").write_text(text)


def test_import_names_every_bad_line_and_keeps_the_rest(tmp_path):
    write_dataset(tmp_path, ["cat", "dog"], {
        "a": "0 0.1 0.1 0.5 0.1 0.5 0.9\n"     # a triangle
             "1 0.5 0.5 0.2 0.4\n"             # a detection box
             "7 0.1 0.1 0.5 0.1 0.5 0.9\n"     # class not in data.yaml
             "0 0.1 0.1 0.5\n"                 # odd number of coordinates
             "0 x 0.1 0.5 0.1 0.5 0.9\n"       # not numbers
             "0 10 10 50 10 50 90\n"           # pixels, not normalised
             "0 0.1 0.1 0.2 0.1 0.3 0.1\n",    # a line: covers no pixel
        "b": "",
        "c": None,                             # an image without a label file
    })  # fmt: skip
    document, report = yolo_seg.read(tmp_path)
    assert report.images_read == 3 and report.annotations_read == 2
    reasons = {entry.entry_id: entry.reason for entry in report.skipped}
    assert set(reasons) == {f"labels/a.txt:{n}" for n in (3, 4, 5, 6, 7)}
    assert "not in data.yaml" in reasons["labels/a.txt:3"]
    assert "normalised" in reasons["labels/a.txt:6"]
    assert "no pixel" in reasons["labels/a.txt:7"]
    assert report.notes == ["labels/a.txt:2: a box line, read as a rectangle"]
    box = document.annotations()[1]
    assert box.bbox == (80.0, 30.0, 40.0, 40.0)  # centre (100, 50), 40 x 40 px
    assert document.category(box.category_id).name == "dog"


def test_a_folder_without_class_names_is_refused_with_the_reason(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="no data.yaml"):
        yolo_seg.read(tmp_path)
    (tmp_path / "data.yaml").write_text("names: {0: cat, 2: dog}\n")
    with pytest.raises(ValueError, match="numbered 0..1"):
        yolo_seg.read(tmp_path)
    (tmp_path / "data.yaml").write_text("names: [cat, {bad: 1}]\n")
    with pytest.raises(ValueError, match="must list the class names"):
        yolo_seg.read(tmp_path)
