"""Where sam-annotator keeps per-user files, and its small settings file.

- ``config``: ``settings.json`` (remembered checkpoint, later keymap and preferences).
- ``data``: ``checkpoints/`` (downloaded model weights).
- ``cache``: regenerable files (embedding cache).

By default these are the platform's user folders (platformdirs, app name
``sam-annotator``: on Linux ``~/.config/sam-annotator``, ``~/.local/share/sam-annotator``
and ``~/.cache/sam-annotator``). Setting the environment variable ``SAM_ANNOTATOR_HOME``
puts all three under that one folder (``cache`` in its ``cache/`` sub-folder): tests and
portable installs use it so that they never touch the user's real settings.

No Qt here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from sam_annotator.io.atomic import atomic_write_bytes

APP_NAME = "sam-annotator"
HOME_ENV = "SAM_ANNOTATOR_HOME"
SETTINGS_FILE = "settings.json"


class SettingsError(ValueError):
    """The settings file exists but cannot be used (not JSON, or not a JSON object)."""


@dataclass(frozen=True)
class AppDirs:
    """The per-user folders. Nothing is created until something is written there."""

    config: Path
    data: Path
    cache: Path

    @classmethod
    def under(cls, base: str | os.PathLike[str]) -> AppDirs:
        """All folders under one base folder (``cache`` in ``base/cache``)."""
        base = Path(base).expanduser()
        return cls(config=base, data=base, cache=base / "cache")

    @property
    def settings_file(self) -> Path:
        return self.config / SETTINGS_FILE

    @property
    def checkpoints(self) -> Path:
        return self.data / "checkpoints"

    @property
    def embeddings(self) -> Path:
        """The disk embedding cache (filled by the app and by ``sam-annotator embed``)."""
        return self.cache / "embeddings"


def app_dirs(environ: Mapping[str, str] | None = None) -> AppDirs:
    """The folders to use: ``$SAM_ANNOTATOR_HOME`` if set, else the platform's defaults."""
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV, "").strip()
    if home:
        return AppDirs.under(home)
    return AppDirs(
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
    )


def load_settings(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings stored at ``path``; ``{}`` when the file does not exist.

    Raises SettingsError for a file that is not a JSON object (it is left untouched, so a
    hand-edited file with a typo is never overwritten by accident).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path} is not valid JSON ({exc}); fix or delete it") from None
    if not isinstance(settings, dict):
        raise SettingsError(f"{path} must hold a JSON object, not {type(settings).__name__}")
    return settings


def save_settings(path: str | os.PathLike[str], settings: Mapping[str, Any]) -> None:
    """Write ``settings`` as JSON atomically (temp file, fsync, ``os.replace``)."""
    text = json.dumps(dict(settings), indent=2, sort_keys=True) + "\n"
    atomic_write_text(Path(path), text)


def update_settings(path: str | os.PathLike[str], **changes: Any) -> dict[str, Any]:
    """Load, apply ``changes`` (a value of None removes the key), save; return the result."""
    settings = load_settings(path)
    for key, value in changes.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    save_settings(path, settings)
    return settings


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode("utf-8"))


ACCEPT_MIN_PART_AREA_KEY = "accept_min_part_area"


def accept_min_part_area(settings: Mapping[str, Any]) -> float:
    """The minimum part size in pixels for accepted masks (setting
    ``accept_min_part_area``; default model.geometry.ACCEPT_MIN_PART_AREA).

    SettingsError for a value that is not a finite number >= 0.
    """
    from sam_annotator.model.geometry import ACCEPT_MIN_PART_AREA

    value = settings.get(ACCEPT_MIN_PART_AREA_KEY, ACCEPT_MIN_PART_AREA)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e12:
        raise SettingsError(
            f"{ACCEPT_MIN_PART_AREA_KEY} must be a number of pixels >= 0, got {value!r:.40}"
        )
    return float(value)
