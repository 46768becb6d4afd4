"""The core runs headless: nothing below desktop/ui may import Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ["desktop/models", "desktop/sync", "desktop/workspace.py", "desktop/intake.py", "desktop/cli.py"]


def _core_files() -> list[Path]:
    files: list[Path] = []
    for entry in CORE:
        path = ROOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return [f for f in files if f.exists()]


def test_no_qt_import_in_core_sources():
    offenders = []
    for path in _core_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {"PySide6", "shiboken6"}:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert offenders == []


def test_core_imports_without_loading_qt():
    code = (
        "import sys, desktop.workspace, desktop.cli, desktop.intake, desktop.models.tables;"
        "import desktop.sync;"
        "bad=[m for m in sys.modules if m.startswith(('PySide6','shiboken6'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
