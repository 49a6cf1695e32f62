"""Where the SAM weights come from: official checkpoints, resolution, verified download.

- :data:`OFFICIAL_CHECKPOINTS`: the official SAM (vit_b, vit_l, vit_h), MobileSAM (vit_t)
  and SAM 2.1 (sam2.1_hiera_t/s/b+/l) checkpoints with their URLs and, where published,
  SHA-256 digests.
- :func:`resolve_checkpoint`: which checkpoint file to use, from the command line, the
  environment, the remembered setting or the user's checkpoints folder.
- :func:`download_checkpoint`: a streamed, resumable, cancellable download that is
  verified before it is moved into place. It blocks; run it on a worker thread and
  report through ``progress``.

No Qt here, and torch only when :func:`loadable_checkpoints` asks ``sam_core``'s model
registries (loading and model-type detection belong to ``sam_core``).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from sam_annotator import __version__
from sam_annotator.config import AppDirs, SettingsError, app_dirs, load_settings, update_settings

log = logging.getLogger(__name__)

CHECKPOINT_ENV = "SAM_ANNOTATOR_CHECKPOINT"
SETTINGS_KEY = "checkpoint"


@dataclass(frozen=True)
class OfficialCheckpoint:
    """One published checkpoint; ``size`` in bytes where known (else Content-Length).

    ``sha256`` is None where no digest is published that this project could check; such a
    file is verified by loading it (``download_checkpoint``'s ``verify``) before it is kept.
    """

    model_type: str
    url: str
    sha256: str | None
    size: int | None
    description: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_SAM2_1_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824"

# Digests cross-checked against several public projects (e.g. micro_sam's registry).
OFFICIAL_CHECKPOINTS: Mapping[str, OfficialCheckpoint] = MappingProxyType(
    {
        "vit_b": OfficialCheckpoint(
            "vit_b",
            "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
            "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            375042383,
            "SAM ViT-B (358 MB): the fastest official SAM, good on a CPU",
        ),
        "vit_l": OfficialCheckpoint(
            "vit_l",
            "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
            "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            None,
            "SAM ViT-L (1.2 GB)",
        ),
        "vit_h": OfficialCheckpoint(
            "vit_h",
            "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
            "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            None,
            "SAM ViT-H (2.4 GB): the most accurate, slow without a GPU",
        ),
        "vit_t": OfficialCheckpoint(
            "vit_t",
            "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
            "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
            None,
            "MobileSAM ViT-T (39 MB): much faster, less accurate",
        ),
        # SAM 2.1 (September 2024), from the sam2 repository's checkpoints/download_ckpts.sh.
        # No digest is published: a download is kept only once it loads as its model type.
        "sam2.1_hiera_t": OfficialCheckpoint(
            "sam2.1_hiera_t",
            f"{_SAM2_1_URL}/sam2.1_hiera_tiny.pt",
            None,
            None,
            "SAM 2.1 Hiera-T (156 MB): the best choice on a CPU, several times faster than ViT-B",
        ),
        "sam2.1_hiera_s": OfficialCheckpoint(
            "sam2.1_hiera_s",
            f"{_SAM2_1_URL}/sam2.1_hiera_small.pt",
            None,
            None,
            "SAM 2.1 Hiera-S (184 MB): fast on a CPU, a little more accurate",
        ),
        "sam2.1_hiera_b+": OfficialCheckpoint(
            "sam2.1_hiera_b+",
            f"{_SAM2_1_URL}/sam2.1_hiera_base_plus.pt",
            None,
            None,
            "SAM 2.1 Hiera-B+ (324 MB): more accurate, still faster than SAM ViT-B on a CPU",
        ),
        "sam2.1_hiera_l": OfficialCheckpoint(
            "sam2.1_hiera_l",
            f"{_SAM2_1_URL}/sam2.1_hiera_large.pt",
            None,
            None,
            "SAM 2.1 Hiera-L (898 MB): the most accurate SAM 2.1, for a GPU",
        ),
    }
)

#: Which official file the checkpoints folder scan takes first when several are there:
#: SAM 2.1 before SAM (better masks, and faster on a CPU), smaller before larger within a
#: family (what a CPU can run), MobileSAM last because it is the least accurate.
SCAN_PREFERENCE = (
    "sam2.1_hiera_t",
    "sam2.1_hiera_s",
    "sam2.1_hiera_b+",
    "sam2.1_hiera_l",
    "vit_b",
    "vit_l",
    "vit_h",
    "vit_t",
)


def loadable_checkpoints() -> list[OfficialCheckpoint]:
    """The official checkpoints this version can load (``sam_core``'s model registries),
    in the table's order: what the download dialog offers and the folder scan picks. A
    table entry whose model ``sam_core`` does not register is neither offered nor picked."""
    from sam_core import sam2_model_registry, sam_model_registry

    loadable = set(sam_model_registry) | set(sam2_model_registry)
    return [c for c in OFFICIAL_CHECKPOINTS.values() if c.model_type in loadable]


class CheckpointError(Exception):
    """Base class for the errors of this module."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """An explicitly given checkpoint path does not name a file."""


class DownloadError(CheckpointError):
    """A download failed (HTTP error, network failure, bad data); the message says why."""


class ChecksumMismatchError(DownloadError):
    """The downloaded bytes do not have the expected SHA-256; the partial file is gone."""


class UnusableDownloadError(DownloadError):
    """The downloaded file failed its ``verify`` check (not the checkpoint it should be);
    the partial file is gone."""


class DownloadCancelled(CheckpointError):
    """The caller cancelled; the ``.part`` file is kept so the next call resumes."""


def official_checkpoint(model_type: str) -> OfficialCheckpoint:
    """The official checkpoint of ``model_type``, or ValueError naming the known types."""
    try:
        return OFFICIAL_CHECKPOINTS[model_type]
    except KeyError:
        known = ", ".join(OFFICIAL_CHECKPOINTS)
        raise ValueError(f"unknown model type {model_type!r}; known: {known}") from None


def _dirs(
    config_dir: str | os.PathLike[str] | AppDirs | None, environ: Mapping[str, str]
) -> AppDirs:
    """The folders to use: given as AppDirs, all under one folder, or the user's own."""
    if isinstance(config_dir, AppDirs):
        return config_dir
    return app_dirs(environ) if config_dir is None else AppDirs.under(config_dir)


def checkpoints_dir(
    *,
    config_dir: str | os.PathLike[str] | AppDirs | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The folder where downloaded checkpoints live (not created here)."""
    return _dirs(config_dir, os.environ if environ is None else environ).checkpoints


def _explicit_file(value: str | os.PathLike[str], source: str) -> Path:
    path = Path(value).expanduser()
    if path.is_dir():
        raise CheckpointNotFoundError(f"{source} {path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointNotFoundError(f"{source} {path}: no such file")
    return path


def resolve_checkpoint(
    cli_path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_dir: str | os.PathLike[str] | AppDirs | None = None,
    model_type: str | None = None,
) -> Path | None:
    """The checkpoint file to load, or None when there is none (offer the first-run dialog).

    In this order:

    1. ``cli_path`` (``--checkpoint``);
    2. the environment variable ``SAM_ANNOTATOR_CHECKPOINT`` (``environ``, default
       ``os.environ``);
    3. the ``"checkpoint"`` entry of the settings file (see :mod:`sam_annotator.config`);
    4. an official file name in the checkpoints folder: with ``model_type`` (``--model``)
       only that type's file, otherwise the first found in :data:`SCAN_PREFERENCE`.

    ``config_dir`` replaces the per-user folders: one folder (settings file and
    ``checkpoints/`` beneath it) or an ``AppDirs`` (the app passes its own). A path given in
    1 or 2 that does not name a file raises CheckpointNotFoundError: the user asked for that
    file, so nothing else is used in its place. A remembered path that has gone, or an
    unreadable settings file, is only logged, and the search goes on.
    """
    env = os.environ if environ is None else environ
    if model_type is not None:
        official_checkpoint(model_type)  # validate early
    if cli_path is not None and str(cli_path) != "":
        return _explicit_file(cli_path, "--checkpoint")
    from_env = env.get(CHECKPOINT_ENV, "").strip()
    if from_env:
        return _explicit_file(from_env, f"${CHECKPOINT_ENV}")
    dirs = _dirs(config_dir, env)
    try:
        remembered = load_settings(dirs.settings_file).get(SETTINGS_KEY)
    except SettingsError as exc:
        log.warning("ignoring the settings file: %s", exc)
        remembered = None
    if isinstance(remembered, str) and remembered:
        path = Path(remembered).expanduser()
        if path.is_file():
            return path
        log.warning("the remembered checkpoint %s is gone; looking elsewhere", path)
    if model_type is not None:
        types: tuple[str, ...] = (model_type,)
    else:
        loadable = {c.model_type for c in loadable_checkpoints()}
        types = tuple(t for t in SCAN_PREFERENCE if t in loadable)
    for name in types:
        candidate = dirs.checkpoints / OFFICIAL_CHECKPOINTS[name].filename
        if candidate.is_file():
            return candidate
    return None


def remember_checkpoint(
    path: str | os.PathLike[str] | None,
    *,
    config_dir: str | os.PathLike[str] | AppDirs | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Store ``path`` (absolute) as the checkpoint to use next time; None forgets it."""
    settings_file = _dirs(config_dir, os.environ if environ is None else environ).settings_file
    value = None if path is None else str(Path(path).expanduser().resolve())
    update_settings(settings_file, **{SETTINGS_KEY: value})


def sha256_of(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


Progress = Callable[[int, int | None], None]
Cancel = threading.Event | Callable[[], bool]


class _Interrupted(Exception):
    """The body stopped early (connection dropped, read timed out): retry by resuming."""


def download_checkpoint(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None,
    verify: Callable[[Path], object] | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    chunk_size: int = 1 << 20,
    timeout: float = 30.0,
    retries: int = 2,
) -> Path:
    """Download ``url`` to ``dest``, verified against ``sha256`` and/or by ``verify``;
    return ``dest``.

    - Streams to ``dest + ".part"``. If that file exists, asks for the rest with an HTTP
      Range request; a server that answers 200 instead of 206 is read from the start
      again (the part file is truncated first).
    - ``progress(bytes_done, bytes_total_or_None)`` is called after every chunk (and once
      at the start), on the calling thread.
    - ``cancel`` (a threading.Event, or a callable returning True to stop) is checked
      before every chunk; cancelling raises DownloadCancelled and keeps the part file.
    - ``timeout`` (seconds) bounds connecting and every read. When the body stops early,
      up to ``retries`` more requests resume it; then DownloadError.
    - The SHA-256 is checked before the file is moved into place with ``os.replace``; on
      a mismatch the part file is deleted and ChecksumMismatchError raised. An existing
      ``dest`` is only replaced by a verified file.
    - ``verify(part_path)``, if given, is called next on the complete part file and must
      raise ``ValueError`` (e.g. sam_core's CheckpointError), ``OSError`` or
      ``RuntimeError`` for a file that is not the expected checkpoint: the part file is
      then deleted and UnusableDownloadError raised. ``sha256=None`` (no published digest)
      needs a ``verify``: nothing unverified is ever kept.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http and https URLs can be downloaded, got {url!r}")
    if sha256 is None and verify is None:
        raise ValueError("a download needs a sha256 or a verify check: nothing unverified is kept")
    expected = None if sha256 is None else sha256.strip().lower()
    if expected is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    is_cancelled = _cancel_check(cancel)
    attempt = 0
    while True:
        try:
            digest = _fetch(url, part, expected, progress, is_cancelled, chunk_size, timeout)
            break
        except _Interrupted as exc:
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    f"download of {url} failed: {exc}. The partial file {part} is kept; "
                    "try again to resume."
                ) from exc
            log.info("download interrupted (%s); resuming, attempt %d", exc, attempt + 1)
    if expected is not None and digest != expected:
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"the file downloaded from {url} is not the expected one: SHA-256 {digest}, "
            f"expected {expected}. It was deleted; try again later."
        )
    if verify is not None:
        try:
            verify(part)
        except (ValueError, OSError, RuntimeError) as exc:
            part.unlink(missing_ok=True)
            raise UnusableDownloadError(
                f"the file downloaded from {url} is not a usable checkpoint ({exc}). "
                "It was deleted; try again later."
            ) from exc
    os.replace(part, dest)
    return dest


def download_official(
    model_type: str,
    *,
    config_dir: str | os.PathLike[str] | AppDirs | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    verify: Callable[[Path], object] | None = None,
) -> Path:
    """Download an official checkpoint into the checkpoints folder; return its path.

    ``verify`` (see :func:`download_checkpoint`) is required for a checkpoint without a
    published digest; the app passes a check that loads the file as ``model_type``."""
    info = official_checkpoint(model_type)
    dest = checkpoints_dir(config_dir=config_dir) / info.filename
    return download_checkpoint(
        info.url, dest, sha256=info.sha256, verify=verify, progress=progress, cancel=cancel
    )


def _cancel_check(cancel: Cancel | None) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    if callable(cancel):
        return lambda: bool(cancel())
    raise TypeError(f"cancel must be a threading.Event or a callable, got {cancel!r}")


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _fetch(
    url: str,
    part: Path,
    expected: str | None,
    progress: Progress | None,
    is_cancelled: Callable[[], bool],
    chunk_size: int,
    timeout: float,
) -> str:
    """One request: append the rest of ``url`` to ``part``; return the hex SHA-256."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"sam-annotator/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            # Nothing left to send: the part file is complete, or it is not this file
            # (without a digest to tell, it is taken as complete and `verify` decides).
            digest = sha256_of(part)
            if expected is None or digest == expected:
                return digest
            part.unlink()  # longer than the server's file: not a prefix of it
            return _fetch(url, part, expected, progress, is_cancelled, chunk_size, timeout)
        if exc.code >= 500:
            raise _Interrupted(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot reach {url}: {exc.reason}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise _Interrupted(f"no answer from the server ({exc})") from None
    with response:
        status = response.status
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not match or int(match.group(1)) != offset:
                response.close()  # not the bytes asked for: start again from zero
                part.unlink(missing_ok=True)
                return _fetch(url, part, expected, progress, is_cancelled, chunk_size, timeout)
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        elif status == 200:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            offset, mode = 0, "wb"  # a server without Range support: start again
        else:
            raise DownloadError(f"download of {url} failed: unexpected HTTP {status}")
        digest = hashlib.sha256()
        if offset:
            with open(part, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        done = offset
        with open(part, mode) as out:
            if progress is not None:
                progress(done, total)
            while True:
                if is_cancelled():
                    raise DownloadCancelled(f"download of {url} cancelled at {done} bytes")
                try:
                    chunk = response.read(chunk_size)
                except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                    raise _Interrupted(f"connection lost after {done} bytes ({exc})") from None
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            out.flush()
            os.fsync(out.fileno())
    if total is not None and done != total:
        raise _Interrupted(f"the connection closed after {done} of {total} bytes")
    return digest.hexdigest()
