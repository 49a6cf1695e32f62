"""Mask PNGs: both layouts read back with Pillow against the masks pycocotools decodes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sam_annotator.io.formats import masks
from sam_annotator.io.formats.common import ExportError, annotation_mask
from sam_annotator.model.document import Document

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_instance_pngs_hold_every_instance_whole(coco_document, tmp_path):
    snapshot = coco_document.snapshot()
    masks.write(coco_document, tmp_path)
    index = json.loads((tmp_path / "instances.json").read_text())
    assert index["layout"] == "instances" and len(index["categories"]) == 80
    by_id = {a.id: a for a in snapshot.annotations}
    count = 0
    for entry in index["images"]:
        image = next(i for i in snapshot.images if i.path == entry["file_name"])
        for instance in entry["instances"]:
            annotation = by_id[instance["annotation_id"]]
            with Image.open(tmp_path / instance["file"]) as png:
                pixels = np.asarray(png)
            assert set(np.unique(pixels)) <= {0, 255}
            assert np.array_equal(pixels == 255, annotation_mask(annotation, image))
            assert instance["iscrowd"] == annotation.iscrowd
            count += 1
    assert count == 36


def test_the_ids_layout_keeps_the_upper_instance_per_pixel(coco_document, tmp_path):
    snapshot = coco_document.snapshot()
    masks.write(coco_document, tmp_path, layout="ids")
    index = json.loads((tmp_path / "instances.json").read_text())
    hidden = 0
    for entry in index["images"]:
        image = next(i for i in snapshot.images if i.path == entry["file_name"])
        with Image.open(tmp_path / entry["mask"]) as png:
            assert png.mode.startswith("I")
            ids = np.asarray(png)
        annotations = [a for a in snapshot.annotations if a.image_id == image.id]
        covered = np.zeros(ids.shape, dtype=bool)
        for instance, annotation in reversed(list(zip(entry["instances"], annotations,
                                                      strict=True))):  # fmt: skip
            mask = annotation_mask(annotation, image)
            assert np.array_equal(ids == instance["index"], mask & ~covered)
            hidden += int((mask & covered).any())
            covered |= mask
        assert np.array_equal(ids == 0, ~covered)
    assert hidden and f"{hidden} instances partly hidden" in (tmp_path / "EXPORT_NOTES.txt"
                                                              ).read_text()  # fmt: skip


def test_category_names_stay_inside_the_folder(tmp_path):
    document = Document(tmp_path)
    image = document.add_image("a.png", 20, 20)
    document.insert_category(document.make_category("../../etc/passwd"))
    document.insert_annotations([document.make_annotation(
        image.id, document.categories()[0].id, [[2, 2, 15, 2, 15, 15]])])  # fmt: skip
    written = masks.write(document, tmp_path / "out")
    assert all((tmp_path / "out") in path.parents for path in written)
    assert (tmp_path / "out" / "a" / "001_etc_passwd.png").is_file()
    with pytest.raises(ExportError, match="layout"):
        masks.write(document, tmp_path / "x", layout="rle")
