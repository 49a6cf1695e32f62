"""Print the keyboard-shortcut table of README.md from the action table (qt/actions.py).

    .venv/bin/python scripts/shortcuts_table.py

tests/test_readme.py checks that README.md contains exactly this table.
"""

from __future__ import annotations

from sam_annotator.qt.actions import ACTIONS, Keymap
from sam_annotator.qt.dialogs.shortcuts import MOUSE_GESTURES


def _numbered(action_id: str) -> tuple[str, int] | None:
    prefix, _, number = action_id.rpartition("_")
    return (prefix, int(number)) if number.isdigit() else None


def shortcuts_markdown() -> str:
    """The Markdown table; numbered actions (Candidate 1..4, Category 1..9) share a row."""
    keymap = Keymap()
    lines = ["| Action | Keys | Menu |", "|---|---|---|"]
    done: set[str] = set()
    for spec in ACTIONS:
        numbered = _numbered(spec.id)
        if numbered is not None:
            if numbered[0] in done:
                continue
            done.add(numbered[0])
            group = [s for s in ACTIONS if (_numbered(s.id) or ("",))[0] == numbered[0]]
            first, last = group[0].shortcuts[0], group[-1].shortcuts[0]
            name = spec.text.replace("&", "").rsplit(" ", 1)[0]
            lines.append(f"| {name} 1–{len(group)} | `{first}` … `{last}` | {spec.menu} |")
            continue
        keys = " / ".join(f"`{key}`" for key in keymap.shortcuts(spec.id)) or "—"
        lines.append(f"| {spec.text.replace('&', '').rstrip('…')} | {keys} | {spec.menu} |")
    lines += ["", "| Mouse | Does |", "|---|---|"]
    lines += [f"| {gesture} | {what} |" for gesture, what in MOUSE_GESTURES]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(shortcuts_markdown(), end="")
