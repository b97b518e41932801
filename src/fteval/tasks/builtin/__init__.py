"""The built-in benchmarks; importing this package registers each of them.

Each module declares its task spec (what a YAML task file would say) and a reader from
the benchmark's original release format to rows; ``_base`` holds what they share (the
catalogue ``fteval tasks`` prints, Hub and local-copy loading). docs/benchmarks.md
documents every prompt.
"""

from fteval.tasks.builtin import classification, code, generation, judged, mmlu  # noqa: F401
from fteval.tasks.builtin._base import Builtin, HubSource, catalogue, check_settings

__all__ = ["Builtin", "HubSource", "catalogue", "check_settings"]
