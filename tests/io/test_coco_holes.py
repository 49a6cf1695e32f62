"""'Masks with holes as RLE': a ring stays a ring for readers that keep only outer rings."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
from pycocotools.coco import COCO

from sam_annotator.io.coco import write_coco
from sam_annotator.model.document import Document
from sam_annotator.model.geometry import has_holes, mask_to_polygons, segmentation_to_mask


def ring_document():
    document = Document()
    image = document.add_image("a.png", 60, 50)
    document.insert_category(document.make_category("ring"))
    ring = np.zeros((50, 60), bool)
    ring[5:45, 5:55] = True
    ring[15:35, 15:45] = False
    disc = np.zeros((50, 60), bool)
    disc[2:8, 2:8] = True
    for mask in (ring, disc):
        polygons = mask_to_polygons(mask, tolerance=0).polygons
        document.insert_annotations([document.make_annotation(image.id, 1, polygons)])
    return document, ring, disc


def test_holes_as_rle_writes_rings_as_rle_and_the_rest_as_polygons(tmp_path):
    document, ring, disc = ring_document()
    out = tmp_path / "out.json"
    write_coco(document, out, holes_as_rle=True)
    written = json.loads(out.read_text())["annotations"]
    assert isinstance(written[0]["segmentation"], dict)  # the ring
    assert isinstance(written[1]["segmentation"], list)  # the disc stays polygons
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(out))
    np.testing.assert_array_equal(coco.annToMask(coco.anns[written[0]["id"]]).astype(bool), ring)
    assert written[0]["area"] == ring.sum() and written[0]["iscrowd"] == 0
    # default: keyhole polygons, which an outer-ring-only reader fills in
    write_coco(document, out)
    keyhole = json.loads(out.read_text())["annotations"][0]["segmentation"]
    assert isinstance(keyhole, list)
    assert segmentation_to_mask(keyhole, 50, 60).sum() == ring.sum()


def test_has_holes():
    _, ring, disc = ring_document()
    assert has_holes(ring) and not has_holes(disc) and not has_holes(np.zeros((3, 3)))
    corner = np.ones((4, 4), bool)
    corner[0, 0] = False  # background touching the border is not a hole
    assert not has_holes(corner)
