"""What ``fteval run`` checks before it creates the run directory, so a refused run leaves
nothing behind and costs no model load.

In order: the output folders (run directory and response cache: directories, writable;
the cache file not a folder), every arm's model files (``backends.preflight``: configs,
safetensors headers against the configs, adapters against their base, tokenizers),
``--max-length`` against each model's positions, the device, the servers the run talks
to (``--base-url``, ``openai:NAME@URL`` arms and judges) and a Ray cluster's address.
``tokenizer_warnings`` then names per-token metrics compared across arms whose
tokenizers differ.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fteval._util.model_refs import check_device
from fteval._util.paths import check_dir_target, user_cache_dir
from fteval.backends import preflight as files
from fteval.backends.hf_loading import has_tokenizer
from fteval.config import RunConfig
from fteval.errors import ConfigError, MissingDependencyError
from fteval.records import ArmSpec
from fteval.tasks import Task

logger = logging.getLogger(__name__)

CACHE_FILE = "responses.sqlite"
LOCAL_BACKENDS = ("hf", "vllm")  # backends that read the arms' folders themselves
RAY_CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ArmFiles:
    """What the pre-flight learned about the arms' files.

    Attributes:
        models: arm name -> its model folder's facts (base and full; adapters use the
            base's), absent for hub ids and served models.
        tokenizers: arm name -> sha256 of the tokenizer files it uses (local arms only).
    """

    models: Mapping[str, files.ModelFiles] = field(default_factory=dict)
    tokenizers: Mapping[str, str] = field(default_factory=dict)


def check_output_paths(config: RunConfig) -> None:
    """The run directory and the response cache must be (or become) writable directories,
    and the cache file, when there, a file."""
    if config.out is not None:
        check_dir_target(config.out, "out (the run directory)")
    folder = cache_folder(config)
    if folder is None:
        return
    what = "cache_dir (the response cache)" if config.cache_dir else "the response cache"
    check_dir_target(folder, what)
    cache_file = folder / CACHE_FILE
    if cache_file.is_dir() or (cache_file.exists() and not cache_file.is_file()):
        kind = "a folder" if cache_file.is_dir() else "not a regular file (a device or pipe)"
        raise ConfigError(
            f"{what} {folder}: {cache_file} is {kind} where the cache file should be; remove "
            "it, choose another --cache-dir, or pass --cache-dir off"
        )


def check_input_files(config: RunConfig) -> None:
    """``--train-data ARM=FILE`` and ``--training-log ARM=FILE`` name files, not folders."""
    for flag, table, wanted in (
        ("--train-data", config.train_data, "JSON Lines, JSON, CSV, TSV or Parquet"),
        ("--training-log", config.training_logs, "a trainer_state.json or a CSV log"),
    ):
        for arm, path in table.items():
            if Path(path).is_dir():
                raise ConfigError(f"{flag} {arm}={path}: is a folder; give the file ({wanted})")


def cache_folder(config: RunConfig) -> Path | None:
    """The response cache's folder, or None when ``cache_dir`` is ``off``."""
    if config.cache_dir == "off":
        return None
    return Path(config.cache_dir) if config.cache_dir else user_cache_dir()


def check_arm_files(config: RunConfig) -> ArmFiles:
    """Every local arm's folder checked (see ``backends.preflight``), and ``--max-length``.

    Only for the backends that read model folders (hf, vllm); hub ids are checked when
    they load.
    """
    if config.backend not in LOCAL_BACKENDS:
        return ArmFiles()
    check_base_not_served(config)
    arms = config.arms()
    base = arms[0]
    models: dict[str, files.ModelFiles] = {}
    base_files = files.check_model_folder(base.path, "--base")
    if base_files is not None:
        models[base.name] = base_files
    for arm in arms:
        if arm.kind == "adapter":
            files.check_adapter_folder(arm.name, arm.path, base_files)
        elif arm.kind == "full":
            full = files.check_model_folder(arm.path, "--full")
            if full is not None:
                models[arm.name] = full
    tokenizers = _tokenizers(arms, models)
    check_max_length(config, models)
    return ArmFiles(models, tokenizers)


def check_base_not_served(config: RunConfig) -> None:
    """On a backend that loads weights, the base must be local: adapters, deployment
    forms and fine-tunes are built on its weights.

    Raises:
        ConfigError: ``--base openai:MODEL[@URL]`` with any backend but openai.
    """
    from fteval.backends.forms import is_served

    if config.backend in LOCAL_BACKENDS and is_served(config.base):
        raise ConfigError(
            f"the base is served ({config.base}): local adapters, forms and fine-tunes need "
            "local base weights; serve every arm with --backend openai, or give a local base"
        )


