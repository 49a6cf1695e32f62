"""Atomic file writes: a reader sees either the old file or the new one, never a part.

The bytes go to a temporary file in the same folder, which is flushed and fsync'ed,
then renamed over the target with `os.replace` (atomic on POSIX and Windows), and the
folder is fsync'ed (where the platform allows) so that the rename itself survives a
power cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (see module docstring)."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    # os.open with mode 0o666 lets the umask decide the permissions, as for open(),
    # where tempfile.mkstemp would leave the saved file readable by its owner only.
    descriptor, temp_name = _create_temp(folder, target.name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_directory(folder)


def json_bytes(data: Any) -> bytes:
    """`data` as compact UTF-8 JSON (no NaN), lossless for file names that are not UTF-8.

    A file name whose bytes are not valid UTF-8 reaches Python as a str with lone
    surrogates (os.fsdecode: b'caf\\xe9' -> 'caf\\udce9'), which UTF-8 cannot encode. Such
    characters are written as JSON escapes ('\\udce9'): the file stays valid UTF-8 JSON,
    json.loads gives back the same str, and os.fsencode the original bytes.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # Only lone surrogates fail to encode, and only inside JSON strings, where
    # backslashreplace's '\\udcXX' is exactly the JSON escape of that character.
    return text.encode("utf-8", errors="backslashreplace")


def _create_temp(folder: Path, name: str) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp_name = str(folder / f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp_name, flags, 0o666), temp_name
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {name} in {folder}")


def _fsync_directory(folder: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; NTFS journals the rename
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems (e.g. certain network mounts) refuse fsync on folders
    finally:
        os.close(descriptor)
