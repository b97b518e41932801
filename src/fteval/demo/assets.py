"""Build (once) and cache the demo's models and task: base LM, LoRA adapter, full fine-tune.

``build_demo_assets()`` needs no network. The first call generates the synthetic
support-intent dataset, pretrains a small byte-level GPT-2, trains a LoRA adapter and a
full fine-tune (about two minutes on two CPU cores), and writes everything under the user
cache directory; later calls return the cached folder at once.

Layout of the cache folder (``<cache>/demo/v<BUILD_VERSION>``)::

    base/       GPT-2 + tokenizer (save_pretrained, safetensors)
    lora/       LoRA adapter + tokenizer; base_model_name_or_path = <folder>/base
    full/       fully fine-tuned GPT-2 + tokenizer
    data/       train/validation/test.jsonl, pretrain.jsonl, support_intents.yaml
    build.json  how it was built: version, seeds, settings, stage times and losses

The folder is built under a temporary name next to its final place and renamed when
complete, so an interrupted build is never used, and two processes building at once both
end up with one complete folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fteval._util.paths import user_cache_dir
from fteval.backends.hf_loading import quiet_transformers
from fteval.demo.dataset import INTENTS, generate_dataset, write_jsonl

if TYPE_CHECKING:
    from fteval.demo.train import TrainSettings

logger = logging.getLogger(__name__)

#: Bumped whenever the dataset, the models or the layout change; old caches are ignored.
BUILD_VERSION = "2"
#: Seed of the synthetic dataset.
DATA_SEED = 0
TASK_NAME = "support_intents"
TASK_FILE_NAME = f"{TASK_NAME}.yaml"
PROMPT_TEMPLATE = "Message: {text}\nIntent:"
TARGET_DELIMITER = " "
_BUILD_INFO = "build.json"
_BUILDING_MARK = ".building-"
_STALE_BUILD_SECONDS = 6 * 3600


@dataclass(frozen=True)
class DemoAssets:
    """Where the demo's models and task are, and how they were obtained.

    Attributes:
        root: the versioned cache folder holding everything below.
        base_dir: the base model (``AutoModelForCausalLM.from_pretrained``).
        adapter_dir: the LoRA adapter (``PeftModel.from_pretrained`` over ``base_dir``).
        full_dir: the fully fine-tuned model.
        task_file: the task YAML (``support_intents.yaml``), data paths relative to it.
        data_dir: the folder of the task YAML and its JSONL splits.
        build_seconds: wall time of the build that produced the folder, in seconds (for a
            cached folder: of the original build, not of this call).
        cached: True when the folder already existed and nothing was trained.
    """

    root: Path
    base_dir: Path
    adapter_dir: Path
    full_dir: Path
    task_file: Path
    data_dir: Path
    build_seconds: float
    cached: bool


def default_cache_dir() -> Path:
    """``$FTEVAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/fteval``, else ``~/.cache/fteval``."""
    return user_cache_dir()


def _folder_name(settings: TrainSettings) -> str:
    """``v<version>`` for the shipped settings; a settings hash is appended otherwise."""
    from fteval.demo.train import TrainSettings

    if settings == TrainSettings():
        return f"v{BUILD_VERSION}"
    digest = hashlib.sha256(json.dumps(settings.to_dict(), sort_keys=True).encode()).hexdigest()
    return f"v{BUILD_VERSION}-{digest[:10]}"


def _assets_at(root: Path, *, cached: bool, build_seconds: float) -> DemoAssets:
    data_dir = root / "data"
    return DemoAssets(
        root=root,
        base_dir=root / "base",
        adapter_dir=root / "lora",
        full_dir=root / "full",
        task_file=data_dir / TASK_FILE_NAME,
        data_dir=data_dir,
        build_seconds=build_seconds,
        cached=cached,
    )


def _read_complete(root: Path, settings: TrainSettings) -> DemoAssets | None:
    """The assets in ``root`` if it is a complete build of this version and settings."""
    try:
        info = json.loads((root / _BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if info.get("build_version") != BUILD_VERSION or info.get("settings") != settings.to_dict():
        return None
    assets = _assets_at(root, cached=True, build_seconds=float(info.get("build_seconds", 0.0)))
    required = (
        assets.base_dir / "config.json",
        assets.adapter_dir / "adapter_config.json",
        assets.full_dir / "config.json",
        assets.task_file,
    )
    return assets if all(p.is_file() for p in required) else None


def build_demo_assets(
    cache_dir: Path | str | None = None,
    *,
    progress: bool = True,
    settings: TrainSettings | None = None,
) -> DemoAssets:
    """Return the demo assets, building them first if they are not cached yet.

    Args:
        cache_dir: cache root; default :func:`default_cache_dir`. Assets go in
            ``<cache_dir>/demo/v<BUILD_VERSION>`` (plus a settings hash when ``settings``
            is not the default).
        progress: show progress bars with ETA on stderr while building.
        settings: training settings; the default is the shipped build. Tests pass a tiny
            step budget here (e.g. ``TrainSettings.tiny()``).

    Returns:
        The assets; ``cached`` says whether they were already there.

    Raises:
        OSError: if the cache folder cannot be created or written.
    """
    from fteval.demo.train import TrainSettings

    settings = settings if settings is not None else TrainSettings()
    parent = (Path(cache_dir) if cache_dir is not None else default_cache_dir()).expanduser()
    parent = parent.resolve() / "demo"
    root = parent / _folder_name(settings)
    found = _read_complete(root, settings)
    if found is not None:
        logger.info("demo assets served from cache: %s", root)
        return found
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(parent)
    staging = Path(tempfile.mkdtemp(prefix=f"{root.name}{_BUILDING_MARK}", dir=parent))
    try:
        if progress:
            print(
                f"fteval demo: building the toy models in {root} "
                "(first run only, about 2 minutes on 2 CPU cores)",
                file=sys.stderr,
                flush=True,
            )
        build_seconds = _build_into(staging, final_root=root, settings=settings, progress=progress)
        _publish(staging, root, settings)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    found = _read_complete(root, settings)
    if found is None:  # pragma: no cover - only if the folder was altered meanwhile
        raise OSError(f"demo assets in {root} are incomplete right after building")
    if progress:
        print(f"fteval demo: models ready in {build_seconds:.0f} s", file=sys.stderr, flush=True)
    return _assets_at(root, cached=False, build_seconds=found.build_seconds)


def _publish(staging: Path, root: Path, settings: TrainSettings) -> None:
    """Move a complete build to ``root``; keep a complete build another process published."""
    try:
        os.rename(staging, root)
        return
    except OSError:
        if not root.exists():
            raise
    # ``root`` exists but was not accepted as complete: another process may just have
    # published it (then it is complete now), or it is an unusable leftover to replace.
    if _read_complete(root, settings) is not None:
        return
    trash = Path(tempfile.mkdtemp(prefix=f"{root.name}.old-", dir=root.parent))
    os.rename(root, trash / root.name)
    os.rename(staging, root)
    shutil.rmtree(trash, ignore_errors=True)


def _remove_stale_builds(parent: Path) -> None:
    """Delete temporary folders of builds that were killed long ago."""
    now = time.time()
    for child in parent.iterdir():
        if _BUILDING_MARK not in child.name and ".old-" not in child.name:
            continue
        with contextlib.suppress(OSError):
            if now - child.stat().st_mtime > _STALE_BUILD_SECONDS:
                shutil.rmtree(child, ignore_errors=True)


def _build_into(
    staging: Path, *, final_root: Path, settings: TrainSettings, progress: bool
) -> float:
    """Write every asset into ``staging``; return the build's wall time in seconds."""
    from fteval.demo import train

    start = time.perf_counter()
    stages: dict[str, Any] = {}
    dataset = generate_dataset(DATA_SEED)
    data_dir = staging / "data"
    data_dir.mkdir()
    for split in ("train", "validation", "test"):
        write_jsonl(dataset.split(split), data_dir / f"{split}.jsonl")
    write_jsonl(({"text": t} for t in dataset.unlabeled), data_dir / "pretrain.jsonl")
    (data_dir / TASK_FILE_NAME).write_text(task_yaml(), encoding="utf-8")

    common: dict[str, Any] = {
        "template": PROMPT_TEMPLATE,
        "delimiter": TARGET_DELIMITER,
        "settings": settings,
    }
    with quiet_transformers():
        t = time.perf_counter()
        stats = train.pretrain_base(
            dataset.unlabeled, staging / "base", settings=settings, progress=progress
        )
        stages["base"] = {**stats, "seconds": time.perf_counter() - t}
        t = time.perf_counter()
        stats = train.train_lora(
            staging / "base",
            dataset.train,
            staging / "lora",
            base_reference=str(final_root / "base"),
            progress=progress,
            **common,
        )
        stages["lora"] = {**stats, "seconds": time.perf_counter() - t}
        t = time.perf_counter()
        stats = train.train_full(
            staging / "base", dataset.train, staging / "full", progress=progress, **common
        )
        stages["full"] = {**stats, "seconds": time.perf_counter() - t}

    build_seconds = time.perf_counter() - start
    info = {
        "build_version": BUILD_VERSION,
        "data_seed": DATA_SEED,
        "settings": settings.to_dict(),
        "split_sizes": {s: len(dataset.split(s)) for s in ("train", "validation", "test")},
        "pretrain_texts": len(dataset.unlabeled),
        "stages": stages,
        "build_seconds": build_seconds,
        "versions": _library_versions(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    # Written last: its presence marks the folder complete (see _read_complete).
    (staging / _BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return build_seconds


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "peft", "safetensors"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[name] = "missing"
    return out


def task_yaml() -> str:
    """The text of ``support_intents.yaml`` (fteval's task format; data next to it)."""
    choices = ", ".join(INTENTS)
    return (
        f"name: {TASK_NAME}\n"
        "type: multiple_choice\n"
        "data: {train: train.jsonl, validation: validation.jsonl, test: test.jsonl}\n"
        "split: test\n"
        "id_field: id\n"
        f"template: {json.dumps(PROMPT_TEMPLATE)}\n"
        f"choices: [{choices}]\n"
        "label_field: label\n"
        f"target_delimiter: {json.dumps(TARGET_DELIMITER)}\n"
        "metrics: [acc, acc_norm, f1_macro]\n"
    )


__all__ = [
    "BUILD_VERSION",
    "PROMPT_TEMPLATE",
    "TARGET_DELIMITER",
    "TASK_NAME",
    "DemoAssets",
    "build_demo_assets",
    "default_cache_dir",
    "task_yaml",
]