def _tokenizers(arms: Sequence[ArmSpec], models: Mapping[str, files.ModelFiles]) -> dict[str, str]:
    """Arm -> sha256 of its tokenizer files, checked; the rule the HF backend follows:
    adapters use the base's tokenizer, a full fine-tune its own when it has one."""
    base = arms[0]
    out: dict[str, str] = {}
    for arm in arms:
        own = models.get(arm.name)
        if arm.kind == "full" and own is not None and has_tokenizer(own.path):
            out[arm.name] = files.check_tokenizer(own.path, own, "--full")
        elif base.name in models:
            base_model = models[base.name]
            if base.name not in out:
                out[base.name] = files.check_tokenizer(base_model.path, base_model, "--base")
            if own is not None:  # a full fine-tune read with the base's tokenizer
                files.check_tokenizer(base_model.path, own, f"--full {own.path} (with the base's)")
            out[arm.name] = out[base.name]
    return out


def check_max_length(config: RunConfig, models: Mapping[str, files.ModelFiles]) -> None:
    """``--max-length`` at most each local model's positions (its config's limit)."""
    if config.max_length is None:
        return
    for name, model in models.items():
        positions = model.positions()
        if positions is not None and config.max_length > positions:
            raise ConfigError(
                f"--max-length {config.max_length}: beyond the {positions} positions of arm "
                f"{name!r} ({model.path}/config.json); give at most {positions}"
            )


def check_reachability(config: RunConfig) -> None:
    """The device exists; the servers and the Ray cluster the run names answer."""
    if config.backend == "hf":
        check_device(config.device)
    if config.backend == "openai":
        for url in _endpoint_urls(config):
            files.check_endpoint(url)
    if config.judge is not None and config.judge.startswith("openai:"):
        for url in _endpoint_urls(config, [ArmSpec("judge", "base", config.judge, "judge")]):
            files.check_endpoint(url, flag="--judge")
    check_ray(config.ray)


def _endpoint_urls(config: RunConfig, arms: Sequence[ArmSpec] | None = None) -> list[str]:
    from fteval.backends.openai import parse_endpoint

    urls = [parse_endpoint(a.name, a.path, config.base_url).base_url for a in arms or config.arms()]
    return list(dict.fromkeys(urls))


def check_ray(address: str | None) -> None:
    """``--ray ADDRESS``: Ray (and for ``ray://``, its client) installed, and a gRPC server
    (what Ray's cluster and client addresses are) answering there within
    ``RAY_CONNECT_TIMEOUT_S`` seconds: anything else would keep Ray retrying for minutes.

    ``local`` starts a cluster and ``auto`` asks Ray to find one: only the installation is
    checked for them.

    Raises:
        MissingDependencyError: Ray, or the Ray Client's grpcio, is not installed.
        ConfigError: nothing answers at the address, or not as a gRPC server.
    """
    if address is None:
        return
    if importlib.util.find_spec("ray") is None:
        raise MissingDependencyError("ray", "ray", "--ray")
    if address in ("local", "auto"):
        return
    client = address.startswith("ray://")
    if client and importlib.util.find_spec("grpc") is None:
        raise MissingDependencyError("ray[client]", None, f"--ray {address} (the Ray Client)")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    files.check_grpc_server(
        host.strip("[]"), int(port), what=f"--ray {address}", timeout_s=RAY_CONNECT_TIMEOUT_S
    )


def check_judge_files(config: RunConfig) -> None:
    """A local judge model's folder and tokenizer, like an arm's."""
    judge = config.judge
    if judge is None or judge.startswith("openai:"):
        return
    model = files.check_model_folder(judge, "--judge")
    if model is not None:
        files.check_tokenizer(model.path, model, "--judge")


def refuse_unused_judge(config: RunConfig, tasks: Sequence[Task]) -> None:
    """``--judge`` with no judged task would be silently ignored: refuse it."""
    if config.judge is not None and not any(task.judge for task in tasks):
        from fteval.tasks.builtin import catalogue

        judged = sorted(name for name, entry in catalogue().items() if entry.kind == "judged")
        raise ConfigError(
            f"--judge {config.judge}: no task of this run is judged (judged tasks: "
            f"{', '.join(judged)}); drop --judge or add a judged task"
        )


def tokenizer_warnings(tasks: Sequence[Task], arm_files: ArmFiles) -> list[str]:
    """A warning per task whose per-token metrics compare arms with different tokenizers.

    Perplexity and cross-entropy are per token: arms that split the same text into
    different tokens are not on the same scale, so their difference is no measure of
    the fine-tune.
    """
    tokenizers = arm_files.tokenizers
    if len(set(tokenizers.values())) < 2:
        return []
    groups: dict[str, list[str]] = {}
    for arm, digest in tokenizers.items():
        groups.setdefault(digest, []).append(arm)
    described = " vs ".join("/".join(arms) for arms in groups.values())
    out = []
    for task in tasks:
        names = [m.name for m in task.build_metrics() if m.tokenizer_dependent]
        if names:
            out.append(
                f"task {task.name!r}: {', '.join(sorted(set(names)))} are per token, but the "
                f"arms use different tokenizers ({described}): their differences mix the "
                "fine-tune with the tokenization (compare bits per byte, or arms with one "
                "tokenizer)"
            )
    for line in out:
        logger.warning("%s", line)
    return out
