"""The command line answers --help instantly: no torch or Qt import on that path."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_help_imports_neither_torch_nor_qt() -> None:
    code = (
        "import sys\n"
        "from sam_annotator.__main__ import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('torch', 'PySide6', 'cv2') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert "usage: sam-annotator" in result.stdout
    assert "HEAVY=\n" in result.stdout
