"""COCO import/export, checked against pycocotools as the reader training code uses."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from sam_annotator.io.coco import (
    CocoFormatError,
    read_coco,
    read_coco_with_report,
    relative_image_path,
    write_coco,
)
from sam_annotator.model.commands import (
    AddAnnotation,
    AddCategory,
    DeleteAnnotations,
    EditPolygon,
)
from sam_annotator.model.document import Document
from sam_annotator.model.geometry import mask_to_polygons, segmentation_to_mask
from sam_annotator.model.rle import Rle
from sam_annotator.model.undo_stack import UndoStack

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

COCO_FILE = "coco/instances_val2017_subset.json"
LABELME_FILE = "coco_labelme/annotations.json"


def load_pycoco(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def document_mask(document, annotation):
    image = document.image(annotation.image_id)
    return segmentation_to_mask(annotation.segmentation, image.height, image.width)


@pytest.fixture
def coco_doc(real_data):
    return read_coco(real_data / COCO_FILE, real_data / "coco" / "images")


@pytest.fixture
def labelme_doc(real_data):
    return read_coco(real_data / LABELME_FILE, real_data / "coco_labelme")


def test_reads_the_real_coco_subset(real_data, coco_doc):
    source = json.loads((real_data / COCO_FILE).read_text())
    assert len(coco_doc.images()) == 6 and len(coco_doc.categories()) == 80
    assert len(coco_doc.annotations()) == 36
    assert coco_doc.annotations(89) == ()  # the image without annotations is kept
    assert any(a.id > 2**32 for a in coco_doc.annotations())
    assert [(c.id, c.name) for c in coco_doc.categories()] == [
        (c["id"], c["name"]) for c in source["categories"]
    ]
    crowd = coco_doc.annotation(904400464689)
    assert crowd.iscrowd and isinstance(crowd.segmentation, Rle)
    assert not crowd.segmentation.is_compressed
    # area is the decoded pixel count (791), not the file's 890: see SOURCES.md
    assert crowd.area == 791
    reference = load_pycoco(real_data / COCO_FILE)
    for annotation in coco_doc.annotations():
        expected = reference.annToMask(reference.anns[annotation.id]).astype(bool)
        np.testing.assert_array_equal(document_mask(coco_doc, annotation), expected)
        assert annotation.area == expected.sum()


def test_reads_labelme_output(labelme_doc, real_data):
    result = read_coco_with_report(real_data / LABELME_FILE, real_data / "coco_labelme")
    assert result.skipped == ()
    # image id 0 is valid and kept; annotation id 0 is not (COCOeval): renumbered, reported
    assert result.new_image_ids is None and result.new_annotation_ids == {0: 12}
    assert [str(c) for c in result.report.ids_changed] == [
        "annotations id 0 -> 12 (COCOeval treats annotation ids below 1 as unmatched)"
    ]
    assert all(a.id >= 1 for a in labelme_doc.annotations())
    background = labelme_doc.category(0)
    assert background.name == "_background_" and background.supercategory is None
    assert result.report.placeholders == [0]
    assert labelme_doc.image_by_path("JPEGImages/2011_000003.jpg").id == 0
    assert max(len(a.segmentation) for a in labelme_doc.annotations()) == 4  # multi-part
    assert labelme_doc.extra == {"type": "instances"}


def test_untouched_real_coco_round_trips_identical_as_json(real_data, tmp_path):
    """Read + write of the real COCO excerpt changes nothing: every segmentation, area
    (float shoelace areas, the crowd's 890), bbox, id and unknown field as it came."""
    source = json.loads((real_data / COCO_FILE).read_text())
    document = read_coco(real_data / COCO_FILE, real_data / "coco" / "images")
    out = tmp_path / "out.json"
    write_coco(document, out)
    assert by_id(json.loads(out.read_text())) == by_id(source)


def by_id(data):
    """COCO data with the annotations in id order: the order of the list means nothing to
    COCO readers, and we write them grouped by image, in each image's z-order."""
    return {**data, "annotations": sorted(data["annotations"], key=lambda a: a["id"])}


def test_untouched_labelme2coco_round_trips_but_for_the_reported_id(real_data, tmp_path):
    source = json.loads((real_data / LABELME_FILE).read_text())
    result = read_coco_with_report(real_data / LABELME_FILE, real_data / "coco_labelme")
    out = tmp_path / "out.json"
    write_coco(result.document, out)
    written = json.loads(out.read_text())
    for annotation in source["annotations"]:
        annotation["id"] = result.new_annotation_ids.get(annotation["id"], annotation["id"])
    assert by_id(written) == by_id(source)


@pytest.mark.parametrize(
    ("name", "root"), [(COCO_FILE, "coco/images"), (LABELME_FILE, "coco_labelme")]
)
def test_edited_annotations_are_measured_again_and_the_rest_kept(real_data, tmp_path, name, root):
    source = json.loads((real_data / name).read_text())
    result = read_coco_with_report(real_data / name, real_data / root, strict=True)
    document = result.document
    stack = UndoStack(document)
    first = next(a for a in document.annotations() if a.is_polygon)
    moved = [[v + 1.0 for v in polygon] for polygon in first.polygons]  # shift by 1 px
    stack.push(EditPolygon(first.id, moved))
    assert document.annotation(first.id).source is None
    out = tmp_path / "out.json"
    write_coco(document, out)
    written = {a["id"]: a for a in json.loads(out.read_text())["annotations"]}
    after = load_pycoco(out)
    edited = written[first.id]
    assert edited["segmentation"] == moved
    assert edited["area"] == after.annToMask(after.anns[first.id]).sum()
    renumbered = result.new_annotation_ids or {}
    for original in source["annotations"]:
        new_id = renumbered.get(original["id"], original["id"])
        if new_id != first.id:
            assert {k: v for k, v in written[new_id].items() if k != "id"} == {
                k: v for k, v in original.items() if k != "id"
            }
    # undo brings the annotation back as it came, source included
    stack.undo()
    assert document.annotation(first.id).source is not None
    # and reading our own file again gives the same document
    again = read_coco(out, real_data / root)
    assert len(again.annotations()) == len(document.annotations())


def test_crowd_rle_round_trips_uncompressed(coco_doc, tmp_path):
    out = tmp_path / "out.json"
    write_coco(coco_doc, out)
    crowd = next(a for a in json.loads(out.read_text())["annotations"] if a["iscrowd"])
    assert isinstance(crowd["segmentation"]["counts"], list)
    assert crowd["segmentation"]["size"] == [640, 586]


def test_export_of_an_edited_document_loads_in_pycocotools(tmp_path):
    document = Document(tmp_path)
    image = document.add_image("photos/a.jpg", 80, 60)
    stack = UndoStack(document)
    add_category = AddCategory("thing")
    stack.push(add_category)
    stack.push(AddCategory("unused"))
    mask = np.zeros((60, 80), bool)
    mask[5:50, 5:70] = True
    mask[15:30, 20:40] = False  # a hole
    mask[20:25, 25:30] = True  # an island in the hole
    mask[52:58, 2:8] = True  # a second part
    polygons = mask_to_polygons(mask).polygons
    annotation = document.make_annotation(
        image.id, add_category.category.id, polygons, extra={"score": 0.93, "predicted_iou": 0.9}
    )
    stack.push(AddAnnotation(annotation))
    crowd_mask = np.zeros((60, 80), bool)
    crowd_mask[40:60, 60:80] = True
    crowd = document.make_annotation(
        image.id, add_category.category.id, Rle.from_mask(crowd_mask), iscrowd=True
    )
    stack.push(AddAnnotation(crowd))
    out = tmp_path / "export.json"
    write_coco(document, out)
    coco = load_pycoco(out)
    assert [c["name"] for c in coco.dataset["categories"]] == ["thing", "unused"]
    assert [c["id"] for c in coco.dataset["categories"]] == [1, 2]  # none invented
    assert coco.imgs[image.id]["file_name"] == "photos/a.jpg"
    exported = coco.anns[annotation.id]
    assert exported["score"] == 0.93 and exported["predicted_iou"] == 0.9
    assert iou(coco.annToMask(exported), mask) >= 0.98
    assert exported["area"] == coco.annToMask(exported).sum()
    x, y, w, h = exported["bbox"]
    rows, cols = np.nonzero(coco.annToMask(exported))
    assert (x, y, w, h) == (cols.min(), rows.min(), np.ptp(cols) + 1, np.ptp(rows) + 1)
    np.testing.assert_array_equal(coco.annToMask(coco.anns[crowd.id]), crowd_mask)
    stack.push(DeleteAnnotations([annotation.id, crowd.id]))
    write_coco(document, out)
    assert load_pycoco(out).dataset["annotations"] == []


def minimal():
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 10}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [
            {"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5]]},
            {"id": 42, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 9, 0, 9, 9]]},
        ],
    }


