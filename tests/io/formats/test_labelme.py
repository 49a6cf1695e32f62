"""labelme JSON: the export read as labelme reads it (its documented file format, shapes
rasterised with PIL as labelme's shape_to_mask does), and imports of labelme and
X-AnyLabeling files, including shapes and files that must be left out."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sam_annotator.io.formats import labelme
from sam_annotator.io.formats.common import ExportError, annotation_mask
from sam_annotator.model.document import Document
from tests.io.formats.conftest import iou

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def labelme_mask(shape, height, width):
    """What labelme's shape_to_mask / shapes_to_label draw for a polygon or mask shape."""
    if shape["shape_type"] == "mask":
        crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(shape["mask"])))).astype(bool)
        (x1, y1), (x2, y2) = np.asarray(shape["points"]).astype(int)
        mask = np.zeros((height, width), dtype=bool)
        mask[y1 : y2 + 1, x1 : x2 + 1] = crop
        return mask
    canvas = Image.new("L", (width, height))
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in shape["points"]], outline=1, fill=1)
    return np.asarray(canvas).astype(bool)


def test_export_is_one_labelme_file_per_image_that_labelme_rasterises_closely(
    coco_document, tmp_path
):
    snapshot = coco_document.snapshot()
    names = {c.id: c.name for c in snapshot.categories}
    labelme.write(coco_document, tmp_path)
    worst = worst_large = 1.0
    for image in snapshot.images:
        data = json.loads((tmp_path / image.path).with_suffix(".json").read_text())
        assert data["imageData"] is None
        assert (data["imageWidth"], data["imageHeight"]) == (image.width, image.height)
        assert (tmp_path / data["imagePath"]).is_file()
        instances: dict = {}
        for index, shape in enumerate(data["shapes"]):
            key = shape["group_id"] if shape["group_id"] is not None else f"s{index}"
            instances.setdefault(key, []).append(shape)
        originals = [a for a in snapshot.annotations if a.image_id == image.id]
        assert len(instances) == len(originals)
        for shapes, annotation in zip(instances.values(), originals, strict=True):
            assert {s["label"] for s in shapes} == {names[annotation.category_id]}
            drawn = np.logical_or.reduce(
                [labelme_mask(s, image.height, image.width) for s in shapes]
            )
            score = iou(drawn, annotation_mask(annotation, image))
            if not annotation.is_polygon:
                assert score == 1.0 and shapes[0]["flags"] == {"iscrowd": True}
                continue
            # Lossless: labelme draws exactly what it would draw from the COCO polygons.
            original = [{"shape_type": "polygon", "points": np.reshape(ring, (-1, 2)).tolist()}
                        for ring in annotation.polygons]  # fmt: skip
            assert np.array_equal(drawn, np.logical_or.reduce(
                [labelme_mask(s, image.height, image.width) for s in original]))  # fmt: skip
            if annotation.area >= 1000:  # PIL also fills the outline's pixels
                worst_large = min(worst_large, score)
            worst = min(worst, score)
    assert worst >= 0.7 and worst_large >= 0.9, (worst, worst_large)


def test_an_export_reads_back_exactly(coco_document, tmp_path):
    labelme.write(coco_document, tmp_path)
    document, report = labelme.read(tmp_path)
    assert report.skipped == [] and report.images_missing == []
    source = coco_document.snapshot()
    assert {c.name for c in document.categories()} <= {c.name for c in source.categories}
    for image in source.images:
        back = document.image_by_path(image.path)
        originals = [a for a in source.annotations if a.image_id == image.id]
        read = document.annotations(back.id)
        assert [a.iscrowd for a in read] == [a.iscrowd for a in originals]
        for a, b in zip(originals, read, strict=True):
            assert iou(annotation_mask(a, image), annotation_mask(b, back)) == 1.0
            assert document.category(b.category_id).name == next(
                c.name for c in source.categories if c.id == a.category_id)  # fmt: skip
    assert sum(1 for a in document.annotations() if len(a.polygons if a.is_polygon else []) > 1)


def test_without_copies_image_path_leads_to_the_original(coco_document, tmp_path):
    labelme.write(coco_document, tmp_path / "out", copy_images=False)
    data = json.loads((tmp_path / "out" / "000000404249.json").read_text())
    image = (tmp_path / "out" / data["imagePath"]).resolve()
    assert image == (coco_document.images_root / "000000404249.jpg").resolve()
    assert not (tmp_path / "out" / "000000404249.jpg").exists()


def test_scores_and_other_fields_travel_as_shape_keys(tmp_path):
    document = Document(tmp_path)
    image = document.add_image("a.png", 40, 30)
    document.insert_category(document.make_category("cat"))
    annotation = document.make_annotation(
        image.id, document.categories()[0].id, [[2, 2, 30, 2, 30, 20]],
        extra={"score": 0.93, "predicted_iou": 0.88},
    )  # fmt: skip
    document.insert_annotations([annotation])
    labelme.write(document, tmp_path / "out", copy_images=False)
    [shape] = json.loads((tmp_path / "out" / "a.json").read_text())["shapes"]
    assert shape["score"] == 0.93 and shape["predicted_iou"] == 0.88
    with pytest.raises(ExportError, match="outside"):
        bad = Document(tmp_path)
        bad.add_image("../x.png", 4, 4)
        labelme.write(bad, tmp_path / "bad", copy_images=False)


