"""The library's code stays in small pieces: no function over 60 lines of code and no module
over 500 lines under ``jaxvision/`` (docstrings, comments and blank lines aside for functions).
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "jaxvision"
MAX_FUNCTION_CODE_LINES = 60
MAX_MODULE_LINES = 500
MODULES = sorted(ROOT.rglob("*.py"))


def _docstring_lines(tree: ast.AST) -> set[int]:
    """Line numbers of every docstring (module, class, function)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0] if body else None
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def _code_lines(source: str) -> set[int]:
    """Line numbers holding a token that is not a comment, newline or indentation."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines


def function_lengths(path: Path) -> dict[str, int]:
    """name -> lines of code of every function of a module (nested ones counted apart too)."""
    source = path.read_text()
    tree = ast.parse(source)
    code = _code_lines(source) - _docstring_lines(tree)
    name = path.relative_to(ROOT.parent) if path.is_relative_to(ROOT.parent) else path.name
    return {
        f"{name}:{node.lineno} {node.name}": len(
            code & set(range(node.lineno, node.end_lineno + 1))
        )
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_the_modules_are_found():
    assert len(MODULES) > 50


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_functions_and_modules_are_small(path):
    too_long = {k: v for k, v in function_lengths(path).items() if v > MAX_FUNCTION_CODE_LINES}
    assert not too_long, f"functions over {MAX_FUNCTION_CODE_LINES} lines of code: {too_long}"
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path} has {lines} lines"


def test_the_counter_counts_code_not_docstrings_or_comments(tmp_path):
    path = tmp_path / "probe.py"
    body = (
        '    """Doc\n\n    more doc."""\n    # a comment\n\n'
        "    x = 1\n    return (x,\n            2)\n"
    )
    path.write_text(f"def f():\n{body}")
    (length,) = function_lengths(path).values()
    assert length == 4  # def, x = 1, return (x, / 2)
