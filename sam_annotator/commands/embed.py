"""``sam-annotator embed IMAGES_DIR``: precompute the embedding cache for a folder.

Every image of the folder (sub-folders included) is encoded once by SAM and stored in
the embedding cache (``sam_annotator.inference.embedding_cache``) under a key of the
image's bytes, the model's weights and the preprocessing version: the app then opens
those images at once. Resumable: images already in the cache are skipped, and each
entry is written atomically, so an interrupted run continues where it stopped. Cache
files are portable: encode on a GPU server (``--device cuda``), copy the cache folder
(``--cache-dir``) to the laptops that label the same files with the same checkpoint.

Progress goes to stderr, one updating line. Exit status: 0 when every image is in the
cache, 1 when some could not be read (they are listed), 2 for bad arguments, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sam_annotator.commands.batch import add_batch_arguments

    add_batch_arguments(parser)
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="embedding cache folder (default: the app's, in the user cache folder)",
    )
    parser.add_argument(
        "--max-cache-gb",
        type=float,
        default=None,
        help="size bound of the cache folder in GiB; least recently used entries are "
        "deleted beyond it (default: the app's bound, 4 GiB)",
    )


def run(args: argparse.Namespace) -> int:
    from sam_annotator.commands.batch import UsageError, fail, images_and_checkpoint, load_model
    from sam_annotator.inference.embedding_cache import (
        DEFAULT_MAX_DISK_BYTES,
        EmbeddingCache,
        default_cache_dir,
    )
    from sam_annotator.inference.sam_segmenter import SamSegmenter

    if args.max_cache_gb is not None and args.max_cache_gb <= 0:
        return fail("embed", "--max-cache-gb must be positive")
    try:
        images_dir, images, checkpoint = images_and_checkpoint(args)
        segmenter = SamSegmenter(load_model(args, checkpoint))
    except UsageError as error:
        return fail("embed", error)
    max_bytes = (
        DEFAULT_MAX_DISK_BYTES if args.max_cache_gb is None else int(args.max_cache_gb * 2**30)
    )
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    cache = EmbeddingCache(cache_dir, max_disk_bytes=max_bytes, max_memory_bytes=0)
    print(
        f"{segmenter.name} ({segmenter.model_id}) on {args.device}, {len(images)} images, "
        f"cache {cache_dir}",
        file=sys.stderr,
    )
    try:
        return embed_folder(cache, segmenter, images_dir, images)
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130


def embed_folder(cache, segmenter, images_dir: Path, images: list[Path]) -> int:
    """Encode every image of ``images`` missing from ``cache``; progress on stderr."""
    from sam_annotator.inference.embedding_cache import key_for
    from sam_annotator.io.images import ImageLoadError, load_image

    progress = _Progress(len(images))
    failed: dict[str, str] = {}
    for number, path in enumerate(images, start=1):
        relative = path.relative_to(images_dir).as_posix()
        try:
            key = key_for(path, segmenter.model_id)
            if cache.contains(key):
                progress.cached += 1
                progress.show(number, f"cached {relative}")
                continue
            progress.show(number, f"encoding {relative}")
            start = time.perf_counter()
            cache.put(key, segmenter.encode(load_image(path)).embedding)
        except (ImageLoadError, OSError) as error:
            reason = error.reason if isinstance(error, ImageLoadError) else str(error)
            failed[relative] = reason
            progress.message(f"skipped {relative}: {reason}")
            continue
        progress.seconds.append(time.perf_counter() - start)
    progress.show(len(images), "done")
    progress.finish()
    if cache.stats().evicted:
        progress.message(
            "warning: the cache bound was reached and older entries were deleted; raise "
            "--max-cache-gb to keep the whole folder"
        )
    summary = f"{len(progress.seconds)} encoded, {progress.cached} already cached"
    if failed:
        summary += f", {len(failed)} unreadable: " + ", ".join(sorted(failed))
    progress.message(summary)
    return 1 if failed else 0


class _Progress:
    """One progress line on stderr, rewritten in place with a carriage return."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.cached = 0
        self.seconds: list[float] = []  # per encoded image
        self._width = 0

    def show(self, number: int, what: str) -> None:
        line = f"[{number}/{self.total}] {len(self.seconds)} encoded, {self.cached} cached"
        if self.seconds:
            per_image = sum(self.seconds) / len(self.seconds)
            remaining = per_image * max(0, self.total - number)
            line += f", {per_image:.1f} s/image, ~{_duration(remaining)} left"
        self._write(f"{line}: {what}", end="")

    def finish(self) -> None:
        """Keep the last progress line and move below it."""
        print(file=sys.stderr, flush=True)
        self._width = 0

    def message(self, text: str) -> None:
        """A line of its own (the progress line continues below it)."""
        self._write(text, end="\n")

    def _write(self, text: str, end: str) -> None:
        padding = " " * max(0, self._width - len(text))
        print(f"\r{text}{padding}", end=end, file=sys.stderr, flush=True)
        self._width = 0 if end else len(text)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