def png_b64(mask):
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def shape(label, points, kind="polygon", group_id=None, **more):
    return {"label": label, "points": points, "group_id": group_id, "description": "",
            "shape_type": kind, "flags": {}, "mask": None, **more}  # fmt: skip


def write_file(folder, stem, shapes, *, image=True, image_path=None, size=(100, 80)):
    folder.mkdir(parents=True, exist_ok=True)
    if image:
        Image.new("RGB", size).save(folder / f"{stem}.jpg")
    data = {"version": "5.5.0", "flags": {}, "shapes": shapes,
            "imagePath": image_path or f"{stem}.jpg", "imageData": None,
            "imageHeight": size[1], "imageWidth": size[0]}  # fmt: skip
    (folder / f"{stem}.json").write_text(json.dumps(data))


def test_labelme_shapes_import_as_labelme_draws_them(tmp_path):
    blob = np.zeros((10, 12), dtype=bool)
    blob[2:8, 3:9] = True
    write_file(tmp_path, "a", [
        shape("box", [[60, 50], [10, 20]], "rectangle"),
        shape("ball", [[50, 40], [50, 30]], "circle"),
        shape("car", [[5, 5, ], [20, 5], [20, 15]], group_id=1),
        shape("car", [[40, 5], [60, 5], [60, 15]], group_id=1),
        shape("blob", [[70, 60], [81, 69]], "mask", mask=png_b64(blob)),
        shape("edge", [[1, 1], [30, 30]], "line"),
        shape("dot", [[5, 5]], "point"),
        shape("flat", [[1, 1], [5, 1], [9, 1]]),
    ])  # fmt: skip
    document, report = labelme.read(tmp_path)
    assert [c.name for c in document.categories()] == ["box", "ball", "car", "blob"]
    by_name = {document.category(a.category_id).name: a for a in document.annotations()}
    assert by_name["box"].bbox == (10.0, 20.0, 50.0, 30.0)
    assert abs(by_name["ball"].area - np.pi * 100) < 12
    assert len(by_name["car"].polygons) == 2
    image = document.images()[0]
    expected = np.zeros((80, 100), dtype=bool)
    expected[62:68, 73:79] = True
    assert np.array_equal(annotation_mask(by_name["blob"], image), expected)
    reasons = {entry.index: entry.reason for entry in report.skipped}
    assert set(reasons) == {5, 6, 7}
    assert "line shape has no area" in reasons[5] and "no pixel" in reasons[7]


def test_x_anylabeling_files_keep_scores_and_attributes(tmp_path):
    write_file(tmp_path, "b", [
        shape("person", [[10, 10], [50, 10], [50, 60], [10, 60]], "rotation",
              score=0.87, difficult=False, attributes={"occluded": "no"}, kie_linking=[]),
    ])  # fmt: skip
    data = json.loads((tmp_path / "b.json").read_text())
    data["imageWidth"] = 99  # a stale size: the image says 100
    (tmp_path / "b.json").write_text(json.dumps(data))
    document, report = labelme.read(tmp_path)
    assert report.notes == [
        "b.json: the file says 99x80, its image is 100x80; the image's size is used"
    ]
    [annotation] = document.annotations()
    assert annotation.extra["score"] == 0.87
    assert dict(annotation.extra["attributes"]) == {"occluded": "no"}
    assert report.skipped == []


def test_bad_files_and_paths_are_left_out_and_named(tmp_path):
    root = tmp_path / "ds"
    write_file(root, "good", [shape("cat", [[1, 1], [20, 1], [20, 20]])])
    write_file(root / "sub", "escape", [shape("cat", [[1, 1], [20, 1], [20, 20]])],
               image=False, image_path="../../outside.jpg")  # fmt: skip
    Image.new("RGB", (100, 80)).save(tmp_path / "outside.jpg")
    (root / "broken.json").write_text('{"shapes": [')
    (root / "other.json").write_text('{"images": []}')
    document, report = labelme.read(root)
    assert [i.path for i in document.images()] == ["good.jpg", "sub/outside.jpg"]
    assert report.images_missing == ["sub/outside.jpg"]  # never read outside the folder
    assert document.annotation_count() == 2
    reasons = {entry.entry_id: entry.reason for entry in report.skipped}
    assert "not JSON" in reasons["broken.json"]
    assert "not a labelme file" in reasons["other.json"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no labelme JSON files"):
        labelme.read(empty)


def test_an_export_into_the_images_folder_keeps_the_images(tmp_path):
    """labelme's JSON files usually sit beside the images: exporting there must not
    replace (or delete) an image by its own copy."""
    document = Document(tmp_path)
    Image.new("RGB", (40, 30), "red").save(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    image = document.add_image("a.png", 40, 30)
    document.insert_category(document.make_category("cat"))
    document.insert_annotations([document.make_annotation(
        image.id, document.categories()[0].id, [[2, 2, 30, 2, 30, 20]])])  # fmt: skip
    labelme.write(document, tmp_path)
    assert (tmp_path / "a.png").read_bytes() == before
    assert json.loads((tmp_path / "a.json").read_text())["imagePath"] == "a.png"
    document.add_image("a.jpg", 40, 30)
    with pytest.raises(ExportError, match="would share the labelme file a.json"):
        labelme.write(document, tmp_path / "out")