def broken(change):
    data = minimal()
    change(data)
    return data


CASES = [
    (
        lambda d: d["annotations"][1]["segmentation"][0].pop(),
        "annotations[1] (id 42): polygon 0 has 5 coordinates (odd)",
    ),
    (
        lambda d: d["annotations"][1].update(segmentation=[[0, 0, 1, 1, 2, 2], [0, 0, 1, 1]]),
        "annotations[1] (id 42): polygon 1 has 2 points (fewer than 3)",
    ),
    (
        lambda d: d["annotations"][1].update(image_id=7),
        "annotations[1] (id 42): image_id 7 is not an image",
    ),
    (
        lambda d: d["annotations"][0].update(category_id=3),
        "annotations[0] (id 5): category_id 3 is not a category",
    ),
    (lambda d: d["images"][0].update(width=-20), "images[0] (id 1): width must be positive"),
    (
        lambda d: d["images"][0].update(file_name="../secret.jpg"),
        "images[0] (id 1): file_name '../secret.jpg' leaves the images folder",
    ),
    (
        lambda d: d["images"][0].update(width=10**9),
        "images[0] (id 1): size 1000000000x10 cannot be a real image",
    ),
    (
        lambda d: d["images"][0].update(width=65536, height=65536),
        "images[0] (id 1): size 65536x65536 cannot be a real image",
    ),
    (lambda d: d.pop("categories"), "the key 'categories' is missing"),
    (
        lambda d: d["annotations"][0].pop("segmentation"),
        "annotations[0] (id 5): the key 'segmentation' is missing",
    ),
    (
        lambda d: d["annotations"][0].update(segmentation={"size": [10, 20], "counts": [1]}),
        "annotations[0] (id 5): RLE counts cover 1 pixels",
    ),
    (
        lambda d: d["annotations"][0].update(segmentation={"size": [5, 5], "counts": [25]}),
        "differs from the image",
    ),
    (lambda d: d["annotations"][1].update(id=5), "annotations[1] (id 5): duplicate annotation id"),
    (
        lambda d: d["images"].append({"id": 1, "file_name": "b.jpg", "width": 1, "height": 1}),
        "images[1] (id 1): duplicate image id",
    ),
    (lambda d: d["annotations"][0].update(id="5"), "id must be an integer"),
    (lambda d: d["annotations"][0].update(iscrowd=2), "iscrowd must be 0 or 1"),
]


