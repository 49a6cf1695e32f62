"""The portable file format of one cached image embedding (no pickle, any machine).

A file is:

1. ``MAGIC`` (8 bytes: ``b"SAMEMB\\x00\\x01"``);
2. the header length, a little-endian uint32;
3. the header, UTF-8 JSON: ``format`` (1), ``key`` (the cache key the file belongs to),
   ``model_id``, ``preprocessing``, ``original_size`` [H, W], ``input_size`` [h, w],
   ``shape`` (e.g. [1, 256, 64, 64]), ``dtype`` (``"<f4"``), ``data_bytes`` and
   ``crc32`` (CRC-32 of the data);
4. the features, raw little-endian float32 in C order.

Embeddings are stored in float32, exactly as computed: masks decoded from a cached
embedding are the masks decoded from a fresh one.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import torch

from sam_core import PREPROCESSING_VERSION, ImageEmbedding

MAGIC = b"SAMEMB\x00\x01"
FORMAT_VERSION = 1
SUFFIX = ".samemb"
_LENGTH = struct.Struct("<I")
_MAX_HEADER_BYTES = 1 << 16


class EmbeddingFileError(ValueError):
    """The bytes are not a usable embedding file (truncated, corrupt, foreign); says why."""


def encode_entry(key: str, embedding: ImageEmbedding) -> bytes:
    """The file contents for ``embedding`` under ``key`` (see the module docstring)."""
    features = embedding.features.detach().to("cpu", torch.float32).contiguous()
    data = features.numpy().astype("<f4", copy=False).tobytes()
    header = {
        "format": FORMAT_VERSION,
        "key": key,
        "model_id": embedding.model_id,
        "preprocessing": embedding.preprocessing,
        "original_size": list(embedding.original_size),
        "input_size": list(embedding.input_size),
        "shape": list(features.shape),
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
        if header["format"] != FORMAT_VERSION:
            raise EmbeddingFileError(f"unknown format {header['format']!r}")
        if header["key"] != key:
            raise EmbeddingFileError("the file belongs to another key")
        if header["preprocessing"] != PREPROCESSING_VERSION:
            raise EmbeddingFileError("made with another preprocessing version")
        if header["dtype"] != "<f4":
            raise EmbeddingFileError(f"unsupported dtype {header['dtype']!r}")
        shape = tuple(int(v) for v in header["shape"])
        expected = 4 * int(np.prod(shape)) if shape else 0
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
    array = np.frombuffer(data, dtype="<f4").astype(np.float32).reshape(shape)
    try:
        return ImageEmbedding(
            features=torch.from_numpy(array),
            original_size=original_size,
            input_size=input_size,
            model_id=model_id,
            preprocessing=PREPROCESSING_VERSION,
        )
    except ValueError as error:
        raise EmbeddingFileError(f"invalid embedding ({error})") from None
