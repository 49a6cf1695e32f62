"""`sam-annotator embed`: fill the embedding cache for a folder, resumable, portable."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from sam_annotator.__main__ import main
from sam_annotator.inference.embedding_cache import EmbeddingCache, key_for, lookup_encoding
from sam_annotator.inference.sam_segmenter import SamSegmenter, load_sam_segmenter


def embed(folder, checkpoint, cache_dir, *extra) -> int:
    args = ["embed", str(folder), "--checkpoint", str(checkpoint), "--cache-dir", str(cache_dir)]
    return main([*args, *extra])


def test_every_image_lands_in_the_cache_and_the_app_finds_it(folder, tiny_checkpoint, tmp_path):
    cache_dir = tmp_path / "cache"
    assert embed(folder, tiny_checkpoint, cache_dir) == 0
    segmenter = load_sam_segmenter(tiny_checkpoint)
    images = sorted(folder.rglob("*.jpg"))
    assert len(list(cache_dir.iterdir())) == len(images) == 3
    cache = EmbeddingCache(cache_dir)
    for path in images:
        assert cache.contains(key_for(path, segmenter.model_id))
        restored = lookup_encoding(cache, segmenter, path)
        assert restored is not None
        with Image.open(path) as image:
            assert restored.embedding.original_size == (image.height, image.width)


def test_a_second_run_encodes_nothing(folder, tiny_checkpoint, tmp_path, monkeypatch, capsys):
    cache_dir = tmp_path / "cache"
    assert embed(folder, tiny_checkpoint, cache_dir) == 0
    capsys.readouterr()

    def no_encode(self, image):
        raise AssertionError("an image already in the cache was encoded again")

    monkeypatch.setattr(SamSegmenter, "encode", no_encode)
    assert embed(folder, tiny_checkpoint, cache_dir) == 0
    assert "0 encoded, 3 already cached" in capsys.readouterr().err


def test_an_interrupted_run_resumes(folder, tiny_checkpoint, tmp_path, monkeypatch, capsys):
    cache_dir = tmp_path / "cache"
    real_encode = SamSegmenter.encode
    calls = []

    def interrupted(self, image):
        calls.append(image.shape)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_encode(self, image)

    monkeypatch.setattr(SamSegmenter, "encode", interrupted)
    assert embed(folder, tiny_checkpoint, cache_dir) == 130
    assert "run the same command again" in capsys.readouterr().err
    assert len(list(cache_dir.glob("*.samemb"))) == 1
    monkeypatch.setattr(SamSegmenter, "encode", real_encode)
    assert embed(folder, tiny_checkpoint, cache_dir) == 0
    assert "2 encoded, 1 already cached" in capsys.readouterr().err
    assert not [p for p in cache_dir.iterdir() if not p.name.endswith(".samemb")]


def test_unreadable_images_are_listed_and_the_rest_is_cached(
    folder, tiny_checkpoint, tmp_path, capsys
):
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert embed(folder, tiny_checkpoint, tmp_path / "cache") == 1
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "3 encoded" in err
    assert len(list((tmp_path / "cache").glob("*.samemb"))) == 3


def test_the_cache_made_elsewhere_serves_another_machine(folder, tiny_checkpoint, tmp_path):
    """Portable: copy the cache folder and the checkpoint; the keys still match."""
    assert embed(folder, tiny_checkpoint, tmp_path / "server_cache") == 0
    laptop = tmp_path / "laptop"
    shutil.copytree(tmp_path / "server_cache", laptop / "cache")
    shutil.copytree(folder, laptop / "images")
    shutil.copy(tiny_checkpoint, laptop / "model.pth")
    segmenter = load_sam_segmenter(laptop / "model.pth")
    cache = EmbeddingCache(laptop / "cache")
    for path in (laptop / "images").rglob("*.jpg"):
        assert lookup_encoding(cache, segmenter, path) is not None
    assert cache.stats().misses == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "vit_h"], "vit_h"),
        (["--max-cache-gb", "0"], "--max-cache-gb"),
        (["--device", "cuda"], "CUDA"),
    ],
)
def test_bad_arguments_say_what_is_wrong(
    folder, tiny_checkpoint, tmp_path, capsys, arguments, message
):
    if arguments[0] == "--device" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert embed(folder, tiny_checkpoint, tmp_path / "cache", *arguments) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_a_missing_folder_or_checkpoint_is_refused(tmp_path, tiny_checkpoint, capsys) -> None:
    assert embed(tmp_path / "nowhere", tiny_checkpoint, tmp_path / "cache") == 2
    assert "nowhere" in capsys.readouterr().err
    assert embed(tmp_path, tmp_path / "missing.pth", tmp_path / "cache") == 2
    assert "missing.pth" in capsys.readouterr().err


def test_by_default_it_fills_the_folder_the_app_reads(
    folder, tiny_checkpoint, tmp_path, monkeypatch
):
    from sam_annotator.config import HOME_ENV, AppDirs

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    assert main(["embed", str(folder), "--checkpoint", str(tiny_checkpoint)]) == 0
    assert len(list(AppDirs.under(tmp_path / "home").embeddings.glob("*.samemb"))) == 3


def test_an_unwritable_cache_folder_is_refused_before_any_work(
    folder, tiny_checkpoint, tmp_path, capsys
):
    from tests.filesystems import read_only_copy

    with read_only_copy([], tmp_path / "ro") as read_only:
        if not read_only:
            pytest.skip("no way to make a read-only folder here")
        assert embed(folder, tiny_checkpoint, tmp_path / "ro" / "cache") == 2
    err = capsys.readouterr().err
    assert "cannot write to the cache folder" in err and "encoded" not in err


def test_a_cache_too_small_for_the_folder_is_an_incomplete_run(
    folder, tiny_checkpoint, tmp_path, capsys
):
    """Exit 1 (not 0) when entries were evicted by the bound: a script can trust 0."""
    assert embed(folder, tiny_checkpoint, tmp_path / "cache", "--max-cache-gb", "0.000001") == 1
    err = capsys.readouterr().err
    assert "0 encoded" in err and "3 unreadable or not stored" in err
    assert all(name in err for name in ("0_dog.jpg", "1_groceries.jpg", "2_truck.jpg"))


def test_sam2_embeddings_are_cached_with_their_levels_and_auto_runs_on_sam2(
    folder, tiny_sam2_checkpoint, tmp_path
):
    cache_dir = tmp_path / "cache"
    assert embed(folder, tiny_sam2_checkpoint, cache_dir) == 0
    segmenter = load_sam_segmenter(tiny_sam2_checkpoint)
    cache = EmbeddingCache(cache_dir)
    for path in sorted(folder.rglob("*.jpg")):
        restored = lookup_encoding(cache, segmenter, path)
        assert restored is not None and len(restored.embedding.high_res_features) == 2
    out = tmp_path / "proposals.json"
    code = main(["auto", str(folder), "-o", str(out), "--checkpoint", str(tiny_sam2_checkpoint),
                 "--points-per-side", "2", "--pred-iou-thresh", "0",
                 "--stability-score-thresh", "0"])  # fmt: skip
    assert code == 0
    assert len(json.loads(out.read_text())["images"]) == 3
