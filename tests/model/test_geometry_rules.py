"""Geometry rules at the source: nothing of zero area enters the document; the minimum
part size of accepted masks is a setting."""

from __future__ import annotations

import numpy as np
import pytest

from sam_annotator.config import SettingsError, accept_min_part_area
from sam_annotator.model.commands import AddAnnotation, EditPolygon
from sam_annotator.model.document import Document, DocumentError
from sam_annotator.model.geometry import ACCEPT_MIN_PART_AREA, mask_to_polygons
from sam_annotator.model.undo_stack import UndoStack


@pytest.fixture
def document():
    document = Document()
    document.add_image("a.png", 40, 30)
    document.insert_category(document.make_category("thing"))
    return document


@pytest.mark.parametrize(
    "polygons",
    [
        [[2, 2, 10, 10, 20, 20]],  # three points on a line
        [[5.6, 5.6, 5.9, 5.6, 5.9, 5.9]],  # a sliver between pixel centres
        [[3, 3, 3, 3, 3, 3, 3, 3]],  # one point four times
    ],
)
def test_zero_area_geometry_is_refused_with_a_message(document, polygons):
    image = document.images()[0]
    with pytest.raises(DocumentError, match="covers no pixel"):
        document.make_annotation(image.id, 1, polygons)
    assert document.annotation_count() == 0


def test_an_edit_that_collapses_a_polygon_is_refused_and_changes_nothing(document):
    image = document.images()[0]
    stack = UndoStack(document)
    annotation = document.make_annotation(image.id, 1, [[2, 2, 12, 2, 12, 12, 2, 12]])
    stack.push(AddAnnotation(annotation))
    with pytest.raises(DocumentError, match="covers no pixel"):
        stack.push(EditPolygon(annotation.id, [[2, 2, 12, 2, 12, 2, 2, 2]]))
    assert document.annotation(annotation.id) == annotation
    assert stack.undo() and document.annotation_count() == 0


def test_accept_default_drops_specks_that_would_be_extra_parts():
    mask = np.zeros((30, 40), bool)
    mask[5:20, 5:25] = True
    mask[27, 37] = True  # a 1-pixel speck
    mask[2, 35:37] = True  # a 2-pixel speck
    assert len(mask_to_polygons(mask).polygons) == 3
    kept = mask_to_polygons(mask, min_area=ACCEPT_MIN_PART_AREA)
    assert len(kept.polygons) == 1 and sorted(d.area for d in kept.dropped_parts) == [1, 2]


def test_min_part_area_setting():
    assert accept_min_part_area({}) == ACCEPT_MIN_PART_AREA
    assert accept_min_part_area({"accept_min_part_area": 0}) == 0
    assert accept_min_part_area({"accept_min_part_area": 25}) == 25
    for bad in (-1, "4", True, float("nan")):
        with pytest.raises(SettingsError, match="accept_min_part_area"):
            accept_min_part_area({"accept_min_part_area": bad})
