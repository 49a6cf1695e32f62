"""``sam-annotator embed IMAGES_DIR``: precompute the embedding cache for a folder.

Every image of the folder (sub-folders included) is encoded once by SAM and stored in
the embedding cache (``sam_annotator.inference.embedding_cache``) under a key of the
image's bytes, the model's weights and the preprocessing version: the app then opens
those images at once. Resumable: images already in the cache are skipped, and each
entry is written atomically, so an interrupted run continues where it stopped. Cache
files are portable: encode on a GPU server (``--device cuda``), copy the cache folder
(``--cache-dir``) to the laptops that label the same files with the same checkpoint.
With ``--ray`` the workers write the entries themselves: the cache folder must then be
the same path on every node (a shared filesystem).

Progress on stderr (done / total, rate, ETA), messages on lines of their own, a summary
at the end. Exit status (``commands/batch.py``): 0 when every image is in the cache at
the end, 1 when some are not (unreadable, not writable, or evicted by the cache bound:
they are listed), 2 for bad arguments (also an unwritable cache folder), 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Embedded:
    """The result of one image: its cache key, and whether it was encoded now."""

    key: str
    encoded: bool


@dataclass(frozen=True)
class EmbedWork:
    """The work factory of ``embed`` (picklable: paths and numbers)."""

    model: object  # batch.ModelSpec
    cache_dir: str
    max_cache_bytes: int

    def __call__(self):
        from functools import partial

        from sam_annotator.inference.embedding_cache import EmbeddingCache
        from sam_annotator.inference.sam_segmenter import SamSegmenter

        segmenter = SamSegmenter(self.model.load())
        cache = EmbeddingCache(
            self.cache_dir, max_disk_bytes=self.max_cache_bytes, max_memory_bytes=0
        )
        return partial(embed_image, segmenter, cache)


def embed_image(segmenter, cache, item) -> Embedded:
    """Put the embedding of ``item``'s image in ``cache`` unless it is there already.

    Raises ImageFailed when the image cannot be read or its entry cannot be written.
    """
    from sam_annotator.commands.runner import ImageFailed
    from sam_annotator.io.images import ImageLoadError, load_image

    try:
        key = cache.key_for_file(item.path, segmenter.model_id)
        if cache.contains(key):
            return Embedded(key, encoded=False)
        image = load_image(item.path)
    except ImageLoadError as error:
        raise ImageFailed(error.reason) from None
    except OSError as error:
        raise ImageFailed(error.strerror or str(error)) from None
    embedding = segmenter.encode(image).embedding
    try:
        cache.write_file(key, embedding)
    except OSError as error:
        raise ImageFailed(f"not written to the cache: {error}") from None
    return Embedded(key, encoded=True)


def run(args: argparse.Namespace) -> int:
    from sam_annotator.commands.batch import (
        EXIT_INTERRUPTED,
        ModelSpec,
        UsageError,
        fail,
        images_and_checkpoint,
        make_runner,
    )
    from sam_annotator.commands.runner import RunnerError, WorkItem
    from sam_annotator.inference.embedding_cache import DEFAULT_MAX_DISK_BYTES, default_cache_dir

    if args.max_cache_gb is not None and args.max_cache_gb <= 0:
        return fail("embed", "--max-cache-gb must be positive")
    max_bytes = (
        DEFAULT_MAX_DISK_BYTES if args.max_cache_gb is None else int(args.max_cache_gb * 2**30)
    )
    cache_dir = (Path(args.cache_dir) if args.cache_dir else default_cache_dir()).absolute()
    try:
        images_dir, images, checkpoint = images_and_checkpoint(args)
        work = EmbedWork(ModelSpec.from_args(args, checkpoint), str(cache_dir), max_bytes)
        runner = make_runner(args)
    except UsageError as error:
        return fail("embed", error)
    try:
        try:
            runner.start(work)
            _check_writable(cache_dir)
        except (UsageError, RunnerError) as error:
            return fail("embed", error)
        print(
            f"{Path(checkpoint).name} on {args.device} {runner.describe()}: {len(images)} "
            f"images, cache {cache_dir}",
            file=sys.stderr,
        )
        items = [
            WorkItem(i, path.relative_to(images_dir).as_posix(), str(path.absolute()))
            for i, path in enumerate(images)
        ]
        return embed_items(runner, items, cache_dir, max_bytes)
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunnerError as error:
        print(f"sam-annotator embed: stopped: {error}; run again to resume", file=sys.stderr)
        return 1
    finally:
        runner.close()


def _check_writable(cache_dir: Path) -> None:
    """Raise UsageError unless a file can be created in ``cache_dir`` (made if missing)."""
    from sam_annotator.commands.batch import UsageError

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=cache_dir, prefix=".probe-", suffix=".tmp")
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        raise UsageError(
            f"cannot write to the cache folder {cache_dir}: {error.strerror or error}"
        ) from None


def embed_items(runner, items, cache_dir: Path, max_bytes: int) -> int:
    """Run the embed work over ``items``; progress, summary and exit status."""
    from sam_annotator.commands.batch import EXIT_DONE, EXIT_INCOMPLETE
    from sam_annotator.commands.runner import Failed, Progress, listed
    from sam_annotator.inference.embedding_cache import EmbeddingCache

    failed: dict[str, str] = {}
    keys: dict[str, str] = {}
    encoded = cached = 0
    with Progress(len(items)) as progress:
        for item, outcome in runner.map(items):
            if isinstance(outcome, Failed):
                failed[item.relative] = outcome.reason
                progress.message(f"skipped {item.relative}: {outcome.reason}")
                progress.advance()
                continue
            keys[item.relative] = outcome.key
            encoded += outcome.encoded
            cached += not outcome.encoded
            progress.advance(f"{encoded} encoded, {cached} cached")
        rate = progress.rate
    # The end state is what counts: an entry may have been evicted by the size bound
    # after it was written (by this run's workers or another process).
    cache = EmbeddingCache(cache_dir, max_disk_bytes=max_bytes, max_memory_bytes=0)
    evicted = sorted(relative for relative, key in keys.items() if not cache.contains(key))
    summary = f"{encoded} encoded, {cached} already cached"
    if rate:
        summary += f" ({rate:.2f} images/s)"
    if failed:
        summary += f"; {len(failed)} unreadable or not stored: {listed(failed)}"
    if evicted:
        summary += (
            f"; {len(evicted)} no longer in the cache: the bound ({max_bytes / 2**30:.2f} GiB) "
            f"is too small for this folder, raise --max-cache-gb: {listed(evicted)}"
        )
    print(summary, file=sys.stderr)
    return EXIT_INCOMPLETE if failed or evicted else EXIT_DONE