@pytest.mark.parametrize(("change", "message"), CASES)
def test_malformed_entries_are_named(tmp_path, change, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken(change)))
    with pytest.raises(CocoFormatError) as error:
        read_coco(path, tmp_path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_not_json_and_not_an_object(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(CocoFormatError, match="not valid JSON"):
        read_coco(path, tmp_path)
    path.write_text("[]")
    with pytest.raises(CocoFormatError, match="not a JSON object"):
        read_coco(path, tmp_path)
    with pytest.raises(CocoFormatError, match="cannot be read"):
        read_coco(tmp_path / "missing.json", tmp_path)


def test_best_effort_skips_bad_entries_and_reports_them(tmp_path, caplog):
    data = minimal()
    data["annotations"][1]["segmentation"] = [[0, 0, 9, 0, 9]]
    data["annotations"].append({"id": 43, "image_id": 9, "category_id": 1, "segmentation": []})
    data["images"].append({"id": 2, "file_name": "../x.jpg", "width": 5, "height": 5})
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(data))
    result = read_coco_with_report(path, tmp_path)
    assert [a.id for a in result.document.annotations()] == [5]
    assert [str(s) for s in result.skipped] == [
        "images[1] (id 2): file_name '../x.jpg' leaves the images folder ('..')",
        "annotations[1] (id 42): polygon 0 has 5 coordinates (odd)",
        "annotations[2] (id 43): image_id 9 is not an image of the file",
    ]
    document = read_coco(path, tmp_path, strict=False)
    assert len(document.annotations()) == 1
    assert "annotations[1] (id 42)" in caplog.text
    with pytest.raises(CocoFormatError):
        read_coco(path, tmp_path)


def test_unknown_fields_and_colours_are_kept(tmp_path):
    data = minimal()
    data["categories"][0].update(color=[255, 0, 16], keypoints=["a"])
    data["annotations"][0].update(score=0.5, attributes={"occluded": True})
    data["images"][0].update(license=3)
    data["custom"] = {"tool": "x"}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    document = read_coco(path, tmp_path)
    assert document.category(1).color == "#ff0010"
    out = tmp_path / "out.json"
    write_coco(document, out)
    written = json.loads(out.read_text())
    assert written["custom"] == {"tool": "x"}
    assert written["categories"][0]["keypoints"] == ["a"]
    assert written["categories"][0]["color"] == "#ff0010"
    assert written["annotations"][0]["attributes"] == {"occluded": True}
    assert written["images"][0]["license"] == 3
    assert "info" in written and written["licenses"] == []


def test_export_is_atomic_and_leaves_the_old_file_on_failure(tmp_path, monkeypatch, coco_doc):
    out = tmp_path / "out.json"
    out.write_text("old")
    import sam_annotator.io.atomic as atomic

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_coco(coco_doc, out)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left


def test_relative_image_path_normalises_separators():
    assert relative_image_path("sub\\a.jpg") == "sub/a.jpg"
    assert relative_image_path("./sub/./a.jpg") == "sub/a.jpg"
    for bad in ["", "..", "a/../../b.jpg", "\\\\server\\share\\a.jpg"]:
        with pytest.raises(ValueError):
            relative_image_path(bad)


def test_ids_beyond_32_bits_survive(tmp_path):
    data = copy.deepcopy(minimal())
    data["images"][0]["id"] = 2**40 + 1
    for annotation in data["annotations"]:
        annotation["image_id"] = 2**40 + 1
    data["annotations"][0]["id"] = 2**53 + 2
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "out.json"
    write_coco(read_coco(path, tmp_path), out)
    written = json.loads(out.read_text())
    assert written["images"][0]["id"] == 2**40 + 1
    assert written["annotations"][0]["id"] == 2**53 + 2


def test_the_imported_geometry_survives_the_project_file(real_data, tmp_path):
    from sam_annotator.io.project import load_project, save_project

    source = json.loads((real_data / COCO_FILE).read_text())
    document = read_coco(real_data / COCO_FILE, real_data / "coco" / "images")
    save_project(document, tmp_path / "project.json")
    out = tmp_path / "out.json"
    write_coco(load_project(tmp_path / "project.json"), out)
    assert by_id(json.loads(out.read_text())) == by_id(source)
