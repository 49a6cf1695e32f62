"""The COCO output of a batch command (``auto``, ``segment-boxes``), resumable and
independent of the order in which workers finish.

Per-image results (:class:`ImageShapes`) are kept in ``<output>.partial.json``, a
project file (saved atomically at most every ``SAVE_INTERVAL_S`` seconds and when the
run stops for any reason), together with the run's settings, the images done and the
images that failed. A rerun with the same settings skips the images done. At the end the
COCO file is built afresh in the INPUT order: image ids 1..n in that order, annotation
ids in that order and, within an image, in the order the per-image function returned
them. So the file does not depend on which worker finished first, on how many workers
there were, or on how often the run was interrupted: a Ray run writes the same file as
a single-process run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sam_annotator.model.records import Category

SAVE_INTERVAL_S = 2.0


@dataclass(frozen=True)
class Shape:
    """One output annotation: COCO polygons (image pixels, keyhole holes) of a category,
    with extra COCO fields (scores)."""

    category_id: int
    polygons: list[list[float]]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageShapes:
    """The result of one image: its size (after EXIF orientation) and its shapes."""

    width: int
    height: int
    shapes: tuple[Shape, ...]


class CocoJob:
    """The partial state of one run and the final COCO file; see the module docstring."""

    def __init__(
        self,
        images_dir: Path,
        output: Path,
        state_key: str,
        settings: dict[str, Any],
        categories: Sequence[Category],
    ) -> None:
        self.images_dir = images_dir.resolve()
        self.output = output
        self.partial = output.with_name(output.name + ".partial.json")
        self._key = state_key
        self._settings = settings
        self._categories = list(categories)
        self._document = self._open()
        self._last_save = time.monotonic()

    @property
    def _state(self) -> dict[str, Any]:
        return self._document.extra[self._key]

    @property
    def done(self) -> set[str]:
        """Relative paths of the images whose result is kept."""
        return set(self._state["done"])

    @property
    def failed(self) -> dict[str, str]:
        """Relative path -> reason, for the images that could not be done."""
        return dict(self._state["failed"])

    def _open(self):
        from sam_annotator.io.project import ProjectFormatError, load_project
        from sam_annotator.model.document import Document

        document = None
        if self.partial.exists():
            try:
                document = load_project(self.partial)
            except ProjectFormatError as error:
                print(f"ignoring an unreadable partial file: {error}", file=sys.stderr)
            if document is not None and (
                document.extra.get(self._key, {}).get("settings") != self._settings
            ):
                print(
                    "the partial file was made with other settings: starting over",
                    file=sys.stderr,
                )
                document = None
        if document is None:
            document = Document(self.images_dir)
            for category in self._categories:
                document.insert_category(category)
            document.extra[self._key] = {"settings": self._settings, "done": [], "failed": {}}
        return document

    def add(self, relative: str, result: ImageShapes) -> None:
        """Keep the result of one image (a second result for it is ignored)."""
        document, state = self._document, self._state
        if relative in state["done"]:
            return
        state["failed"].pop(relative, None)
        record = document.image_by_path(relative) or document.add_image(
            relative, result.width, result.height
        )
        document.insert_annotations(
            document.make_annotation(record.id, s.category_id, s.polygons, extra=s.extra)
            for s in result.shapes
        )
        state["done"].append(relative)
        self._save_now_and_then()

    def fail(self, relative: str, reason: str) -> None:
        self._state["failed"][relative] = reason
        self._save_now_and_then()

    def _save_now_and_then(self) -> None:
        if time.monotonic() - self._last_save >= SAVE_INTERVAL_S:
            self.save()

    def save(self) -> None:
        """Write the partial file now (atomic)."""
        from sam_annotator.io.project import save_project

        save_project(self._document, self.partial)
        self._last_save = time.monotonic()

    def finish(self, order: Iterable[str]) -> tuple[int, int]:
        """Write the COCO file of the images done, in ``order`` (relative paths), and remove
        the partial file. Returns (images, annotations) written."""
        from sam_annotator.io.coco import write_coco
        from sam_annotator.model.document import Document

        source = self._document
        final = Document(self.images_dir)
        for category in source.categories():
            final.insert_category(category)
        done = self.done
        annotations = 0
        for relative in order:
            if relative not in done:
                continue
            image = source.image_by_path(relative)
            record = final.add_image(relative, image.width, image.height)
            final.insert_annotations(
                final.make_annotation(
                    record.id, a.category_id, a.segmentation, iscrowd=a.iscrowd, extra=a.extra
                )
                for a in source.annotations(image.id)
            )
            annotations += len(source.annotations(image.id))
        write_coco(final, self.output)
        self.partial.unlink(missing_ok=True)
        return len(final.images()), annotations


def run_coco_job(command: str, runner, work, items, make_job, *, what: str) -> int:
    """Start ``runner`` with ``work``, map it over the items not done yet, keep each result
    in the job, write the COCO file; progress, summary and exit status. Shared by
    ``auto`` and ``segment-boxes``."""
    from sam_annotator.commands.batch import (
        EXIT_DONE,
        EXIT_INCOMPLETE,
        EXIT_INTERRUPTED,
        UsageError,
        fail,
    )
    from sam_annotator.commands.runner import Failed, Progress, RunnerError, listed

    job = None
    try:
        try:
            runner.start(work)
        except (UsageError, RunnerError) as error:
            return fail(command, error)
        job = make_job()
        done = job.done
        todo = [item for item in items if item.relative not in done]
        print(
            f"{command} {runner.describe()}: {len(items)} images"
            + (f", resuming: {len(items) - len(todo)} already done" if done else ""),
            file=sys.stderr,
        )
        with Progress(len(items), done=len(items) - len(todo)) as progress:
            for item, outcome in runner.map(todo):
                if isinstance(outcome, Failed):
                    job.fail(item.relative, outcome.reason)
                    progress.message(f"skipped {item.relative}: {outcome.reason}")
                    progress.advance()
                else:
                    job.add(item.relative, outcome)
                    progress.advance(f"{item.relative}: {len(outcome.shapes)} {what}")
            rate = progress.rate
        failed = job.failed
        output = job.output
        images, annotations = job.finish(item.relative for item in items)
        job = None
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunnerError as error:
        print(f"sam-annotator {command}: stopped: {error}; run again to resume", file=sys.stderr)
        return EXIT_INCOMPLETE
    finally:
        if job is not None:
            job.save()  # what was done so far survives for the rerun
        runner.close()
    summary = f"wrote {output}: {annotations} {what} on {images} images"
    if rate:
        summary += f" ({rate:.2f} images/s)"
    if failed:
        summary += f"; {len(failed)} unreadable: {listed(failed)}"
    print(summary, file=sys.stderr)
    return EXIT_INCOMPLETE if failed else EXIT_DONE
