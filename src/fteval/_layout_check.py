"""The package's layers, and a check that imports only go down them.

``python -m fteval._layout_check`` prints the layers and every import that goes up a layer
or closes a cycle between packages (exit 1 when there is one); ``tests/test_layout.py``
runs the same check. Imports inside functions count: a lazy import is still a dependency.

The layers, lowest first. A module may import its own package and any lower layer, never
a higher one:

0. ``errors``, ``version``, ``_util``: no fteval imports beyond these.
1. ``records``: the typed records, their JSON form, the run directory.
2. ``data``, ``metrics``, ``sandbox``: readers; metric definitions; code execution.
3. ``stats``: intervals, paired tests, corrections (over metrics' statistics).
4. ``engine``: the comparison engine (paired comparisons, families, verdicts) and its
   options; every section that compares arms uses it.
5. ``tasks``, ``backends``: what is asked; who answers (and the response cache).
6. ``scoring``: per-sample metric values and per task x arm statistics.
7. ``robustness``: perturbations, slices, calibration, training logs (pure, seeded).
8. ``compare``: results assembly, the main table's comparisons, advice, the CI gate.
9. ``report``: terminal, Markdown and HTML views of results.
10. ``config``: the validated run configuration.
11. ``pipeline``: the run loop and the other ways a run directory is made.
12. ``api``, ``results``: the Python API and the typed results it returns.
13. ``cli``, ``demo``, the package's ``__init__``/``__main__`` and this module: entry points.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "version", "_util"),
    ("records",),
    ("data", "metrics", "sandbox"),
    ("stats",),
    ("engine",),
    ("tasks", "backends"),
    ("scoring",),
    ("robustness",),
    ("compare",),
    ("report",),
    ("config",),
    ("pipeline",),
    ("api", "results"),
    ("cli", "demo", "__init__", "__main__", "_layout_check"),
)

PACKAGE_ROOT = Path(__file__).resolve().parent


def layer_of(component: str) -> int:
    """The layer index (0 = lowest) of a top-level module or package of fteval."""
    for index, members in enumerate(LAYERS):
        if component in members:
            return index
    raise KeyError(f"fteval.{component} is not placed in a layer; add it to LAYERS")


def _component(module_path: Path) -> str:
    relative = module_path.relative_to(PACKAGE_ROOT)
    return relative.parts[0].removesuffix(".py")


def _imported_components(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, top-level fteval component) of every fteval import in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "fteval" and len(parts) > 1:
                    yield node.lineno, parts[1]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "fteval":
                continue
            if len(parts) > 1:
                yield node.lineno, parts[1]
            else:  # from fteval import x
                for alias in node.names:
                    yield node.lineno, alias.name


def dependencies() -> dict[str, set[str]]:
    """Top-level component -> the components it imports (itself excluded)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        source = _component(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for _, target in _imported_components(tree):
            if target != source:
                graph.setdefault(source, set()).add(target)
        graph.setdefault(source, set())
    return graph


def violations() -> list[str]:
    """Every import that goes up a layer, and every import cycle between packages."""
    problems = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        source = _component(path)
        try:
            source_layer = layer_of(source)
        except KeyError as error:
            problems.append(str(error))
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in _imported_components(tree):
            if target == source:
                continue
            try:
                target_layer = layer_of(target)
            except KeyError as error:
                problems.append(f"{path.relative_to(PACKAGE_ROOT)}:{line}: {error}")
                continue
            if target_layer > source_layer:
                problems.append(
                    f"{path.relative_to(PACKAGE_ROOT)}:{line}: fteval.{source} (layer "
                    f"{source_layer}) imports fteval.{target} (layer {target_layer}), a "
                    "higher layer"
                )
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(dependencies())]
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles between components (one per strongly connected component of size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    """Print the layers and any violation; exit status 1 when there is one."""
    graph = dependencies()
    for number, members in enumerate(LAYERS):
        uses = sorted({t for m in members for t in graph.get(m, ())} - set(members))
        print(f"{number:>2}  {', '.join(members):<40} imports: {', '.join(uses) or '-'}")
    problems = violations()
    for problem in problems:
        print(problem, file=sys.stderr)
    print("layout: ok" if not problems else f"layout: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
