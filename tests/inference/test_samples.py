"""The bundled sample photos (``make run``): real RGB images, each listed with its source."""

from __future__ import annotations

import hashlib
import re

from PIL import Image, ImageOps

from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "resources" / "samples"
ROW = re.compile(r"^\| (\S+) \| (\d+)×(\d+) \| ([0-9a-f]{64}) \| (.+) \| (.+) \|$")


def table() -> dict[str, tuple[int, int, str, str]]:
    rows = {}
    for line in (SAMPLES / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            name, w, h, digest, _source, licence = match.groups()
            rows[name] = (int(w), int(h), digest, licence)
    return rows


def test_every_sample_is_listed_with_its_source_and_the_list_has_no_ghosts() -> None:
    files = sorted(p.name for p in SAMPLES.iterdir() if p.name != "SOURCES.md")
    assert 4 <= len(files) <= 6
    assert sorted(table()) == files


def test_every_sample_is_the_listed_rgb_image() -> None:
    for name, (width, height, digest, licence) in table().items():
        path = SAMPLES / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name
        assert licence.strip() in {"Apache-2.0", "CC0", "public domain (NASA)"}, name
        with Image.open(path) as image:
            assert image.mode == "RGB", name
            shown = ImageOps.exif_transpose(image)
            shown.load()  # decodes the whole file
            assert shown.size == (width, height), name


def test_samples_stay_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.iterdir())
    assert total < 3_000_000
