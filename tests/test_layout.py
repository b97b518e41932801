"""The package's layers: imports only go down (see ``fteval._layout_check``)."""

from __future__ import annotations

import ast
import textwrap

from fteval import _layout_check
from fteval._layout_check import LAYERS, PACKAGE_ROOT, layer_of, violations


def test_no_module_imports_a_higher_layer_and_no_package_cycles():
    assert violations() == []


def test_every_top_level_module_and_package_has_a_layer():
    names = {p.name.removesuffix(".py") for p in PACKAGE_ROOT.iterdir()}
    names = {n for n in names if not n.startswith(".") and n not in ("py.typed", "__pycache__")}
    placed = {member for layer in LAYERS for member in layer}
    assert names <= placed, names - placed


def test_the_top_of_the_package_holds_only_entry_points_and_the_edges():
    modules = sorted(p.name for p in PACKAGE_ROOT.glob("*.py"))
    assert modules == [
        "__init__.py",
        "__main__.py",
        "_layout_check.py",
        "api.py",
        "config.py",
        "errors.py",
        "results.py",
        "version.py",
    ]


def test_an_upward_import_would_be_reported(tmp_path, monkeypatch):
    # a lower layer (records) importing a higher one (pipeline), lazily inside a function
    package = tmp_path / "fteval"
    (package / "records").mkdir(parents=True)
    (package / "pipeline").mkdir()
    (package / "records" / "bad.py").write_text(
        textwrap.dedent(
            """
            def f():
                from fteval.pipeline import run
                return run
            """
        )
    )
    (package / "pipeline" / "run.py").write_text("from fteval.records import bad\n")
    monkeypatch.setattr(_layout_check, "PACKAGE_ROOT", package)
    problems = violations()
    assert any("records/bad.py:3" in p and "fteval.pipeline" in p for p in problems)
    assert any(p.startswith("import cycle: pipeline -> records") for p in problems)


def test_lower_layers_never_import_the_run_config():
    config_layer = layer_of("config")
    for path in PACKAGE_ROOT.rglob("*.py"):
        top = path.relative_to(PACKAGE_ROOT).parts[0].removesuffix(".py")
        if layer_of(top) >= config_layer:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "fteval.config" not in imported, path
