"""Pascal VOC segmentation: the export read back with a reader written from the VOC
devkit's documentation (palette-index PNGs, XML boxes, ImageSets lists), and imports."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from sam_annotator.io.formats import voc
from sam_annotator.io.formats.common import ExportError, annotation_mask
from sam_annotator.model.document import Document
from tests.io.formats.conftest import iou

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def indices(path):
    with Image.open(path) as png:
        assert png.mode == "P"
        return np.asarray(png)


def test_export_is_pixel_exact_where_instances_are_visible(coco_document, tmp_path):
    snapshot = coco_document.snapshot()
    done = []
    voc.write(coco_document, tmp_path, val_fraction=0.5, seed=0,
              progress=lambda i, n: done.append(i))  # fmt: skip
    assert done == [1, 2, 3, 4, 5, 6]
    classes = {c.id: i for i, c in enumerate(snapshot.categories, start=1)}
    names = (tmp_path / "class_names.txt").read_text().splitlines()
    assert names == ["_background_", *(c.name for c in snapshot.categories)]
    hidden = 0
    for image in snapshot.images:
        stem = image.path.rsplit(".", 1)[0]
        assert (tmp_path / "JPEGImages" / image.path).is_file()
        objects = indices(tmp_path / "SegmentationObject" / f"{stem}.png")
        classes_png = indices(tmp_path / "SegmentationClass" / f"{stem}.png")
        annotations = [a for a in snapshot.annotations if a.image_id == image.id]
        instances = [a for a in annotations if not a.iscrowd]
        for crowd in (a for a in annotations if a.iscrowd):
            visible = annotation_mask(crowd, image)
            assert (objects[visible] == 255).all() and (classes_png[visible] == 255).all()
        root = ET.parse(tmp_path / "Annotations" / f"{stem}.xml").getroot()
        xml_objects = root.findall("object")
        assert len(xml_objects) == len(instances)
        for index, (annotation, item) in enumerate(zip(instances, xml_objects, strict=True), 1):
            mask = annotation_mask(annotation, image)
            exported = objects == index
            # Later instances are painted over earlier ones: what is visible is exact.
            later = np.logical_or.reduce(
                [
                    annotation_mask(a, image)
                    for a in annotations[annotations.index(annotation) + 1 :]
                ]
                or [np.zeros_like(mask)]
            )
            assert np.array_equal(exported, mask & ~later)
            hidden += int(not np.array_equal(exported, mask))
            assert (classes_png[exported] == classes[annotation.category_id]).all()
            x, y, w, h = annotation.bbox
            box = [int(item.findtext(f"bndbox/{tag}")) for tag in ("xmin", "ymin", "xmax", "ymax")]
            assert box == [x + 1, y + 1, x + w, y + h]  # 1-based, inclusive
            assert item.findtext("name") == next(
                c.name for c in snapshot.categories if c.id == annotation.category_id)  # fmt: skip
    assert hidden > 0
    assert f"{hidden} instances partly hidden" in (tmp_path / "EXPORT_NOTES.txt").read_text()
    sets = tmp_path / "ImageSets" / "Segmentation"
    train, val = (set((sets / f"{s}.txt").read_text().split()) for s in ("train", "val"))
    assert len(val) == 3 and not train & val
    assert sorted((sets / "trainval.txt").read_text().split()) == sorted(train | val)
    assert (tmp_path / "ImageSets" / "Main" / "val.txt").read_text() == (
        sets / "val.txt").read_text()  # fmt: skip
    with Image.open(tmp_path / "SegmentationClass" / "000000404249.png") as png:
        assert png.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]  # VOC's colours


def test_an_export_reads_back_with_every_visible_instance(coco_document, tmp_path):
    voc.write(coco_document, tmp_path)
    document, report = voc.read(tmp_path)
    assert document.images_root == tmp_path / "JPEGImages"
    assert report.images_read == 6 and report.skipped == []
    source = coco_document.snapshot()
    assert [c.name for c in document.categories()] == [c.name for c in source.categories]
    for image in source.images:
        back = document.image_by_path(image.path)
        objects = indices(tmp_path / "SegmentationObject" / f"{image.path[:-4]}.png")
        read = document.annotations(back.id)
        assert len(read) == len(set(np.unique(objects)) - {0, 255})
        for index, annotation in enumerate(read, start=1):
            assert iou(annotation_mask(annotation, back), objects == index) == 1.0


def test_too_many_classes_are_refused(tmp_path):
    document = Document(tmp_path)
    document.add_image("a.png", 4, 4)
    for n in range(255):
        document.insert_category(document.make_category(f"c{n}"))
    with pytest.raises(ExportError, match="at most 254 classes"):
        voc.write(document, tmp_path / "out")


def write_voc(root, stems, *, classes=("_background_", "cat", "dog")):
    for folder in ("JPEGImages", "SegmentationClass", "SegmentationObject", "Annotations"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "class_names.txt").write_text("\n".join(classes) + "\n")
    for stem in stems:
        Image.new("RGB", (40, 30)).save(root / "JPEGImages" / f"{stem}.jpg")


def label_png(path, array):
    png = Image.frombytes("P", (array.shape[1], array.shape[0]), array.astype(np.uint8).tobytes())
    png.putpalette(voc.voc_palette())
    png.save(path)


def test_import_reads_instances_classes_and_boxes_and_names_bad_files(tmp_path):
    write_voc(tmp_path, ["a", "b", "c"])
    objects = np.zeros((30, 40), np.uint8)
    objects[2:10, 2:12] = 1
    objects[15:25, 20:35] = 2
    objects[0:2, 0:40] = 255  # void border
    classes = np.where(objects == 1, 2, np.where(objects == 2, 1, 0)).astype(np.uint8)
    label_png(tmp_path / "SegmentationObject" / "a.png", objects)
    label_png(tmp_path / "SegmentationClass" / "a.png", classes)
    (tmp_path / "Annotations" / "b.xml").write_text(
        "<annotation><object><name>dog</name><bndbox><xmin>3</xmin><ymin>4</ymin>"
        "<xmax>12</xmax><ymax>20</ymax></bndbox></object></annotation>"
    )
    (tmp_path / "SegmentationObject" / "c.png").write_bytes(b"not a png")
    document, report = voc.read(tmp_path)
    assert [c.name for c in document.categories()] == ["cat", "dog"]
    a = document.image_by_path("a.jpg")
    first, second = document.annotations(a.id)
    assert document.category(first.category_id).name == "dog" and first.area == 80
    assert document.category(second.category_id).name == "cat" and second.area == 150
    [box] = document.annotations(document.image_by_path("b.jpg").id)
    assert box.bbox == (2.0, 3.0, 10.0, 17.0)
    assert report.notes == ["b: no segmentation PNG, boxes read as rectangles"]
    [entry] = report.skipped
    assert entry.entry_id == "SegmentationObject/c.png"
    with pytest.raises(ValueError, match="not a VOC folder"):
        voc.read(tmp_path / "Annotations")
