"""Print the declared minimum version of every dependency as a pin (``name==floor``).

``make test-min`` installs these into a separate virtual environment and runs the fast
tests, which proves the floors in pyproject.toml. torch is left out: only its CPU build
may be installed on machines without a GPU, and ``make test-min`` installs the one the
Makefile names (``TORCH_SPEC``) first.

Usage: ``python tools/min_requirements.py [EXTRA ...]`` (default: every extra but ``all``).
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
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def pins(extras: list[str] | None = None) -> list[str]:
    """``name==floor`` for the core dependencies and the given extras' dependencies."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    optional = project["optional-dependencies"]
    chosen = extras if extras else [e for e in optional if e != "all"]
    requirements = list(project["dependencies"])
    for extra in chosen:
        requirements += [r for r in optional[extra] if not r.startswith("fteval[")]
    out = []
    for requirement in requirements:
        match = FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"{PYPROJECT}: {requirement!r} has no '>=' floor")
        name, version = match.groups()
        if name.lower() not in SKIP:
            out.append(f"{name}=={version}")
    return sorted(set(out), key=str.lower)


if __name__ == "__main__":
    print("\n".join(pins(sys.argv[1:])))
