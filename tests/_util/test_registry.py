"""The generic registry: unique names, lazy loaders, and no partial state after a failed load."""

from __future__ import annotations

import sys
import textwrap

import pytest

from fteval._util.registry import Registry


def test_names_are_unique_and_unknown_names_list_the_known_ones():
    registry: Registry[int] = Registry("widget")
    registry.add("a", 1)
    assert registry.register("b")(2) == 2
    with pytest.raises(ValueError, match="widget 'a' is registered twice"):
        registry.add("a", 3)
    assert registry.find("a") == 1 and registry.find("zz") is None
    assert registry.names() == ["a", "b"] and "b" in registry
    assert registry.unknown("c") == "unknown widget 'c'; known widgets: a, b"


def test_a_loader_that_fails_is_raised_again_on_the_next_lookup(tmp_path, monkeypatch):
    # the loader registers one entry, then fails while the flag file exists
    flag = tmp_path / "broken"
    flag.write_text("1")
    module = "fteval_test_flaky_loader"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from tests._util.test_registry import REGISTRY
            REGISTRY.add("early", 1)
            if Path({str(flag)!r}).exists():
                raise RuntimeError("broken loader")
            REGISTRY.add("late", 2)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    global REGISTRY
    REGISTRY = Registry("widget", loaders=(module, "fteval_test_no_such_loader"))
    for _ in range(2):  # not marked loaded after a failure, nor half-filled
        with pytest.raises(RuntimeError, match="broken loader"):
            REGISTRY.names()
        assert "early" not in REGISTRY._entries
    flag.unlink()
    assert REGISTRY.names() == ["early", "late"]  # a missing loader module is skipped
    sys.modules.pop(module, None)


REGISTRY: Registry[int] = Registry("widget")


def test_a_loader_whose_own_import_is_missing_is_not_skipped(tmp_path, monkeypatch):
    module = "fteval_test_needs_missing"
    (tmp_path / f"{module}.py").write_text("import fteval_test_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[int] = Registry("widget", loaders=(module,))
    with pytest.raises(ModuleNotFoundError, match="fteval_test_absent_dependency"):
        registry.names()
