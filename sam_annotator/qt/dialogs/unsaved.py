"""The quit question when changes are not in the COCO file (or, worse, saved nowhere)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

SAVE, SAVE_ELSEWHERE, DISCARD, CANCEL = "save", "elsewhere", "discard", "cancel"


def ask_unsaved(parent: QWidget, title: str, text: str, choices: list[str]) -> str:
    """Ask `text` with buttons for `choices` (SAVE, SAVE_ELSEWHERE, DISCARD, CANCEL);
    returns the choice (CANCEL when the box is closed)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    labels = {
        SAVE: ("Save COCO", QMessageBox.ButtonRole.AcceptRole),
        SAVE_ELSEWHERE: ("Save elsewhere…", QMessageBox.ButtonRole.AcceptRole),
        DISCARD: ("Discard changes", QMessageBox.ButtonRole.DestructiveRole),
        CANCEL: ("Cancel", QMessageBox.ButtonRole.RejectRole),
    }
    buttons = {box.addButton(*labels[choice]): choice for choice in choices}
    box.exec()
    return buttons.get(box.clickedButton(), CANCEL)
