"""The embedding cache: keys, memory LRU, capped disk folder, corrupt and foreign entries,
portable files, and the lookup/store pair the app's encode worker uses."""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from sam_annotator.inference.embedding_cache import (
    EmbeddingCache,
    key_for,
    lookup_encoding,
    store_encoding,
)
from sam_annotator.inference.embedding_file import MAGIC, SUFFIX, decode_entry, encode_entry
from sam_annotator.inference.grabcut import GrabCutSegmenter
from sam_annotator.inference.sam_segmenter import SamSegmenter
from sam_annotator.io.images import load_image
from sam_annotator.model.prompt_types import PromptSet
from sam_core import PREPROCESSING_VERSION, ImageEmbedding, build_sam_vit_tiny_test

ENTRY_BYTES = 256 * 64 * 64 * 4  # one SAM embedding's features


def embedding(seed: int, model_id: str = "vit_b-0123") -> ImageEmbedding:
    features = torch.randn(1, 256, 64, 64, generator=torch.Generator().manual_seed(seed))
    return ImageEmbedding(
        features=features,
        original_size=(300, 450),
        input_size=(683, 1024),
        model_id=model_id,
        preprocessing=PREPROCESSING_VERSION,
    )


def key(n: int) -> str:
    return f"{n:064x}"


def same(a: ImageEmbedding, b: ImageEmbedding) -> bool:
    return (
        torch.equal(a.features, b.features)
        and a.original_size == b.original_size
        and a.input_size == b.input_size
        and a.model_id == b.model_id
    )


# -- keys ------------------------------------------------------------------------------


def test_the_key_names_content_model_and_preprocessing(tmp_path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"jpeg bytes")
    renamed = tmp_path / "sub" / "b.jpg"
    renamed.parent.mkdir()
    shutil.copy(photo, renamed)
    base = key_for(photo, "vit_b-1")
    assert len(base) == 64 and set(base) <= set("0123456789abcdef")
    assert key_for(renamed, "vit_b-1") == base == key_for(b"jpeg bytes", "vit_b-1")
    assert key_for(b"jpeg bytes!", "vit_b-1") != base
    assert key_for(photo, "vit_b-2") != base
    assert key_for(photo, "vit_b-1", preprocessing="other") != base
    with pytest.raises(ValueError):
        key_for(photo, "")


def test_a_file_key_follows_edits_of_the_file(tmp_path) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"first")
    first = cache.key_for_file(photo, "m")
    assert cache.key_for_file(photo, "m") == first == key_for(b"first", "m")
    photo.write_bytes(b"second, longer")
    assert cache.key_for_file(photo, "m") == key_for(b"second, longer", "m")
    with pytest.raises(OSError):
        cache.key_for_file(tmp_path / "missing.jpg", "m")


# -- memory and disk -------------------------------------------------------------------


def test_round_trip_through_memory_and_disk(tmp_path) -> None:
    stored = embedding(1)
    cache = EmbeddingCache(tmp_path)
    assert cache.get(key(1)) is None
    cache.put(key(1), stored)
    assert cache.get(key(1)) is stored  # memory hit
    assert cache.path_for(key(1)).is_file()

    fresh = EmbeddingCache(tmp_path)  # a later session: only the disk
    assert fresh.contains(key(1))
    loaded = fresh.get(key(1))
    assert loaded is not None and same(loaded, stored)
    stats = fresh.stats()
    assert (stats.disk_hits, stats.misses, stats.disk_entries) == (1, 0, 1)
    assert fresh.get(key(1)) is loaded  # now in memory


def test_memory_is_bounded_in_bytes_least_recently_used_first(tmp_path) -> None:
    cache = EmbeddingCache(tmp_path, max_disk_bytes=0, max_memory_bytes=2 * ENTRY_BYTES)
    for n in (1, 2):
        cache.put(key(n), embedding(n))
    assert cache.get(key(1)) is not None  # 1 is now the most recent
    cache.put(key(3), embedding(3))
    assert cache.get(key(2)) is None
    assert cache.get(key(1)) is not None and cache.get(key(3)) is not None
    assert cache.stats().memory_bytes == 2 * ENTRY_BYTES
    assert not any(tmp_path.iterdir()), "max_disk_bytes=0 writes no file"


