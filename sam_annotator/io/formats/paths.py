"""Image file names written by other tools -> paths inside the opened images folder.

A dataset file names its images as the tool that wrote it saw them: relative paths
(COCO, ultralytics), absolute ones (labelme2coco: '/home/me/data/cat.jpg'), URLs or
upload paths (Label Studio: '/data/upload/3/4f2a-cat.jpg', '...?d=images/cat.jpg').
`ImageNameResolver` turns each into a POSIX path relative to the images folder, never
outside it:

1. a plain relative name ('sub/a.jpg', 'sub\\a.jpg') is taken as it is ('..' is refused);
2. any other name is split into its parts and matched against the files found under
   the folder: the longest tail of parts that names a file ('data/cat.jpg', then
   'cat.jpg'), else the base name when exactly one file under the folder has it;
3. a name that matches nothing keeps its base name (a unique tail when two would
   clash), so the image and its annotations stay in the document as "missing", and
   the report says so.

The folder is listed once, lazily, without following directory links; names are only
compared with that listing, so no path built from a file name is ever opened.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import parse_qs, unquote, urlsplit

from sam_annotator.io.formats.report import ResolvedName


def plain_relative_path(file_name: object) -> str | None:
    """A relative name -> normalised POSIX path; None when the name is absolute, a
    URL or drive path (resolve it by matching). ValueError for an empty name or '..'."""
    if not isinstance(file_name, str) or not file_name.strip():
        raise ValueError(f"file_name must be a non-empty string, got {file_name!r:.60}")
    if (
        PureWindowsPath(file_name).drive
        or file_name.startswith(("/", "\\"))
        or "://" in file_name
        or "?d=" in file_name
    ):
        return None
    parts = [p for p in PurePosixPath(file_name.replace("\\", "/")).parts if p != "."]
    if ".." in parts:
        raise ValueError(f"file_name {file_name!r} leaves the images folder ('..')")
    if not parts:
        raise ValueError(f"file_name {file_name!r} names no file")
    return "/".join(parts)


def name_parts(file_name: str) -> list[str]:
    """The path components of any file name, URL or upload path ('..', '.', drive and
    query removed); Label Studio's '?d=<path>' gives <path>."""
    name = file_name
    if "://" in name or "?d=" in name:
        split = urlsplit(name)
        query = parse_qs(split.query).get("d")
        name = unquote(query[0]) if query else unquote(split.path)
    name = name.replace("\\", "/")
    drive = PureWindowsPath(name).drive
    if drive:
        name = name[len(drive) :]
    return [p for p in name.split("/") if p not in ("", ".", "..")]


class ImageNameResolver:
    """Resolves image file names against one images folder (see the module docstring)."""

    def __init__(self, images_root: str | Path | None) -> None:
        self.root = Path(images_root) if images_root is not None else None
        self._files: set[str] | None = None
        self._by_base: dict[str, list[str]] = {}

    def _listing(self) -> set[str]:
        if self._files is None:
            self._files = set()
            if self.root is not None and self.root.is_dir():
                for folder, _dirs, names in os.walk(self.root):
                    relative = Path(folder).relative_to(self.root).as_posix()
                    for name in names:
                        path = name if relative == "." else f"{relative}/{name}"
                        self._files.add(path)
                        self._by_base.setdefault(name, []).append(path)
        return self._files

    def exists(self, path: str) -> bool:
        """Whether a relative path names a file under the folder."""
        return path in self._listing()

    def resolve(self, file_name: object, taken: set[str]) -> tuple[str, ResolvedName | None]:
        """(relative path, how it was found or None for a plain name).

        taken: paths already given to other images of the same file (an unmatched name
        gets a tail that is not among them). ValueError for names that cannot be used.
        """
        plain = plain_relative_path(file_name)
        if plain is not None:
            return plain, None
        assert isinstance(file_name, str)
        parts = name_parts(file_name)
        if not parts:
            raise ValueError(f"file_name {file_name!r} names no file")
        files = self._listing()
        for start in range(len(parts)):
            tail = "/".join(parts[start:])
            if tail in files and tail not in taken:
                return tail, ResolvedName(file_name, tail, "relative tail", True)
        candidates = [p for p in self._by_base.get(parts[-1], []) if p not in taken]
        if len(candidates) == 1:
            return candidates[0], ResolvedName(file_name, candidates[0], "unique base name", True)
        for start in range(len(parts) - 1, -1, -1):
            tail = "/".join(parts[start:])
            if tail not in taken:
                how = "base name" if start == len(parts) - 1 else "tail"
                if len(candidates) > 1:
                    how += f" ({len(candidates)} files share the base name)"
                return tail, ResolvedName(file_name, tail, how, False)
        raise ValueError(f"file_name {file_name!r} repeats another image's name")
