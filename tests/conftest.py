"""Test-wide settings.

Qt needs a platform plugin; a machine with no display aborts unless it is told to
render offscreen, so this is forced before anything imports Qt.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared test photos and COCO files beside the repository; skip where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present beside the repository")
    return SHARED_DATA


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    """A checkpoint file of the tiny test SAM with seed-0 random weights."""
    import torch

    from sam_core import build_sam_vit_tiny_test

    torch.manual_seed(0)
    path = tmp_path / "tiny_sam.pth"
    torch.save(build_sam_vit_tiny_test().state_dict(), path)
    return path
