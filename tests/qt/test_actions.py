"""The action table and the keymap: one binding per key, conflicts refused, remaps saved."""

from __future__ import annotations

import pytest

from sam_annotator.qt.actions import ACTIONS, ACTIONS_BY_ID, Keymap, KeymapError


def test_every_default_key_is_bound_once() -> None:
    keymap = Keymap()
    seen: dict[str, str] = {}
    for spec in ACTIONS:
        for sequence in keymap.shortcuts(spec.id):
            assert sequence not in seen, f"{sequence} bound to {seen[sequence]} and {spec.id}"
            seen[sequence] = spec.id
    assert len(ACTIONS_BY_ID) == len(ACTIONS)


def test_issue_mandated_defaults() -> None:
    keymap = Keymap()
    assert keymap.action_for("Ctrl+Z") == "edit.undo"
    assert keymap.action_for("Ctrl+Shift+Z") == "edit.redo"
    assert keymap.action_for("Ctrl+Y") == "edit.redo"
    assert keymap.action_for("Return") == "segment.accept"
    assert keymap.action_for("Space") == "segment.accept"
    assert keymap.action_for("Esc") == "segment.clear"
    assert keymap.action_for("Tab") == "segment.next_candidate"
    assert [keymap.action_for(k) for k in "123"] == [
        "segment.candidate_1",
        "segment.candidate_2",
        "segment.candidate_3",
    ]
    assert keymap.action_for("Ctrl+1") == "label.category_1"
    assert keymap.action_for("D") == "image.next"
    assert keymap.action_for("PgDown") == "image.next"
    assert keymap.action_for("A") == "image.previous"
    assert keymap.action_for("Ctrl+D") == "image.done_next"
    assert keymap.action_for("F") == "view.fit"
    assert keymap.action_for("Delete") == "edit.delete"
    assert keymap.action_for("Ctrl+S") == "file.save"


def test_remap_is_normalised_and_frees_the_old_key() -> None:
    keymap = Keymap()
    keymap.set("image.next", ["right", "shift+d"])
    assert keymap.shortcuts("image.next") == ("Right", "Shift+D")
    assert keymap.action_for("D") is None
    keymap.set("view.fit", ["D"])
    assert keymap.action_for("d") == "view.fit"


def test_conflicting_binding_is_refused_and_names_the_owner() -> None:
    keymap = Keymap()
    with pytest.raises(KeymapError, match="Undo"):
        keymap.set("file.save", ["Ctrl+Z"])
    assert keymap.shortcuts("file.save") == ("Ctrl+S",)
    assert keymap.action_for("Ctrl+Z") == "edit.undo"


@pytest.mark.parametrize("bad", ["", "Ctrl+K, Ctrl+S", "Foo+Bar"])
def test_invalid_sequences_are_refused(bad: str) -> None:
    with pytest.raises(KeymapError):
        Keymap().set("file.save", [bad])


def test_unknown_action_is_refused() -> None:
    with pytest.raises(KeymapError, match="unknown action"):
        Keymap().set("file.launch_rockets", ["Ctrl+R"])


def test_overrides_round_trip_including_a_swap() -> None:
    # Swapping two keys is only possible when the overrides are applied together.
    saved = {"image.next": ["A"], "image.previous": ["D"]}
    keymap = Keymap.from_overrides(saved)
    assert keymap.action_for("A") == "image.next"
    assert keymap.action_for("D") == "image.previous"
    assert Keymap.from_overrides(keymap.overrides()).overrides() == keymap.overrides()
    keymap.reset()
    assert keymap.overrides() == {}


@pytest.mark.parametrize(
    "data", [None, [], {"image.next": "D"}, {"nope": ["X"]}, {"file.save": ["Ctrl+Z"]}]
)
def test_unusable_saved_overrides_raise(data: object) -> None:
    with pytest.raises(KeymapError):
        Keymap.from_overrides(data)
