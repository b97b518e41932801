"""Print the declared minimum version of every dependency as a pin (``name==floor``).

A requirement without a ``>=`` floor (an upper bound only) is printed as declared.

``make test-min`` installs these into a separate virtual environment and runs the fast
tests, which proves the floors in pyproject.toml. torch is left out: only its CPU build
may be installed on machines without a GPU, and ``make test-min`` installs the one the
Makefile names (``TORCH_SPEC``) first.

Usage: ``python tools/min_requirements.py [EXTRA ...]`` (default: every extra but ``all``
and ``vllm``, which needs a CUDA build of torch).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
SKIP = {"torch"}
SKIP_EXTRAS = {"all", "vllm"}
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def pins(extras: list[str] | None = None) -> list[str]:
    """``name==floor`` for the core dependencies and the given extras' dependencies."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    optional = project["optional-dependencies"]
    chosen = extras if extras else [e for e in optional if e not in SKIP_EXTRAS]
    requirements = list(project["dependencies"])
    for extra in chosen:
        requirements += [r for r in optional[extra] if not r.startswith("fteval[")]
    floors: dict[str, str] = {}
    unbounded: list[str] = []
    for requirement in requirements:
        match = FLOOR.match(requirement)
        if match is None:  # no floor (an upper bound only): installed as declared
            unbounded.append(requirement.strip())
            continue
        name, version = match.groups()
        if name.lower() in SKIP:
            continue
        if name in floors and floors[name] != version:  # the same package in two groups
            raise SystemExit(f"{PYPROJECT}: {name} has two floors: {floors[name]}, {version}")
        floors[name] = version
    pins = [f"{name}=={floors[name]}" for name in sorted(floors, key=str.lower)]
    return pins + sorted(set(unbounded), key=str.lower)


if __name__ == "__main__":
    print("\n".join(pins(sys.argv[1:])))
