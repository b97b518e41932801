"""No ``bool()`` of user text anywhere: ``bool("false")`` is True.

A boolean a user gives (a task setting, a metric option, a config key, a file's field)
goes through the one option rule (``fteval._util.options.parse_bool``: true/false,
yes/no, 1/0, else an error). This test walks every module's syntax tree for ``bool(X)``
where X is read from a user-facing source: a subscript or ``.get`` of settings, options,
arguments, a config, keyword arguments, fields, a row, the environment — or text.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fteval"
# names whose values come from users: flags, task and metric options, configs, data rows
USER_SOURCES = frozenset(
    {
        "settings", "options", "option", "args", "kwargs", "config", "spec", "params",
        "fields", "data", "environ", "overrides", "values", "value", "text", "word",
        "flag", "flags", "given", "raw", "setting",
    }
)  # fmt: skip


def _chain(node: ast.expr) -> list[str]:
    """The names along ``a.b["c"].get("d")``: ``["get", "b", "a"]`` (innermost last)."""
    names = []
    while True:
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
            if isinstance(node.func, ast.Name):
                names.append(node.func.id)
                return names
            node = node.func
        elif isinstance(node, ast.Name):
            names.append(node.id)
            return names
        else:
            return names


def _user_text(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    return any(
        name in USER_SOURCES or name in ("getenv", "input") or name.endswith(("_text", "_option"))
        for name in _chain(node)
    )


def bool_of_user_text(source: str) -> list[tuple[int, str]]:
    """(line, expression) of every ``bool(X)`` with X from a user-facing source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "bool"
            and len(node.args) == 1
            and _user_text(node.args[0])
        ):
            found.append((node.lineno, ast.unparse(node)))
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        'bool(settings["allow_unsafe"])',
        'bool(kwargs.get("do_sample", False))',
        "bool(args.flag)",
        'bool(os.environ.get("X"))',
        'bool("false")',
        'bool(row.fields["label"])',
        "bool(value)",
    ],
)
def test_the_detector_flags_bool_of_user_text(snippet):
    assert bool_of_user_text(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    ["bool(result.passed)", "bool(size >= abs(delta))", "bool(torch.isfinite(x).all())"],
)
def test_the_detector_lets_computed_booleans_through(snippet):
    assert not bool_of_user_text(snippet), snippet


def test_no_module_applies_bool_to_user_text():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for line, expression in bool_of_user_text(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(SRC)}:{line}: {expression}")
    assert not offenders, "use fteval._util.options.parse_bool:\n" + "\n".join(offenders)