def test_the_folder_is_capped_least_recently_used_first(tmp_path) -> None:
    entry_file = len(encode_entry(key(1), embedding(1)))
    cache = EmbeddingCache(tmp_path, max_disk_bytes=2 * entry_file + 100, max_memory_bytes=0)
    cache.put(key(1), embedding(1))
    cache.put(key(2), embedding(2))
    assert cache.get(key(1)) is not None  # read from disk: 1 is now used after 2
    cache.put(key(3), embedding(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(key(n) + SUFFIX for n in (1, 3))
    stats = cache.stats()
    assert stats.evicted == 1 and stats.disk_bytes <= cache.max_disk_bytes
    # The bound holds across sessions: a new cache scans the folder.
    again = EmbeddingCache(tmp_path, max_disk_bytes=entry_file + 100, max_memory_bytes=0)
    again.put(key(4), embedding(4))
    assert [p.name for p in tmp_path.iterdir()] == [key(4) + SUFFIX]


@pytest.mark.parametrize(
    "damage",
    ["flip a data byte", "truncate", "garbage", "empty", "another key's file", "bad header"],
)
def test_a_damaged_entry_is_a_miss_and_is_deleted(tmp_path, damage, caplog) -> None:
    cache = EmbeddingCache(tmp_path, max_memory_bytes=0)
    cache.put(key(1), embedding(1))
    cache.put(key(2), embedding(2))
    path = cache.path_for(key(1))
    blob = bytearray(path.read_bytes())
    if damage == "flip a data byte":
        blob[-1000] ^= 0xFF
    elif damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "garbage":
        blob = bytearray(os.urandom(5000))
    elif damage == "empty":
        blob = bytearray()
    elif damage == "another key's file":
        blob = bytearray(cache.path_for(key(2)).read_bytes())
    else:
        header_length = struct.unpack_from("<I", blob, len(MAGIC))[0]
        start = len(MAGIC) + 4
        blob[start : start + header_length] = b"{" * header_length
    path.write_bytes(bytes(blob))
    with caplog.at_level(logging.WARNING):
        assert EmbeddingCache(tmp_path).get(key(1)) is None
    assert not path.exists()
    assert "embedding cache" in caplog.text
    assert EmbeddingCache(tmp_path).get(key(2)) is not None  # the others are untouched


def test_an_unwritable_folder_leaves_the_cache_usable(tmp_path, caplog) -> None:
    blocker = tmp_path / "not a folder"
    blocker.write_text("a file where the folder should be")
    cache = EmbeddingCache(blocker / "embeddings")
    with caplog.at_level(logging.WARNING):
        cache.put(key(1), embedding(1))
    assert "could not write" in caplog.text
    assert cache.get(key(1)) is not None  # still served from memory


def test_the_file_is_portable_json_and_raw_float32(tmp_path) -> None:
    """No pickle: a header any language can read and little-endian float32 data."""
    stored = embedding(5, model_id="vit_h-abc")
    blob = encode_entry(key(5), stored)
    assert blob.startswith(MAGIC)
    (length,) = struct.unpack_from("<I", blob, len(MAGIC))
    header = json.loads(blob[len(MAGIC) + 4 : len(MAGIC) + 4 + length])
    assert header["model_id"] == "vit_h-abc" and header["shape"] == [1, 256, 64, 64]
    data = np.frombuffer(blob[len(MAGIC) + 4 + length :], dtype="<f4")
    assert np.array_equal(data, stored.features.numpy().ravel())
    assert same(decode_entry(key(5), blob), stored)


# -- the app's lookup / store pair -----------------------------------------------------


@pytest.fixture(scope="module")
def segmenter() -> SamSegmenter:
    torch.manual_seed(0)
    return SamSegmenter(build_sam_vit_tiny_test())


@pytest.fixture
def photo(tmp_path, real_data):
    path = tmp_path / "dog.jpg"
    with Image.open(real_data / "images" / "dog.jpg") as image:
        image.convert("RGB").resize((320, 240)).save(path)
    return path


def test_a_stored_encoding_decodes_exactly_like_a_fresh_one(tmp_path, segmenter, photo):
    encoded = segmenter.encode(load_image(photo))
    store_encoding(EmbeddingCache(tmp_path / "cache"), segmenter, photo, encoded)
    restored = lookup_encoding(EmbeddingCache(tmp_path / "cache"), segmenter, photo)
    assert restored is not None and restored is not encoded
    prompts = PromptSet(points=((150.0, 120.0),), labels=(1,))
    fresh = segmenter.decode(encoded, prompts, with_single=True)
    again = segmenter.decode(restored, prompts, with_single=True)
    assert [c.index for c in again] == [c.index for c in fresh]
    for a, b in zip(again, fresh, strict=True):
        assert a.score == b.score and np.array_equal(a.low_res_logits, b.low_res_logits)


def test_another_model_never_gets_a_stored_embedding(tmp_path, segmenter, photo):
    cache = EmbeddingCache(tmp_path / "cache")
    store_encoding(cache, segmenter, photo, segmenter.encode(load_image(photo)))
    torch.manual_seed(1)
    other = SamSegmenter(build_sam_vit_tiny_test())
    assert other.model_id != segmenter.model_id
    assert lookup_encoding(cache, other, photo) is None
    # Even a file planted under the other model's key is refused (foreign model id).
    planted = cache.path_for(cache.key_for_file(photo, other.model_id))
    planted.write_bytes(cache.path_for(cache.key_for_file(photo, segmenter.model_id)).read_bytes())
    assert lookup_encoding(EmbeddingCache(tmp_path / "cache"), other, photo) is None


def test_engines_without_embeddings_and_missing_files_are_misses(tmp_path, photo):
    cache = EmbeddingCache(tmp_path / "cache")
    grabcut = GrabCutSegmenter()
    store_encoding(cache, grabcut, photo, grabcut.encode(load_image(photo)))
    assert lookup_encoding(cache, grabcut, photo) is None
    assert not (tmp_path / "cache").exists()
    torch.manual_seed(0)
    sam = SamSegmenter(build_sam_vit_tiny_test())
    assert lookup_encoding(cache, sam, tmp_path / "gone.jpg") is None
