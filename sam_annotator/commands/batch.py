"""What the batch commands (``embed``, ``auto``) share: their arguments, finding the
folder's images and the checkpoint, and loading the model for the chosen device.

Errors in the user's arguments raise :class:`UsageError`; the command prints it and exits
with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class UsageError(Exception):
    """A bad argument or input; the message says which."""


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """IMAGES_DIR, --checkpoint, --model and --device."""
    from sam_annotator.__main__ import add_model_arguments

    parser.add_argument("images_dir", help="folder of images (sub-folders included)")
    add_model_arguments(parser)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")


def fail(command: str, error: Exception | str) -> int:
    print(f"sam-annotator {command}: {error}", file=sys.stderr)
    return 2


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


def load_model(args: argparse.Namespace, checkpoint: Path):
    """The SAM model of ``checkpoint`` on ``args.device``, with the app's process memory
    settings (many images are encoded in a row)."""
    import torch

    from sam_annotator.inference.allocator import keep_freed_memory
    from sam_core import CheckpointError, load_sam

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: this PyTorch has no CUDA device")
    keep_freed_memory()
    try:
        return load_sam(checkpoint, model_type=args.model, device=args.device)
    except (CheckpointError, RuntimeError) as error:
        raise UsageError(str(error)) from None
