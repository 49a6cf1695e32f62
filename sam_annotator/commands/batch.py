"""What the batch commands (``embed``, ``auto``, ``segment-boxes``) share: their
arguments, finding the folder's images and the checkpoint, loading the model for the
chosen device, choosing the runner (in this process or on Ray), and the exit status.

Exit status, the same rule for every batch command (a script can trust it):

- ``0`` every input image is done: in the cache (embed) or in the output file;
- ``1`` the run finished but some images are not done (unreadable, or their result could
  not be stored): they are listed, the rest is written;
- ``2`` bad arguments or inputs (nothing was done), raised as :class:`UsageError`;
- ``130`` interrupted: run the same command again to continue.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

EXIT_DONE = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad argument or input; the message says which."""


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """IMAGES_DIR, --checkpoint, --model, --device, --ray and --workers."""
    from sam_annotator.__main__ import add_model_arguments

    parser.add_argument("images_dir", help="folder of images (sub-folders included)")
    add_model_arguments(parser)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run on Ray (needs sam-annotator[cluster]): without ADDRESS a local Ray "
        "instance; 'auto' or 'ray://HOST:10001' an existing cluster. Paths must be the same "
        "on every node (a shared filesystem)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="with --ray: number of model-holding workers (default: one per GPU with "
        "--device cuda, else one per CPU of the cluster)",
    )


def fail(command: str, error: Exception | str) -> int:
    print(f"sam-annotator {command}: {error}", file=sys.stderr)
    return EXIT_USAGE


def images_and_checkpoint(args: argparse.Namespace) -> tuple[Path, list[Path], Path]:
    """(images folder, its images, the checkpoint file) for ``args``."""
    from sam_annotator.inference.checkpoints import CheckpointError, resolve_checkpoint
    from sam_annotator.io.images import list_images

    images_dir = Path(args.images_dir)
    try:
        images = list_images(images_dir, recursive=True)
        checkpoint = resolve_checkpoint(args.checkpoint, model_type=args.model)
    except (OSError, CheckpointError, ValueError) as error:
        raise UsageError(str(error)) from None
    if checkpoint is None:
        raise UsageError("no SAM checkpoint found: pass --checkpoint PATH")
    return images_dir, images, checkpoint


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to load the model: picklable, no model inside."""

    checkpoint: str
    model_type: str | None
    device: str

    @classmethod
    def from_args(cls, args: argparse.Namespace, checkpoint: Path) -> ModelSpec:
        return cls(str(checkpoint.resolve()), args.model, args.device)

    def load(self):
        """The SAM model on ``device``, with the app's process memory settings (many
        images are encoded in a row). Raises UsageError."""
        import torch

        from sam_annotator.inference.allocator import keep_freed_memory
        from sam_core import CheckpointError, load_sam

        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"--device {self.device}: this PyTorch has no CUDA device")
        keep_freed_memory()
        try:
            return load_sam(self.checkpoint, model_type=self.model_type, device=self.device)
        except (CheckpointError, RuntimeError) as error:
            raise UsageError(str(error)) from None


def make_runner(args: argparse.Namespace):
    """The runner ``args`` ask for: in this process, or Ray actors with ``--ray``."""
    from sam_annotator.commands.runner import InProcessRunner, RunnerError

    if args.ray is None:
        if args.workers is not None:
            raise UsageError("--workers needs --ray (without it, one model runs here)")
        return InProcessRunner()
    try:
        from sam_annotator.commands.distributed import RayRunner
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'sam-annotator[cluster]'") from None
    try:
        return RayRunner(
            args.ray or None, workers=args.workers, use_gpu=args.device.startswith("cuda")
        )
    except RunnerError as error:
        raise UsageError(str(error)) from None
