"""``fteval demo``: build the embedded toy models once, then run the three-way evaluation
(``--deploy``: the adapter's deployment forms and their parity with it instead)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fteval.api import run
from fteval.config import build_config
from fteval.records.rundir import default_run_dir

DEMO_PERTURBATIONS = ("typo",)
DEMO_SLICES = ("channel",)
#: ``fteval demo --deploy``: the adapter's deployment forms, each compared with it.
DEMO_FORMS = {
    "lora-unmerged": "lora:unmerged",
    "lora-merged": "lora:merged",
    "lora-int8": "lora:merged-int8",
}
#: Items per split the demo evaluates (None: all 300 test and 250 validation messages);
#: the end-to-end test lowers it to stay fast.
DEMO_LIMIT: int | None = None


def run_demo(
    *,
    out: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    deploy: bool = False,
) -> dict[str, Any]:
    """Build (or reuse) the demo base, LoRA adapter and full fine-tune, then evaluate them.

    Args:
        out: the run directory (default: a fresh folder under runs/).
        cache_dir: where the demo models are built (default: the user cache).
        progress: show progress bars.
        deploy: evaluate the adapter's deployment forms instead (``DEMO_FORMS``: unmerged,
            merged, merged and quantized to int8) beside the base and the adapter, each
            compared with the adapter for parity (needs ``fteval[quant]``).

    Returns:
        The results object with ``run_dir`` and ``demo`` (build facts and timings) added.
    """
    from fteval.demo.assets import build_demo_assets

    started = time.monotonic()
    assets = build_demo_assets(Path(cache_dir) if cache_dir else None, progress=progress)
    settings: dict[str, Any] = {
        "base": str(assets.base_dir),
        "adapters": {"lora": str(assets.adapter_dir)},
        "tasks": [str(assets.task_file)],
        "out": str(out or default_run_dir()),
        "device": "cpu",
        "batch_size": 32,
        "limit": DEMO_LIMIT,
    }
    if deploy:
        settings["forms"] = dict(DEMO_FORMS)
    else:
        settings.update(
            full=str(assets.full_dir),
            # what the clean score hides: typos, the channel a message came by, and
            # calibration (automatic for choice tasks; temperature from validation.jsonl)
            perturbations=list(DEMO_PERTURBATIONS),
            slices=list(DEMO_SLICES),
        )
    config = build_config(settings, source="fteval demo")
    results = run(config, progress=progress)
    return {
        **results,  # the results object and run_dir
        "demo": {
            "cached_models": assets.cached,
            "build_seconds": round(assets.build_seconds, 1),
            "total_seconds": round(time.monotonic() - started, 1),
            "models_dir": str(assets.base_dir.parent),
        },
    }
