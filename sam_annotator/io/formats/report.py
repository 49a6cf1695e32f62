"""What an import did, as data: shown in the app (a dialog) and printed by the CLI.

Every reader in io/formats/ returns an `ImportReport` beside the Document, so that
nothing an import changes or leaves out happens without a word: images matched or
missing, file names resolved, annotations read or dropped (with the reason), ids that
changed (old -> new), categories merged, placeholder categories found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SkippedEntry:
    """An entry left out: section ('images', 'annotations', ...), index, id, why."""

    section: str
    index: int
    entry_id: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.section}[{self.index}] (id {self.entry_id}): {self.reason}"


@dataclass(frozen=True)
class IdChange:
    """An id that the document holds under another value than the file (and why)."""

    section: str
    old: int
    new: int
    reason: str

    def __str__(self) -> str:
        return f"{self.section} id {self.old} -> {self.new} ({self.reason})"


@dataclass(frozen=True)
class ResolvedName:
    """A file name that was not a plain relative path, and the image path it became.

    matched: True when a file was found under the images folder (by relative tail or
    unique base name); False when none was, and the image is kept as missing.
    """

    file_name: str
    path: str
    how: str
    matched: bool

    def __str__(self) -> str:
        found = "" if self.matched else " (no such file: kept as missing)"
        return f"{self.file_name!r} -> {self.path!r} by {self.how}{found}"


@dataclass(frozen=True)
class MergedCategory:
    """A category folded into another of the same name; its annotations moved."""

    old_id: int
    name: str
    into_id: int
    annotations_moved: int

    def __str__(self) -> str:
        return (
            f"category {self.old_id} {self.name!r} merged into {self.into_id} "
            f"({self.annotations_moved} annotations moved)"
        )


@dataclass
class ImportReport:
    """The outcome of one import (fields are filled in by the reader).

    images_read / annotations_read: what the document holds from the file.
    images_missing: image paths (relative to the images folder) with no file there.
    placeholders: ids of categories that are placeholders of other tools
    (`_background_`, Roboflow's dataset-level class), kept unless dropped on request.
    dropped_placeholders: (id, name, annotations removed) for each one dropped.
    """

    source: str
    format: str
    images_read: int = 0
    annotations_read: int = 0
    images_missing: list[str] = field(default_factory=list)
    resolved_names: list[ResolvedName] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)
    ids_changed: list[IdChange] = field(default_factory=list)
    merged_categories: list[MergedCategory] = field(default_factory=list)
    placeholders: list[int] = field(default_factory=list)
    dropped_placeholders: list[tuple[int, str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def annotations_dropped(self) -> int:
        return sum(1 for entry in self.skipped if entry.section == "annotations")

    def summary(self) -> str:
        """One line: the counts a user checks first."""
        parts = [
            f"{self.images_read} images ({len(self.images_missing)} missing)",
            f"{self.annotations_read} annotations read, {self.annotations_dropped} dropped",
        ]
        if self.ids_changed:
            parts.append(f"{len(self.ids_changed)} ids changed")
        if self.merged_categories:
            parts.append(f"{len(self.merged_categories)} categories merged")
        if self.placeholders:
            parts.append(f"{len(self.placeholders)} placeholder categories")
        return f"{self.format} import of {self.source}: " + ", ".join(parts)

    def lines(self, limit: int = 20) -> list[str]:
        """The summary and the details, at most `limit` lines per kind."""
        out = [self.summary()]
        sections: list[tuple[str, list[Any]]] = [
            ("missing image files", self.images_missing),
            ("file names resolved", self.resolved_names),
            ("left out", self.skipped),
            ("ids changed", self.ids_changed),
            ("categories merged", self.merged_categories),
            ("placeholder categories (kept)", self._kept_placeholders()),
            ("placeholder categories dropped", self.dropped_placeholders),
            ("notes", self.notes),
        ]
        for title, items in sections:
            if not items:
                continue
            out.append(f"{title} ({len(items)}):")
            out.extend(f"  {item}" for item in items[:limit])
            if len(items) > limit:
                out.append(f"  ... and {len(items) - limit} more")
        return out

    def _kept_placeholders(self) -> list[int]:
        dropped = {entry[0] for entry in self.dropped_placeholders}
        return [c for c in self.placeholders if c not in dropped]

    def __str__(self) -> str:
        return "\n".join(self.lines())
