"""YouTube-VIS export: a video per folder of frames (natural order), a track per
track_id, per-frame RLE masks that decode to the annotations, None where absent."""

from __future__ import annotations

import json

import numpy as np
from pycocotools import mask as mask_utils

from sam_annotator.io.formats import format_module, writable_formats
from sam_annotator.io.formats.common import annotation_mask
from sam_annotator.model.document import Document

ytvis = format_module("ytvis")


def square(x, y, side):
    return [[x, y, x + side, y, x + side, y + side, x, y + side]]


def clip_document():
    """Frames of a clip (named out of natural order), a second folder, two tracks (one
    with two parts on a frame) and an annotation without a track."""
    document = Document("/data")
    for name in ("clip/frame10.png", "clip/frame2.png", "clip/frame1.png", "other/a.png"):
        document.add_image(name, 64, 48)
    for name in ("car", "person"):
        document.insert_category(document.make_category(name))
    car, person = (category.id for category in document.categories())
    images = {image.path: image.id for image in document.images()}

    def make(path, category, x, y, side, track=None):
        extra = {"track_id": track} if track is not None else None
        return document.make_annotation(images[path], category, square(x, y, side), extra=extra)

    made = [
        make("clip/frame1.png", car, 5, 5, 10, track=3),
        make("clip/frame10.png", car, 9, 5, 10, track=3),
        make("clip/frame2.png", person, 30, 20, 8, track=4),
        make("clip/frame2.png", person, 40, 20, 4, track=4),
        make("other/a.png", car, 1, 1, 5),
    ]
    document.insert_annotations(made)
    return document, made


def test_videos_tracks_and_masks(tmp_path):
    assert "ytvis" in writable_formats()
    document, made = clip_document()
    written = ytvis.write(document, tmp_path)
    data = json.loads((tmp_path / "ytvis.json").read_text())
    clip, other = data["videos"]
    assert clip["file_names"] == ["clip/frame1.png", "clip/frame2.png", "clip/frame10.png"]
    assert (clip["length"], clip["width"], clip["height"]) == (3, 64, 48)
    assert other["file_names"] == ["other/a.png"]
    car, person, single = data["annotations"]
    assert [t["video_id"] for t in data["annotations"]] == [1, 1, 2]
    assert car["segmentations"][1] is None and car["areas"][1] is None
    images = {image.path: image for image in document.images()}
    for frame, annotation in ((0, made[0]), (2, made[1])):
        decoded = mask_utils.decode(
            {
                **car["segmentations"][frame],
                "counts": car["segmentations"][frame]["counts"].encode(),
            }
        )
        expected = annotation_mask(annotation, images[clip["file_names"][frame]])
        np.testing.assert_array_equal(decoded.astype(bool), expected)
        assert car["areas"][frame] == int(expected.sum())
    assert person["segmentations"][0] is None and person["areas"][1] == made[2].area + made[3].area
    assert single["category_id"] == made[4].category_id and single["iscrowd"] == 0
    notes = (tmp_path / "EXPORT_NOTES.txt").read_text()
    assert "1 frames held several annotations of one track" in notes
    assert len(written) == 2


def test_export_command_writes_ytvis(tmp_path, monkeypatch):
    from sam_annotator.__main__ import main
    from sam_annotator.io.project import save_project

    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    document, _ = clip_document()
    save_project(document, tmp_path / "sam_annotator_project.json")
    out = tmp_path / "out.json"
    assert main(["export", str(tmp_path / "sam_annotator_project.json"), "--format", "ytvis",
                 "-o", str(out)]) == 0  # fmt: skip
    assert len(json.loads(out.read_text())["annotations"]) == 3
