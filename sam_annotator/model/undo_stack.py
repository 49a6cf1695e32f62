"""Undo stack: push / undo / redo / merge, with a clean index. No Qt.

Semantics follow QUndoStack, so a Qt layer can mirror it one to one:
- `push(command)` runs `command.redo(document)`; if that raises, nothing is pushed and
  the document is unchanged (commands validate before they mutate). Commands above the
  current index (undone ones) are discarded.
- Consecutive commands merge when the top command's `merge(newer)` accepts the newer
  one (e.g. the many small moves of one vertex drag become one undo step), except
  across the clean index, so `is_clean` stays exact.
- The clean index is the index at the last `set_clean()` (e.g. at save); it becomes
  unreachable when the commands that lead back to it are discarded.
- Depth is unlimited unless `limit` is given; beyond it, the oldest commands drop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from sam_annotator.model.events import Signal

if TYPE_CHECKING:
    from sam_annotator.model.document import Document


class Command(ABC):
    """One undoable edit of a Document. `text` names it in the Edit menu."""

    text: str = ""

    @abstractmethod
    def redo(self, document: Document) -> None:
        """Apply the edit. Validate first: raise before changing anything."""

    @abstractmethod
    def undo(self, document: Document) -> None:
        """Revert exactly what `redo` did."""

    def merge(self, newer: Command) -> bool:
        """Absorb `newer` (already applied) into this command; False to keep both."""
        return False


class UndoStack:
    """The edit history of one Document.

    events.changed () after every push, undo, redo, set_clean, clear;
    events.clean_changed (bool: is_clean) when the clean state flips.
    """

    def __init__(self, document: Document, *, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be None (unlimited) or >= 1, got {limit}")
        self.document = document
        self.limit = limit
        self.changed = Signal("changed")
        self.clean_changed = Signal("clean_changed")
        self._commands: list[Command] = []
        self._index = 0
        self._clean_index: int | None = 0

    @property
    def index(self) -> int:
        """Number of commands applied (0 = the initial state)."""
        return self._index

    def __len__(self) -> int:
        return len(self._commands)

    @property
    def is_clean(self) -> bool:
        """True when the document is in the state of the last `set_clean()`."""
        return self._clean_index == self._index

    @property
    def clean_index(self) -> int | None:
        return self._clean_index

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    @property
    def undo_text(self) -> str:
        """Text of the command `undo()` would revert ('' if none)."""
        return self._commands[self._index - 1].text if self.can_undo else ""

    @property
    def redo_text(self) -> str:
        return self._commands[self._index].text if self.can_redo else ""

    def command(self, index: int) -> Command:
        return self._commands[index]

    def push(self, command: Command) -> None:
        """Apply `command` and record it (merged into the top command if it accepts)."""
        was_clean = self.is_clean
        command.redo(self.document)
        del self._commands[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None
        top = self._commands[-1] if self._commands else None
        if top is not None and self._clean_index != self._index and top.merge(command):
            pass
        else:
            self._commands.append(command)
            self._index += 1
            self._apply_limit()
        self._notify(was_clean)

    def undo(self) -> bool:
        """Revert the last applied command; False if there is none."""
        if not self.can_undo:
            return False
        was_clean = self.is_clean
        self._commands[self._index - 1].undo(self.document)
        self._index -= 1
        self._notify(was_clean)
        return True

    def redo(self) -> bool:
        """Re-apply the next undone command; False if there is none."""
        if not self.can_redo:
            return False
        was_clean = self.is_clean
        self._commands[self._index].redo(self.document)
        self._index += 1
        self._notify(was_clean)
        return True

    def set_clean(self) -> None:
        """Mark the current state as saved."""
        was_clean = self.is_clean
        self._clean_index = self._index
        self._notify(was_clean)

    def clear(self) -> None:
        """Forget the history (e.g. after loading another document); the state is clean."""
        was_clean = self.is_clean
        self._commands.clear()
        self._index = 0
        self._clean_index = 0
        self._notify(was_clean)

    def _apply_limit(self) -> None:
        if self.limit is None or len(self._commands) <= self.limit:
            return
        drop = len(self._commands) - self.limit
        del self._commands[:drop]
        self._index -= drop
        if self._clean_index is not None:
            self._clean_index -= drop
            if self._clean_index < 0:
                self._clean_index = None

    def _notify(self, was_clean: bool) -> None:
        if self.is_clean != was_clean:
            self.clean_changed.emit(self.is_clean)
        self.changed.emit()
