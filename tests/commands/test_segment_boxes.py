"""`sam-annotator segment-boxes`: detector boxes -> one SAM mask each, as COCO polygons."""

from __future__ import annotations

import json

from pycocotools.coco import COCO

from sam_annotator.__main__ import main
from sam_annotator.inference.sam_segmenter import SamSegmenter


def detections(folder) -> dict:
    """Two boxes on the first image (one below 0.5), one on the sub-folder's image."""
    return {
        "images": [
            {"id": 7, "file_name": "0_dog.jpg"},
            {"id": 9, "file_name": "sub/2_truck.jpg"},
        ],
        "annotations": [
            {"id": 1, "image_id": 7, "bbox": [10, 10, 100, 80], "category_id": 18, "score": 0.9},
            {"id": 2, "image_id": 7, "bbox": [0, 0, 30, 30], "category_id": 3, "score": 0.2},
            {"id": 3, "image_id": 9, "bbox": [40, 20, 90, 70], "category_id": 3, "score": 0.7},
        ],
        "categories": [{"id": 3, "name": "car"}, {"id": 18, "name": "dog"}],
    }


def segment(folder, checkpoint, boxes, out, *extra) -> int:
    args = ["segment-boxes", str(folder), "--boxes", str(boxes), "-o", str(out)]
    return main([*args, "--checkpoint", str(checkpoint), *extra])


def test_one_mask_per_box_with_the_detectors_category(folder, tiny_checkpoint, tmp_path):
    boxes = tmp_path / "dets.json"
    boxes.write_text(json.dumps(detections(folder)))
    out = tmp_path / "out.json"
    cache = tmp_path / "cache"
    assert segment(folder, tiny_checkpoint, boxes, out, "--cache-dir", str(cache)) == 0
    coco = COCO(str(out))
    images = coco.loadImgs(coco.getImgIds())
    assert [i["file_name"] for i in images] == ["0_dog.jpg", "sub/2_truck.jpg"]
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == {3: "car", 18: "dog"}
    annotations = coco.loadAnns(coco.getAnnIds())
    assert [(a["detection_id"], a["category_id"], a["score"]) for a in annotations] == [
        (1, 18, 0.9),
        (3, 3, 0.7),
    ]
    for annotation in annotations:
        assert annotation["segmentation"] and annotation["area"] > 0
        assert "predicted_iou" in annotation
    assert len(list(cache.glob("*.samemb"))) == 2  # the encodings were kept


def test_cached_embeddings_are_reused(folder, tiny_checkpoint, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    assert main(["embed", str(folder), "--checkpoint", str(tiny_checkpoint),
                 "--cache-dir", str(cache)]) == 0  # fmt: skip
    boxes = tmp_path / "dets.json"
    boxes.write_text(json.dumps(detections(folder)))
    first = tmp_path / "first.json"
    assert segment(folder, tiny_checkpoint, boxes, first, "--cache-dir", str(cache)) == 0

    def no_encode(self, image):
        raise AssertionError("a cached image was encoded again")

    monkeypatch.setattr(SamSegmenter, "encode", no_encode)
    second = tmp_path / "second.json"
    assert segment(folder, tiny_checkpoint, boxes, second, "--cache-dir", str(cache)) == 0
    assert (
        json.loads(first.read_text())["annotations"]
        == json.loads(second.read_text())["annotations"]
    )


def test_a_list_of_detections_naming_files(folder, tiny_checkpoint, tmp_path):
    boxes = tmp_path / "dets.json"
    boxes.write_text(
        json.dumps([{"file_name": "1_groceries.jpg", "bbox": [5, 5, 60, 60], "category_id": 1}])
    )
    out = tmp_path / "out.json"
    assert segment(folder, tiny_checkpoint, boxes, out, "--cache-dir", str(tmp_path / "c")) == 0
    coco = COCO(str(out))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["category 1"]
    assert len(coco.getAnnIds()) == 1


def test_a_bad_detection_is_named(folder, tiny_checkpoint, tmp_path, capsys):
    data = detections(folder)
    data["annotations"][1]["bbox"] = [0, 0, -5, 10]
    boxes = tmp_path / "dets.json"
    boxes.write_text(json.dumps(data))
    assert segment(folder, tiny_checkpoint, boxes, tmp_path / "out.json") == 2
    err = capsys.readouterr().err
    assert "detection 1" in err and "positive size" in err
    assert not (tmp_path / "out.json").exists()


def test_a_missing_image_is_listed_and_the_rest_written(folder, tiny_checkpoint, tmp_path, capsys):
    data = detections(folder)
    data["images"][0]["file_name"] = "gone.jpg"
    boxes = tmp_path / "dets.json"
    boxes.write_text(json.dumps(data))
    out = tmp_path / "out.json"
    assert segment(folder, tiny_checkpoint, boxes, out, "--cache-dir", str(tmp_path / "c")) == 1
    assert "1 unreadable: gone.jpg" in capsys.readouterr().err
    assert [i["file_name"] for i in json.loads(out.read_text())["images"]] == ["sub/2_truck.jpg"]
