"""The shortcuts dialog lists every action and refuses conflicting remaps."""

from __future__ import annotations

from sam_annotator.qt.actions import ACTIONS, Keymap
from sam_annotator.qt.dialogs.shortcuts import ShortcutsDialog


def _row_of(dialog: ShortcutsDialog, action_id: str) -> int:
    return [spec.id for spec in ACTIONS].index(action_id)


def test_lists_every_action_with_its_current_keys(qtbot) -> None:
    keymap = Keymap({"image.next": ["Right"]})
    dialog = ShortcutsDialog(keymap)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == len(ACTIONS)
    row = _row_of(dialog, "image.next")
    assert dialog.table.item(row, 1).text() == "Next Image"
    assert dialog.table.item(row, 2).text() == "Right"
    redo = dialog.table.item(_row_of(dialog, "edit.redo"), 2).text()
    assert "Ctrl+Shift+Z" in redo and "Ctrl+Y" in redo


def test_remap_refuses_a_conflict_and_keeps_the_old_binding(qtbot) -> None:
    dialog = ShortcutsDialog(Keymap(), editable=True)
    qtbot.addWidget(dialog)
    assert not dialog.assign("file.save", ["Ctrl+Z"])
    assert "Undo" in dialog.message.text()
    assert dialog.keymap.shortcuts("file.save") == ("Ctrl+S",)
    assert dialog.assign("file.save", ["Ctrl+Alt+S"])
    assert dialog.table.item(_row_of(dialog, "file.save"), 2).text() == "Ctrl+Alt+S"


def test_dialog_edits_a_copy_until_accepted(qtbot) -> None:
    original = Keymap()
    dialog = ShortcutsDialog(original, editable=True)
    qtbot.addWidget(dialog)
    dialog.assign("view.fit", ["Ctrl+Alt+F"])
    assert original.shortcuts("view.fit") == ("F",)
    assert dialog.keymap.overrides() == {"view.fit": ["Ctrl+Alt+F"]}
