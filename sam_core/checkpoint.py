"""Safe checkpoint reading: a checkpoint is data, never code.

Files are read with ``torch.load(..., map_location="cpu", weights_only=True)``, which
refuses pickled objects other than tensors and plain containers. Before that, the file's
header is checked so that a missing, truncated or foreign file gets an error that says
what is wrong. The model type is detected from tensor shapes, never from the file name.

Every error is a :class:`CheckpointError`, itself a ``ValueError``.
"""

from __future__ import annotations

import os
import pickle
import re
import struct
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from sam_core.model_specs import TINY_VIT_SPECS, VIT_SPECS

# torch.save's legacy (pre-1.6, non-zip) format opens with this pickled magic number.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
_ZIP_MAGIC = b"PK\x03\x04"

PATCH_EMBED_KEY = "image_encoder.patch_embed.proj.weight"
_BLOCK_KEY = re.compile(r"^image_encoder\.blocks\.(\d+)\.")
# MobileSAM (TinyViT encoder): its stem, and the blocks of each stage.
TINY_VIT_STEM_KEY = "image_encoder.patch_embed.seq.0.c.weight"
_STAGE_BLOCK_KEY = re.compile(r"^image_encoder\.layers\.(\d+)\.blocks\.(\d+)\.")


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message says why."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


class NotACheckpointError(CheckpointError):
    """The file is not a PyTorch checkpoint holding a state_dict of tensors."""


class TruncatedCheckpointError(CheckpointError):
    """The checkpoint file ends early (an interrupted download or copy)."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint holds pickled objects that could run code; it was not loaded."""


class UnknownModelTypeError(CheckpointError):
    """The tensors do not match any SAM model this package knows."""


class ModelTypeMismatchError(CheckpointError):
    """The checkpoint is a different SAM model type than the one requested."""

    def __init__(self, detected: str, requested: str, source: str = "this checkpoint") -> None:
        self.detected = detected
        self.requested = requested
        super().__init__(
            f"{source} is a {detected} model, not {requested}; "
            f"load it as {detected!r} or choose the {requested} checkpoint"
        )


class CheckpointKeysError(CheckpointError):
    """The state_dict's keys or tensor shapes differ from the model's."""

    def __init__(
        self,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
        model_type: str = "the model",
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_few(unexpected)})")
        if mismatched:
            shapes = [f"{k}: {tuple(got)} vs {tuple(want)}" for k, got, want in mismatched]
            parts.append(f"{len(mismatched)} tensors of the wrong shape ({_few(shapes)})")
        super().__init__(f"the checkpoint does not match {model_type}: " + "; ".join(parts))


def _few(items: Iterable[str], limit: int = 4) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f", ... {len(items) - limit} more" if len(items) > limit else "")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a SAM checkpoint file into a CPU state_dict, safely.

    Accepts a plain state_dict or one wrapped as ``{"model": state_dict}``.

    Raises:
        CheckpointNotFoundError, NotACheckpointError, TruncatedCheckpointError,
        UnsafeCheckpointError.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint file not found: {path}")
    if not path.is_file():
        raise NotACheckpointError(f"{path} is not a file")
    is_zip = _check_header(path)
    try:
        loaded = _torch_load(path, memory_map=is_zip)
    except pickle.UnpicklingError as error:
        raise _unpickling_error(path, error) from None
    except (EOFError, struct.error) as error:
        raise TruncatedCheckpointError(
            f"{path} ends early (truncated download or copy?): {error}"
        ) from None
    except RuntimeError as error:
        if "EOF" in str(error):
            raise TruncatedCheckpointError(
                f"{path} ends early (truncated download or copy?)"
            ) from None
        # torch's own text here names its internals ("hasRecord(version)"), not the file.
        raise NotACheckpointError(
            f"{path} is a zip archive with a data.pkl, but not a readable PyTorch checkpoint "
            "(records are missing or damaged)"
        ) from None
    return _as_state_dict(loaded, path)


def _torch_load(path: Path, memory_map: bool) -> object:
    """``torch.load`` with ``weights_only=True``. Zip checkpoints are memory-mapped, so a
    2.5 GB file is not held in RAM twice while copied into a model; should mapping fail,
    the file is read normally."""
    if memory_map:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:
            pass
    return torch.load(path, map_location="cpu", weights_only=True)


