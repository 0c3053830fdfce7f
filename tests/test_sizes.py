"""Rooms stay small (issue 23 item 6): no module over 400 lines and no function over 80 lines
(docstring included) in the library's three parts."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("stviz_core", "backends", "adapters")
MODULE_LIMIT = 400
FUNCTION_LIMIT = 80


def library_modules() -> list:
    return sorted(p for part in PARTS for p in (ROOT / part).rglob("*.py"))


def long_functions(path: Path, limit: int = FUNCTION_LIMIT) -> list:
    """``(qualified name, lines)`` of every function or method of ``path`` longer than ``limit``."""
    found = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            name = getattr(child, "name", None)
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = child.end_lineno - child.lineno + 1
                if lines > limit:
                    found.append((prefix + name, lines))
                walk(child, prefix + name + ".")
            elif isinstance(child, ast.ClassDef):
                walk(child, prefix + name + ".")

    walk(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def test_the_library_has_modules_to_check():
    assert len(library_modules()) > 50


@pytest.mark.parametrize("part", PARTS)
def test_no_module_over_the_limit(part):
    too_long = {str(p.relative_to(ROOT)): n for p in library_modules()
                if p.relative_to(ROOT).parts[0] == part
                and (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_LIMIT}
    assert not too_long, f"modules over {MODULE_LIMIT} lines: {too_long}"


@pytest.mark.parametrize("part", PARTS)
def test_no_function_over_the_limit(part):
    too_long = {f"{p.relative_to(ROOT)}:{name}": n for p in library_modules()
                if p.relative_to(ROOT).parts[0] == part for name, n in long_functions(p)}
    assert not too_long, f"functions over {FUNCTION_LIMIT} lines: {too_long}"


def test_the_function_measure_counts_docstrings_and_nested_functions(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LIMIT))
    source = f'def outer():\n    """Doc."""\n{body}\n    def inner():\n        return 1\n'
    path = tmp_path / "m.py"
    path.write_text(source)
    assert long_functions(path) == [("outer", FUNCTION_LIMIT + 4)]
    assert long_functions(path, limit=1) == [("outer", FUNCTION_LIMIT + 4), ("outer.inner", 2)]


CROSS_CUTTING = {"test_layering.py", "test_packaging.py", "test_sizes.py", "test_examples.py"}


def test_the_tests_mirror_the_packages():
    """A test file lies in the folder of the package it tests (tests/stviz_core/run/ for
    stviz_core/run/, tests/benchmarks/ for benchmarks/); only the whole-project checks stay on top."""
    tests = ROOT / "tests"
    misplaced = []
    for path in tests.rglob("test_*.py"):
        folder = path.parent.relative_to(tests)
        if folder == Path("."):
            if path.name not in CROSS_CUTTING:
                misplaced.append(str(path.relative_to(ROOT)))
        elif not (ROOT / folder).is_dir() or not (path.parent / "__init__.py").exists():
            misplaced.append(str(path.relative_to(ROOT)))
    assert not misplaced, f"tests outside a folder that mirrors a package: {misplaced}"
