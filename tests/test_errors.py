"""Error messages point somewhere real: every install hint names an extra that exists."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from fteval.errors import MissingDependencyError

SRC = Path(__file__).resolve().parents[1] / "src" / "fteval"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _extras() -> set[str]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    return set(data["project"]["optional-dependencies"])


def _named_extras() -> list[tuple[str, int, str | None]]:
    """(file, line, extra) of every MissingDependencyError(...) and require(...) call."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id == "MissingDependencyError":
                position, default = 1, None
            elif node.func.id == "require":
                position, default = 3, "metrics"
            else:
                continue
            extra: ast.expr | None = None
            if len(node.args) > position:
                extra = node.args[position]
            for keyword in node.keywords:
                if keyword.arg == "extra":
                    extra = keyword.value
            if extra is not None and not isinstance(extra, ast.Constant):
                continue  # passed on from a caller, whose call is checked itself
            value = default if extra is None else extra.value
            found.append((str(path.relative_to(SRC)), node.lineno, value))
    return found


def test_every_install_hint_names_an_extra_that_exists():
    extras = _extras()
    named = _named_extras()
    assert len(named) > 20  # the scan sees the calls
    wrong = [(f, line, e) for f, line, e in named if e is not None and e not in extras]
    assert wrong == [], f"extras not in pyproject ({sorted(extras)}): {wrong}"


def test_a_core_dependency_hint_names_the_package_not_an_extra():
    assert str(MissingDependencyError("torch", None, "the hf backend")) == (
        "the hf backend needs the 'torch' package: pip install 'torch'"
    )
    assert "pip install 'fteval[data]'" in str(MissingDependencyError("pyarrow", "data", "x"))