def _check_header(path: Path) -> bool:
    """Reject files that are not torch.save output; return whether it is the zip format."""
    with path.open("rb") as file:
        header = file.read(len(_LEGACY_MAGIC))
    if not header:
        raise TruncatedCheckpointError(f"{path} is empty (0 bytes): an interrupted download?")
    if header.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            raise TruncatedCheckpointError(
                f"{path} is an incomplete archive (truncated download or copy?)"
            )
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError) as error:
            raise TruncatedCheckpointError(f"{path} is a damaged archive: {error}") from None
        if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            raise NotACheckpointError(
                f"{path} is a zip archive but not a PyTorch checkpoint (no data.pkl inside)"
            )
        return True
    if header.startswith(_LEGACY_MAGIC):
        return False
    if len(header) < len(_LEGACY_MAGIC) and _LEGACY_MAGIC.startswith(header):
        raise TruncatedCheckpointError(f"{path} ends early (truncated download or copy?)")
    raise NotACheckpointError(
        f"{path} is not a PyTorch checkpoint (expected a .pth file written by torch.save)"
    )


def _unpickling_error(path: Path, error: pickle.UnpicklingError) -> CheckpointError:
    text = str(error)
    if "Weights only load failed" in text and "Unsupported operand" in text:
        # not a refused object but a pickle that does not parse: a damaged or fake file
        return NotACheckpointError(
            f"{path} is not a readable PyTorch checkpoint: its data.pkl is damaged or not a "
            "pickle of weights"
        )
    if "Weights only load failed" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" (it asks for {found.group(1)})" if found else ""
        return UnsafeCheckpointError(
            f"{path} holds pickled objects other than tensors{what}; such a file can run "
            "code when loaded, so it was refused. Use a checkpoint that holds only weights."
        )
    return NotACheckpointError(f"{path} could not be read as a checkpoint: {text}")


def _as_state_dict(loaded: object, path: Path | str) -> dict[str, torch.Tensor]:
    """Unwrap ``{"model": ...}`` and check that the result maps names to tensors."""
    if isinstance(loaded, Mapping) and isinstance(loaded.get("model"), Mapping):
        loaded = loaded["model"]
    if not isinstance(loaded, Mapping) or not loaded:
        raise NotACheckpointError(
            f"{path} holds a {type(loaded).__name__}, not a state_dict of tensors"
        )
    bad = [str(k) for k, v in loaded.items() if not (isinstance(k, str) and torch.is_tensor(v))]
    if bad:
        raise NotACheckpointError(
            f"{path} is not a state_dict of tensors: entries {_few(bad)} are not tensors"
        )
    return dict(loaded)


class NonFiniteWeightsWarning(UserWarning):
    """A checkpoint holds NaN or infinite weights: the model loads but will not segment."""


