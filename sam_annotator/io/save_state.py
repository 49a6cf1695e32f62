"""Where the labeler's work stands: saved, about to be saved, failing, or not saved at all.

The app shows this state permanently (status bar) and the quit dialog reads it, so that
nothing on screen claims the work is safe when it is not. No Qt here: the Autosaver
(io/project.py) reports its state, the controller adds the cases without an autosaver
(no writable place, another window holds the project), Qt only renders the text.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from pathlib import Path


class SaveHealth(str, enum.Enum):
    SAVED = "saved"  # every change is in the project file
    PENDING = "pending"  # changes wait for the next autosave (within about a second)
    FAILING = "failing"  # the last autosave failed; it is retried on a timer and each edit
    OFF = "off"  # no autosave at all: nowhere writable, or the project is open elsewhere


@dataclass(frozen=True)
class SaveState:
    """health; path: the project file; reason: the error, or why there is no autosave;
    failing_since: wall-clock time (time.time()) of the first failure in a row."""

    health: SaveHealth
    path: Path | None = None
    reason: str | None = None
    failing_since: float | None = None

    @property
    def is_safe(self) -> bool:
        """True when the autosave has, or is about to have, every change."""
        return self.health in (SaveHealth.SAVED, SaveHealth.PENDING)

    def label(self) -> str:
        """A short status-bar text."""
        if self.health is SaveHealth.SAVED:
            return "Autosaved"
        if self.health is SaveHealth.PENDING:
            return "Autosaving…"
        if self.health is SaveHealth.FAILING:
            return f"AUTOSAVE FAILING since {_clock(self.failing_since)}: {self.reason}"
        return f"NOT SAVED: {self.reason}"

    def unsaved_warning(self) -> str:
        """What the quit dialog says when `is_safe` is False."""
        if self.health is SaveHealth.FAILING:
            return (
                f"The autosave to {self.path} has been failing since "
                f"{_clock(self.failing_since)} ({self.reason}). The changes since then are "
                "saved nowhere: quitting without saving them elsewhere loses them."
            )
        if self.health is SaveHealth.OFF:
            return (
                f"Nothing in this window is autosaved ({self.reason}). Quitting without "
                "saving the changes elsewhere loses them."
            )
        return "Every change is in the project autosave."


def _clock(moment: float | None) -> str:
    return "?" if moment is None else time.strftime("%H:%M:%S", time.localtime(moment))
