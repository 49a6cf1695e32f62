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
TEST_DATA = REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Real photos and COCO files carried by the repository (tests/data, see its SOURCES.md)."""
    return TEST_DATA


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    """A checkpoint file of the tiny test SAM with seed-0 random weights."""
    import torch

    from sam_core import build_sam_vit_tiny_test

    torch.manual_seed(0)
    path = tmp_path / "tiny_sam.pth"
    torch.save(build_sam_vit_tiny_test().state_dict(), path)
    return path


@pytest.fixture
def tiny_sam2_checkpoint(tmp_path) -> Path:
    """A checkpoint file of the tiny test SAM 2 (seed-0 random weights), saved as the
    official releases are: ``{"model": state_dict}``."""
    import torch

    from sam_core import build_sam2

    torch.manual_seed(0)
    path = tmp_path / "tiny_sam2.pt"
    torch.save({"model": build_sam2("sam2_tiny_test").state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def tracking_sam2_checkpoint(tmp_path_factory) -> Path:
    """A SAM 2.1 checkpoint with the video parts (tiny test trunk, seed-0 random weights
    that make outputs differ from frame to frame), saved as the releases are. Its object
    score head says "present" everywhere, so propagation answers every frame."""
    import torch

    from sam_core.sam2.specs import SAM2_SPECS
    from sam_core.sam2.tracker import Sam2Tracker

    torch.manual_seed(0)
    model = Sam2Tracker(SAM2_SPECS["sam2_tiny_test"], "sam2_tiny_test", version_2_1=True)
    state_dict = model.state_dict()
    with torch.no_grad():
        for tensor in state_dict.values():
            if tensor.is_floating_point():
                tensor.normal_(0, 0.05)
        head = [k for k in state_dict if k.startswith("sam_mask_decoder.pred_obj_score_head")]
        state_dict[sorted(k for k in head if k.endswith("bias"))[-1]].fill_(10.0)
    path = tmp_path_factory.mktemp("tracking") / "sam2.1_tracking_test.pt"
    torch.save({"model": state_dict}, path)
    return path
