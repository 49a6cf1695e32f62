"""A minimal observer: `Signal` with connect / disconnect / emit, no Qt.

Models emit signals; views (a Qt adapter later) connect slots. Bound methods are held
weakly, so a view that is garbage-collected disconnects itself and is never called
after it is gone; plain functions and lambdas are held strongly.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any


class Signal:
    """A list of slots called in connection order by `emit(*args)`.

    Every slot is called even if an earlier one raises; the first exception is re-raised
    after all slots ran, so one faulty view cannot leave the others out of date.
    Connecting the same slot twice has no effect.
    """

    def __init__(self, name: str = "signal") -> None:
        self.name = name
        self._slots: list[Callable[[], Callable[..., Any] | None]] = []

    def connect(self, slot: Callable[..., Any]) -> Callable[..., Any]:
        """Call `slot(*args)` on every emit; returns the slot (usable as a decorator)."""
        if not callable(slot):
            raise TypeError(f"{self.name}: slot {slot!r} is not callable")
        if self._index(slot) is None:
            if hasattr(slot, "__self__") and hasattr(slot, "__func__"):
                self._slots.append(weakref.WeakMethod(slot))
            else:
                self._slots.append(lambda slot=slot: slot)
        return slot

    def disconnect(self, slot: Callable[..., Any]) -> None:
        """Stop calling `slot`; ValueError if it was not connected."""
        index = self._index(slot)
        if index is None:
            raise ValueError(f"{self.name}: {slot!r} is not connected")
        del self._slots[index]

    def emit(self, *args: Any) -> None:
        first_error: BaseException | None = None
        for ref in list(self._slots):
            slot = ref()
            if slot is None:
                self._slots.remove(ref)
                continue
            try:
                slot(*args)
            except Exception as error:  # re-raised below, after every slot ran
                if first_error is None:
                    first_error = error
        if first_error is not None:
            raise first_error

    def __len__(self) -> int:
        return sum(1 for ref in self._slots if ref() is not None)

    def _index(self, slot: Callable[..., Any]) -> int | None:
        for index, ref in enumerate(self._slots):
            if ref() == slot:
                return index
        return None

    def __repr__(self) -> str:
        return f"Signal({self.name!r}, {len(self)} slots)"


class DocumentEvents:
    """The document's signals; the argument each one carries is in brackets.

    annotations_added / annotations_removed / annotations_changed (tuple[Annotation]:
    the added, removed, or new versions), category_added / category_removed /
    category_changed (Category), categories_reordered (tuple[int]: the new id order),
    images_added (tuple[ImageRecord]), image_changed (ImageRecord: e.g. its status),
    reset () after `replace_contents`, changed () after any of the above.
    """

    def __init__(self) -> None:
        self.annotations_added = Signal("annotations_added")
        self.annotations_removed = Signal("annotations_removed")
        self.annotations_changed = Signal("annotations_changed")
        self.category_added = Signal("category_added")
        self.category_removed = Signal("category_removed")
        self.category_changed = Signal("category_changed")
        self.categories_reordered = Signal("categories_reordered")
        self.images_added = Signal("images_added")
        self.image_changed = Signal("image_changed")
        self.reset = Signal("reset")
        self.changed = Signal("changed")