def warn_non_finite(state_dict: Mapping[str, torch.Tensor], source: str = "the checkpoint") -> None:
    """Warn (NonFiniteWeightsWarning) when floating-point tensors hold NaN or inf."""
    bad = [
        name
        for name, tensor in state_dict.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        warnings.warn(
            f"{source}: {len(bad)} tensors hold NaN or infinite values ({_few(bad)}); the "
            "model will give no usable masks. The file is probably damaged.",
            NonFiniteWeightsWarning,
            stacklevel=3,
        )


def detect_model_type(state_dict: Mapping[str, torch.Tensor]) -> str:
    """The model type ("vit_b", "vit_l", "vit_h", "vit_t", "sam2.1_hiera_t", ...) of a
    state_dict, from shapes.

    For a ViT encoder, reads its patch-embedding width and number of blocks; for
    MobileSAM's TinyViT encoder, the width and number of blocks of each stage. Works on
    ``meta`` tensors too (only shapes are read).

    Raises:
        UnknownModelTypeError: not a SAM state_dict, or one of an unknown size.
    """
    patch = state_dict.get(PATCH_EMBED_KEY)
    if patch is None:
        if TINY_VIT_STEM_KEY in state_dict:
            return _detect_tiny_vit(state_dict)
        from sam_core.sam2.build import detect_sam2_model_type, is_sam2_state_dict

        if is_sam2_state_dict(state_dict):
            return detect_sam2_model_type(state_dict)
        raise UnknownModelTypeError(
            f"not a SAM checkpoint: it has no {PATCH_EMBED_KEY!r} (SAM), "
            f"{TINY_VIT_STEM_KEY!r} (MobileSAM) nor image_encoder.trunk (SAM 2) "
            f"(its keys start with {_few(sorted(state_dict))})"
        )
    width = int(patch.shape[0])
    blocks = {int(m.group(1)) for key in state_dict if (m := _BLOCK_KEY.match(key))}
    depth = max(blocks) + 1 if blocks else 0
    for spec in VIT_SPECS.values():
        if spec.encoder_embed_dim == width and spec.encoder_depth == depth:
            return spec.model_type
    known = ", ".join(
        f"{s.model_type} ({s.encoder_embed_dim} wide, {s.encoder_depth} blocks)"
        for s in VIT_SPECS.values()
    )
    raise UnknownModelTypeError(
        f"the image encoder is {width} wide with {depth} blocks, which matches no known "
        f"SAM model: {known}"
    )


def _detect_tiny_vit(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Match the per-stage widths and block counts of a TinyViT encoder to a known type."""
    blocks: dict[int, set[int]] = {}
    for key in state_dict:
        if m := _STAGE_BLOCK_KEY.match(key):
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    stages = range(max(blocks) + 1 if blocks else 0)
    depths = tuple(max(blocks.get(i, {-1})) + 1 for i in stages)
    widths = tuple(_stage_width(state_dict, i) for i in stages)
    for spec in TINY_VIT_SPECS.values():
        if spec.embed_dims == widths and spec.depths == depths:
            return spec.model_type
    known = ", ".join(
        f"{s.model_type} ({_slashed(s.embed_dims)} wide, {_slashed(s.depths)} blocks)"
        for s in TINY_VIT_SPECS.values()
    )
    raise UnknownModelTypeError(
        f"the MobileSAM (TinyViT) image encoder has stages {_slashed(widths)} wide with "
        f"{_slashed(depths)} blocks, which matches no known model: {known}"
    )


def _stage_width(state_dict: Mapping[str, torch.Tensor], stage: int) -> int:
    """Token width of a TinyViT stage from its first block (MBConv or attention), or 0."""
    prefix = f"image_encoder.layers.{stage}.blocks.0."
    if (conv := state_dict.get(prefix + "conv1.c.weight")) is not None:
        return int(conv.shape[1])  # MBConv expands dim -> hidden
    if (local := state_dict.get(prefix + "local_conv.c.weight")) is not None:
        return int(local.shape[0])  # depthwise dim -> dim
    return 0


def _slashed(values: Iterable[int]) -> str:
    return "/".join(str(v) for v in values) or "no"


def check_model_type(
    state_dict: Mapping[str, torch.Tensor], requested: str, source: str = "this checkpoint"
) -> str:
    """Detect the model type and raise :class:`ModelTypeMismatchError` unless it is
    ``requested`` (a canonical type name). Returns the detected type."""
    detected = detect_model_type(state_dict)
    if detected != requested:
        raise ModelTypeMismatchError(detected, requested, source)
    return detected


def check_keys(
    expected: Mapping[str, torch.Tensor],
    state_dict: Mapping[str, torch.Tensor],
    model_type: str = "the model",
) -> None:
    """Raise :class:`CheckpointKeysError` unless both have the same keys and shapes.

    ``expected`` may hold ``meta`` tensors (only shapes are compared).
    """
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        (k, tuple(state_dict[k].shape), tuple(expected[k].shape))
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        raise CheckpointKeysError(missing, unexpected, mismatched, model_type)


def load_weights(
    model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], model_type: str = "the model"
) -> None:
    """Copy ``state_dict`` into ``model`` strictly, with a :class:`CheckpointKeysError`
    listing the differences when keys or shapes do not match."""
    check_keys(model.state_dict(), state_dict, model_type)
    model.load_state_dict(state_dict, strict=True)
