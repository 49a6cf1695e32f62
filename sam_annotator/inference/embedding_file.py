"""The portable file format of one cached image embedding (no pickle, any machine).

A file is:

1. ``MAGIC`` (8 bytes: ``b"SAMEMB\\x00\\x01"``);
2. the header length, a little-endian uint32;
3. the header, UTF-8 JSON: ``format`` (2), ``key`` (the cache key the file belongs to),
   ``model_id``, ``preprocessing``, ``original_size`` [H, W], ``input_size`` [h, w],
   ``shape`` (e.g. [1, 256, 64, 64]), ``levels`` (the shapes of SAM 2's high-resolution
   levels; [] for SAM), ``dtype`` (``"<f4"``), ``data_bytes`` and ``crc32`` (CRC-32 of
   the data);
4. the features, then each level, raw little-endian float32 in C order.

Format 1 files (before SAM 2: no ``levels``) are read as well.

Embeddings are stored in float32, exactly as computed: masks decoded from a cached
embedding are the masks decoded from a fresh one.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import torch

from sam_core import ImageEmbedding
from sam_core.embedding import PREPROCESSING_VERSIONS

MAGIC = b"SAMEMB\x00\x01"
FORMAT_VERSION = 2
_READABLE_FORMATS = (1, 2)
SUFFIX = ".samemb"
_LENGTH = struct.Struct("<I")
_MAX_HEADER_BYTES = 1 << 16


class EmbeddingFileError(ValueError):
    """The bytes are not a usable embedding file (truncated, corrupt, foreign); says why."""


def encode_entry(key: str, embedding: ImageEmbedding) -> bytes:
    """The file contents for ``embedding`` under ``key`` (see the module docstring)."""
    tensors = [
        t.detach().to("cpu", torch.float32).contiguous()
        for t in (embedding.features, *embedding.high_res_features)
    ]
    data = b"".join(t.numpy().astype("<f4", copy=False).tobytes() for t in tensors)
    features = tensors[0]
    header = {
        "format": FORMAT_VERSION,
        "key": key,
        "model_id": embedding.model_id,
        "preprocessing": embedding.preprocessing,
        "original_size": list(embedding.original_size),
        "input_size": list(embedding.input_size),
        "shape": list(features.shape),
        "levels": [list(t.shape) for t in tensors[1:]],
        "dtype": "<f4",
        "data_bytes": len(data),
        "crc32": zlib.crc32(data),
    }
    header_bytes = json.dumps(header, sort_keys=True).encode()
    return b"".join((MAGIC, _LENGTH.pack(len(header_bytes)), header_bytes, data))


def decode_entry(key: str, blob: bytes | bytearray) -> ImageEmbedding:
    """Parse and verify a cache file's contents; EmbeddingFileError says what is wrong."""
    view = memoryview(blob)
    if len(view) < len(MAGIC) + _LENGTH.size or bytes(view[: len(MAGIC)]) != MAGIC:
        raise EmbeddingFileError("not an embedding cache file (bad magic)")
    (header_length,) = _LENGTH.unpack_from(view, len(MAGIC))
    start = len(MAGIC) + _LENGTH.size
    if header_length > _MAX_HEADER_BYTES or start + header_length > len(view):
        raise EmbeddingFileError("truncated or corrupt header")
    try:
        header = json.loads(bytes(view[start : start + header_length]).decode())
        if header["format"] not in _READABLE_FORMATS:
            raise EmbeddingFileError(f"unknown format {header['format']!r}")
        if header["key"] != key:
            raise EmbeddingFileError("the file belongs to another key")
        preprocessing = header["preprocessing"]
        if preprocessing not in PREPROCESSING_VERSIONS:
            raise EmbeddingFileError("made with another preprocessing version")
        if header["dtype"] != "<f4":
            raise EmbeddingFileError(f"unsupported dtype {header['dtype']!r}")
        shape = tuple(int(v) for v in header["shape"])
        levels = [tuple(int(v) for v in level) for level in header.get("levels", [])]
        if not shape or any(not level for level in levels):
            raise EmbeddingFileError("empty tensor shape")
        expected = 4 * sum(int(np.prod(s)) for s in (shape, *levels))
        data_bytes, crc = int(header["data_bytes"]), int(header["crc32"])
        model_id = header["model_id"]
        original_size = tuple(header["original_size"])
        input_size = tuple(header["input_size"])
    except EmbeddingFileError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise EmbeddingFileError(f"unreadable header ({error})") from None
    data = view[start + header_length :]
    if data_bytes != expected or len(data) != data_bytes:
        raise EmbeddingFileError(f"truncated data ({len(data)} of {expected} bytes)")
    if zlib.crc32(data) != crc:
        raise EmbeddingFileError("data checksum mismatch")
    values = np.frombuffer(data, dtype="<f4").astype(np.float32)
    tensors, offset = [], 0
    for tensor_shape in (shape, *levels):
        count = int(np.prod(tensor_shape))
        tensors.append(torch.from_numpy(values[offset : offset + count].reshape(tensor_shape)))
        offset += count
    try:
        return ImageEmbedding(
            features=tensors[0],
            original_size=original_size,
            input_size=input_size,
            model_id=model_id,
            preprocessing=preprocessing,
            high_res_features=tuple(tensors[1:]),
        )
    except ValueError as error:
        raise EmbeddingFileError(f"invalid embedding ({error})") from None
