"""README.md stays true: its first commands, and its shortcut table matches the code."""

from __future__ import annotations

import re
import sys

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_setup_commands() -> None:
    first_block = re.search(r"```(?:bash)?\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_shortcut_table_matches_the_action_table() -> None:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        from shortcuts_table import shortcuts_markdown
    finally:
        sys.path.pop(0)
    assert shortcuts_markdown() in README, "run scripts/shortcuts_table.py and paste it"
