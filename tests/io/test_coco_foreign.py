"""COCO files written by other tools (tests/data/foreign, see SOURCES.md): each imports,
and the report says what changed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sam_annotator.io.coco import (
    CocoFormatError,
    drop_placeholders,
    read_coco,
    read_coco_with_report,
    write_coco,
)
from sam_annotator.model.geometry import segmentation_area_bbox

FOREIGN = "foreign"


@pytest.fixture
def foreign(real_data):
    return real_data / FOREIGN


def by_id(data):
    return {**data, "annotations": sorted(data["annotations"], key=lambda a: a["id"])}


def test_roboflow_dataset_class_repeating_a_class_is_merged_not_refused(foreign, tmp_path):
    result = read_coco_with_report(
        foreign / "roboflow_annotations.coco.json", foreign / "images", strict=True
    )
    document, report = result.document, result.report
    assert [(c.id, c.name) for c in document.categories()] == [(1, "cat"), (2, "dog")]
    assert [str(m) for m in report.merged_categories] == [
        "category 0 'cat' merged into 1 (1 annotations moved)"
    ]
    assert report.annotations_read == 3 and report.annotations_dropped == 0
    assert sorted(a.category_id for a in document.annotations()) == [1, 1, 2]
    # annotation id 0 renumbered (COCOeval), and said so
    assert result.new_annotation_ids == {0: 3}
    assert report.images_missing == []
    out = tmp_path / "out.json"
    write_coco(document, out)
    written = json.loads(out.read_text())
    assert [c["id"] for c in written["categories"]] == [1, 2]


def test_roboflow_dataset_level_class_is_a_placeholder_to_keep_or_drop(foreign):
    path = foreign / "roboflow_dataset_class.coco.json"
    kept = read_coco_with_report(path, foreign / "images")
    assert kept.report.placeholders == [0]
    assert [c.name for c in kept.document.categories()] == ["pets", "cat", "dog"]
    assert "placeholder categories (kept) (1):" in str(kept.report)
    dropped = read_coco_with_report(path, foreign / "images", placeholders="drop")
    assert [c.name for c in dropped.document.categories()] == ["cat", "dog"]
    assert dropped.report.dropped_placeholders == [(0, "pets", 0)]
    assert dropped.report.annotations_read == 1


def test_labelme_background_placeholder_drop_removes_its_annotations_and_says_so(real_data):
    result = read_coco_with_report(
        real_data / "coco_labelme/annotations.json", real_data / "coco_labelme"
    )
    document, report = result.document, result.report
    assert report.placeholders == [0]
    before = document.annotation_count()
    drop_placeholders(document, report)
    assert document.category_by_name("_background_") is None
    assert report.dropped_placeholders == [(0, "_background_", 0)]
    assert report.annotations_read == before


def test_labelme2coco_absolute_names_resolve_inside_the_images_folder(real_data, foreign):
    root = real_data / "coco_labelme"
    result = read_coco_with_report(foreign / "labelme2coco_absolute.json", root, strict=True)
    document, report = result.document, result.report
    assert [i.path for i in document.images()] == [
        "JPEGImages/2011_000003.jpg",  # by relative tail
        "JPEGImages/2011_000025.jpg",  # by unique base name
        "passwd",  # no such file: kept (with its annotation) as missing, never /etc/passwd
    ]
    assert [(r.how, r.matched) for r in report.resolved_names] == [
        ("relative tail", True),
        ("unique base name", True),
        ("base name", False),
    ]
    assert report.images_missing == ["passwd"]
    assert all((root / i.path).resolve().is_relative_to(root.resolve()) for i in document.images())
    assert document.annotation_count() == 2


def test_label_studio_upload_paths_and_local_file_urls(foreign):
    result = read_coco_with_report(
        foreign / "labelstudio_result.json", foreign / "images", strict=True
    )
    paths = [i.path for i in result.document.images()]
    assert paths == ["8f2b1c4e-dog.png", "photos/cat.png", "0a1b2c3d-gone.png"]
    assert result.report.images_missing == ["0a1b2c3d-gone.png"]
    assert result.document.annotation_count() == 3
    summary = result.report.summary()
    assert "3 images (1 missing)" in summary and "3 annotations read, 0 dropped" in summary


def test_cvat_file_round_trips_identical(foreign, tmp_path):
    path = foreign / "cvat_instances_default.json"
    result = read_coco_with_report(path, foreign / "images", strict=True)
    assert result.report.ids_changed == [] and result.report.images_missing == []
    crowd = result.document.annotation(2)
    assert crowd.iscrowd and crowd.area == 120
    out = tmp_path / "out.json"
    write_coco(result.document, out)
    assert by_id(json.loads(out.read_text())) == by_id(json.loads(path.read_text()))


def test_xanylabeling_ids_zero_kept_where_valid_and_reported_where_not(foreign, tmp_path):
    path = foreign / "xanylabeling_instances.json"
    result = read_coco_with_report(path, foreign / "images", strict=True)
    document, report = result.document, result.report
    assert [i.id for i in document.images()] == [0, 1]
    assert [c.id for c in document.categories()] == [0, 1]
    assert [str(c) for c in report.ids_changed] == [
        "annotations id 0 -> 2 (COCOeval treats annotation ids below 1 as unmatched)"
    ]
    assert report.placeholders == []
    out = tmp_path / "out.json"
    write_coco(document, out)
    source = json.loads(path.read_text())
    source["annotations"][0]["id"] = 2
    assert by_id(json.loads(out.read_text())) == by_id(source)


def test_deep_nesting_is_a_format_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CocoFormatError, match="nested"):
        read_coco(path, tmp_path)
    deep = {"images": [], "categories": [], "annotations": [], "x": []}
    node = deep["x"]
    for _ in range(150):  # parses with json, but deeper than any COCO needs
        node.append([])
        node = node[0]
    path.write_text(json.dumps(deep))
    with pytest.raises(CocoFormatError, match="nested deeper than 100"):
        read_coco(path, tmp_path)


@pytest.mark.parametrize(
    ("width", "height"), [(10**9, 10), (65536, 65536), (2**31, 1), (1 << 21, 4)]
)
def test_sizes_no_image_has_are_refused_before_rasterising(tmp_path, width, height):
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": width, "height": height}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5]]}
        ],
    }
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CocoFormatError, match=r"images\[0\] \(id 7\): size .* cannot be a real"):
        read_coco(path, tmp_path)


def test_area_and_bbox_on_a_large_canvas_need_no_full_raster():
    """A 46000x46000 image (2.1 gigapixels, allowed): area and bbox come from pycocotools'
    run-length encoding, never from an HxW array, so a small polygon near the far corner
    is measured at once; the measure agrees with pycocotools on small canvases."""
    size = 46_000
    polygon = ((size - 9.5, size - 7.0, size - 1.2, size - 7.0, size - 3.0, size - 0.5),)
    area, bbox = segmentation_area_bbox(polygon, size, size)
    assert area > 0 and bbox[0] >= size - 10 and bbox[1] >= size - 8
    from pycocotools import mask as coco_mask

    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(5, 90, 2))
        points = rng.uniform(-3, max(h, w) + 3, size=(int(rng.integers(3, 9)), 2))
        flat = tuple(float(v) for v in points.ravel())
        rle = coco_mask.merge(coco_mask.frPyObjects([list(flat)], h, w))
        expected = (int(coco_mask.area(rle)), tuple(float(v) for v in coco_mask.toBbox(rle)))
        assert segmentation_area_bbox((flat,), h, w) == expected
