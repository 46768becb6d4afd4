"""The core runs headless: nothing below desktop/ui may import Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ["desktop/models", "desktop/sync", "desktop/workspace.py", "desktop/intake.py", "desktop/cli.py",
        "desktop/viewer_handoff.py", "desktop/repair.py"]


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


def _import_cycles() -> list[list[str]]:
    """Strongly connected groups of desktop modules, type-checking imports included."""
    import grimp

    graph = grimp.build_graph("desktop", exclude_type_checking_imports=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(module: str) -> None:
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in graph.modules:
                continue
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles():
    assert _import_cycles() == []


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal that is not a docstring."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_only_the_registry_names_the_server_kinds():
    """Kinds are chosen through the registry, never by comparing their names elsewhere: a
    kind's name appears only in the registry and in the kind's own package."""
    from desktop.sync import registry

    offenders = []
    for path in sorted((ROOT / "desktop").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel == Path("desktop/sync/registry.py"):
            continue
        for line, text in _string_constants(path):
            for name in registry.names():
                own = rel.parts[:3] == ("desktop", "sync", name)
                if text == name and not own:
                    offenders.append(f"{rel}:{line} names {name!r}")
    assert offenders == []


def test_no_command_line_in_the_core_or_the_window():
    """The core's messages and the window's words never tell a person to type a command:
    only the command line adds its own commands and flags."""
    import re

    command = re.compile(r"casedesk (login|logout|sync|pending|conflicts|resolve|retry|"
                         r"discard|cases|attach)\b|(^|\s)--[a-z]")
    places = ["desktop/ui", "desktop/sync", "desktop/workspace.py", "desktop/intake.py",
              "desktop/models", "desktop/datafolder.py", "desktop/errors.py", "desktop/repair.py"]
    offenders = []
    for entry in places:
        path = ROOT / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            if "migrations" in file.parts:
                continue
            for line, text in _string_constants(file):
                if command.search(text):
                    offenders.append(f"{file.relative_to(ROOT)}:{line}: {text[:60]!r}")
    assert offenders == []
