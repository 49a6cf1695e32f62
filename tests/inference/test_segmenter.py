"""PromptSet / Candidate: validation, normalisation and the small editing helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sam_annotator.inference.segmenter import check_rgb_image, check_size
from sam_annotator.model.prompt_types import MAX_PROMPT_POINTS, Candidate, PromptSet

LOW_RES_SIDE = 256


def test_empty_prompt_set() -> None:
    prompts = PromptSet()
    assert prompts.is_empty
    assert not prompts.defines_object
    assert prompts.point_coords() is None
    assert prompts.point_labels() is None
    assert prompts.box_array() is None


def test_values_are_normalised_to_python_numbers() -> None:
    prompts = PromptSet(points=[np.array([3, 4])], labels=[np.int64(1)], box=np.arange(4))
    assert prompts.points == ((3.0, 4.0),)
    assert type(prompts.points[0][0]) is float
    assert prompts.labels == (1,)
    assert type(prompts.labels[0]) is int
    assert prompts.box == (0.0, 1.0, 2.0, 3.0)


def test_arrays_for_engines_have_documented_shapes_and_dtypes() -> None:
    prompts = PromptSet(points=((1.5, 2.5), (3, 4)), labels=(1, 0), box=(0, 0, 10, 20))
    coords = prompts.point_coords()
    assert coords.shape == (2, 2) and coords.dtype == np.float32
    np.testing.assert_array_equal(coords, [[1.5, 2.5], [3, 4]])
    labels = prompts.point_labels()
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [1, 0])
    np.testing.assert_array_equal(prompts.box_array(), np.array([0, 0, 10, 20], np.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": ((1, 2),), "labels": ()}, "1 points but 0 labels"),
        ({"points": ((1, 2),), "labels": (2,)}, "must be 1 (positive) or 0"),
        ({"points": ((1, 2),), "labels": (True,)}, "must be 1 (positive) or 0"),
        ({"points": ((1, 2),), "labels": ("1",)}, "must be 1 (positive) or 0"),
        ({"points": ((1, 2, 3),), "labels": (1,)}, "point 0 must be an (x, y) pair"),
        ({"points": ((math.nan, 2),), "labels": (1,)}, "point 0 x must be finite"),
        ({"points": ((1, math.inf),), "labels": (1,)}, "point 0 y must be finite"),
        ({"points": (("a", 2),), "labels": (1,)}, "point 0 x must be a number"),
        ({"box": (5, 0, 1, 10)}, "x0 <= x1"),
        ({"box": (0, 5, 10, 1)}, "y0 <= y1"),
        ({"box": (0, 0, 1)}, "box must be (x0, y0, x1, y1)"),
        ({"box": 3}, "box must be (x0, y0, x1, y1)"),
        ({"box": (0, 0, math.inf, 1)}, "box x1 must be finite"),
        ({"mask_input": np.zeros((1, 64, 32), np.float32)}, "1xSxS"),
        ({"mask_input": np.zeros((1, 256, 256), np.uint8)}, "float logits"),
        ({"mask_input": np.full((1, 256, 256), np.nan, np.float32)}, "NaN or infinite"),
    ],
)
def test_bad_input_gets_a_clear_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PromptSet(**kwargs)


def test_degenerate_box_with_equal_corners_is_allowed() -> None:
    assert PromptSet(box=(3, 3, 3, 3)).box == (3.0, 3.0, 3.0, 3.0)


def test_mask_input_is_an_owned_read_only_float32_copy() -> None:
    logits = np.zeros((LOW_RES_SIDE, LOW_RES_SIDE), np.float64)
    prompts = PromptSet(points=((1, 1),), labels=(1,), mask_input=logits)
    assert prompts.mask_input.shape == (1, LOW_RES_SIDE, LOW_RES_SIDE)
    assert prompts.mask_input.dtype == np.float32
    logits[0, 0] = 5.0  # the caller's array changes later ...
    assert prompts.mask_input[0, 0, 0] == 0.0  # ... the prompt set does not
    with pytest.raises(ValueError):
        prompts.mask_input[0, 0, 0] = 1.0


@pytest.mark.parametrize("shape", [(1, 256, 128), (2, 256, 256), (1, 1, 256, 256), (0, 0)])
def test_mask_input_must_be_one_square_plane(shape) -> None:
    with pytest.raises(ValueError, match="1xSxS"):
        PromptSet(points=((1, 1),), labels=(1,), mask_input=np.zeros(shape, np.float32))


def test_too_many_points_are_refused_with_the_limit() -> None:
    many = [(1.0, 1.0)] * (MAX_PROMPT_POINTS + 1)
    with pytest.raises(ValueError, match=f"at most {MAX_PROMPT_POINTS}"):
        PromptSet(points=many, labels=[1] * len(many))
    assert len(PromptSet(points=many[1:], labels=[1] * MAX_PROMPT_POINTS).points) == 1000


def test_helpers_build_new_prompt_sets() -> None:
    start = PromptSet()
    one = start.with_point(10, 20, 1)
    two = one.with_point(30, 40, 0).with_box((0, 0, 50, 60))
    assert start.is_empty  # unchanged
    assert two.points == ((10.0, 20.0), (30.0, 40.0))
    assert two.labels == (1, 0)
    assert two.positive_points == ((10.0, 20.0),)
    assert two.negative_points == ((30.0, 40.0),)
    assert two.box == (0.0, 0.0, 50.0, 60.0)
    assert two.defines_object
    assert two.with_box(None).box is None
    with pytest.raises(ValueError):
        one.with_point(1, 2, 7)


def test_without_last_removes_clicks_then_the_box() -> None:
    prompts = PromptSet(points=((1, 1), (2, 2)), labels=(1, 0), box=(0, 0, 5, 5))
    prompts = prompts.without_last()
    assert prompts.points == ((1.0, 1.0),) and prompts.box is not None
    prompts = prompts.without_last()
    assert prompts.points == () and prompts.box == (0.0, 0.0, 5.0, 5.0)
    prompts = prompts.without_last()
    assert prompts.is_empty
    assert prompts.without_last().is_empty


def test_negative_clicks_alone_do_not_define_an_object() -> None:
    prompts = PromptSet(points=((1, 1),), labels=(0,))
    assert not prompts.is_empty
    assert not prompts.defines_object
    # ... unless they refine a mask (an annotation being refined: remove a part of it)
    refining = prompts.with_mask_input(np.ones((1, 256, 256), np.float32))
    assert refining.defines_object
    assert not PromptSet().with_mask_input(np.ones((1, 256, 256), np.float32)).defines_object


def test_equality_compares_mask_input_by_value() -> None:
    logits = np.ones((1, 256, 256), np.float32)
    a = PromptSet(points=((1, 2),), labels=(1,), mask_input=logits)
    b = PromptSet(points=((1.0, 2.0),), labels=(1,), mask_input=logits.copy())
    c = a.with_mask_input(logits * 2)
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert a != a.with_mask_input(None)
    assert a.with_mask_input(None) == b.with_mask_input(None)
    assert len({a, b, c}) == 2


def test_candidate_is_frozen() -> None:
    candidate = Candidate(score=0.9, low_res_logits=None, index=3)
    with pytest.raises(AttributeError):
        candidate.score = 0.1  # type: ignore[misc]


def test_check_rgb_image() -> None:
    image = np.zeros((4, 5, 3), np.uint8)
    assert check_rgb_image(image) is image
    assert check_rgb_image(image[:, ::2]).flags.c_contiguous
    with pytest.raises(ValueError, match="HxWx3"):
        check_rgb_image(np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="HxWx3"):
        check_rgb_image(np.zeros((4, 5, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        check_rgb_image(np.zeros((4, 5, 3), np.float32))
    with pytest.raises(ValueError, match="empty"):
        check_rgb_image(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="numpy array"):
        check_rgb_image([[0, 0, 0]])


def test_check_size() -> None:
    assert check_size(None, (7, 9)) == (7, 9)
    assert check_size((3, 4), (7, 9)) == (3, 4)
    for bad in [(0, 4), (3, -1), (2.5, 4), (3,), "ab"]:
        with pytest.raises(ValueError, match="size"):
            check_size(bad, (7, 9))
