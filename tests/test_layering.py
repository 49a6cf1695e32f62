"""The pure layers never import Qt (ARCHITECTURE.md: arrows point down only)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PURE_PACKAGES = [
    "sam_core",
    "sam_annotator.model",
    "sam_annotator.io",
    "sam_annotator.inference",
]


def _all_modules(package: str) -> list[str]:
    base = REPO_ROOT.joinpath(*package.split("."))
    names = [package]
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(REPO_ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return sorted(set(names))


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_never_imports_qt(package: str) -> None:
    modules = _all_modules(package)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{package} imported Qt: {result.stdout.strip()}"


#: Which packages each layer may not import (statically, anywhere in its modules). The app
#: reaches models only through the Segmenter seam (inference/); the model layer holds the
#: value types every layer shares and imports none of the layers that use them.
FORBIDDEN_IMPORTS = {
    "sam_annotator.qt": ("sam_core",),
    "sam_annotator.model": ("sam_core", "sam_annotator.inference", "sam_annotator.qt"),
    "sam_annotator.io": ("sam_core", "sam_annotator.inference", "sam_annotator.qt"),
    "sam_annotator.inference": ("sam_annotator.qt", "sam_annotator.commands"),
    "sam_core": ("sam_annotator",),
}


def _imported_names(path) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_no_layer_imports_a_layer_it_must_not(package: str) -> None:
    base = REPO_ROOT.joinpath(*package.split("."))
    offences = []
    for path in sorted(base.rglob("*.py")):
        for name in sorted(_imported_names(path)):
            for forbidden in FORBIDDEN_IMPORTS[package]:
                if name == forbidden or name.startswith(forbidden + "."):
                    offences.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    assert offences == []
