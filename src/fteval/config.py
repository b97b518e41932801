"""The validated run configuration: from CLI flags or a YAML file, unknown keys rejected.

A run compares *arms* — the base model, each named adapter, an optional full fine-tune —
on the same tasks. ``RunConfig`` is the single record every entry point builds
(``fteval run``, ``fteval run config.yaml``, ``fteval.evaluate``).
"""

from __future__ import annotations

import math
import os
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fteval._util.options import parse_bool
from fteval._util.validation import describe_validation_error
from fteval.backends.forms import check_form, is_served
from fteval.data.yamltext import load_yaml
from fteval.engine import DEFAULT_CORRECTION_SCOPE, DEFAULT_SEED, CorrectionScope, resolve_levels
from fteval.errors import ConfigError
from fteval.records import ArmSpec

ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
RESERVED_ARM_NAMES = ("base", "full")

DType = Literal["auto", "float32", "float16", "bfloat16"]
# a boolean from the documented words only (true/false, yes/no, 1/0): the one option rule
Flag = Annotated[bool, BeforeValidator(parse_bool)]
THREADS_PER_CPU = 4  # more torch threads than this per CPU is a typo, not a setting


def cpu_count() -> int:
    """The machine's CPUs (at least 1)."""
    return os.cpu_count() or 1


class RunConfig(BaseModel):
    """Everything a run needs. Field docs double as the YAML reference (docs/config.md)."""

    # NaN and infinities are refused everywhere: no bound check catches them all
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    base: str = Field(description="base model: local directory or hub id")
    adapters: dict[str, str] = Field(default_factory=dict, description="adapter name -> path")
    full: str | None = Field(default=None, description="fully fine-tuned checkpoint")
    tasks: list[str] = Field(min_length=1, description="built-in task names or task files")
    out: str | None = Field(default=None, description="run directory (default runs/<time>)")
    backend: Literal["hf", "fake", "vllm", "openai"] = "hf"
    batch_size: int = Field(default=16, ge=1, le=4096)
    dtype: DType = "auto"
    device: str = "auto"
    limit: int | dict[str, int] | None = Field(
        default=None,
        description="N examples of every task, or per task: {TASK or glob: N} (docs/tasks.md)",
    )
    limit_sampling: Literal["first", "random"] = Field(
        default="first", description="which N a limit keeps: the first, or N drawn at random"
    )
    limit_seed: int = Field(default=0, ge=0, description="seed of random limit sampling")
    seed: int = Field(
        default=DEFAULT_SEED, ge=0, le=2**63 - 1, description="decoding and statistics base seed"
    )
    max_length: int | None = Field(default=None, ge=8, description="context window override")
    allow_base_mismatch: Flag = False
    allow_pickle: Flag = Field(default=False, description="allow loading .bin/.pt weights")
    trust_remote_code: Flag = False
    adapter_serving: Literal["auto", "merge_restore", "switch", "per_row"] = Field(
        default="auto",
        description="how one loaded base serves adapter arms: auto (a measured rule), "
        "merge_restore, switch, or per_row (base and adapters in one pass)",
    )
    batch_tokens: int | None = Field(
        default=None,
        ge=16,
        le=1 << 24,
        description="padded tokens per forward pass (default: by device)",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        description="CPU threads for torch, at most 4 per CPU (default: the CPUs available)",
    )
    add_bos_token: Literal["auto", "true", "false"] = Field(
        default="auto",
        description="BOS before every input: auto (as lm-evaluation-harness), true or false",
    )
    cache_dir: str | None = Field(
        default=None, description="response cache folder (default: user cache); 'off' disables"
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="interval level; follows 1 - alpha"
    )
    bootstrap_resamples: int = Field(default=2000, ge=100, le=1_000_000)
    permutations: int = Field(default=10_000, ge=100, le=10_000_000)
    ci_method: Literal["percentile", "bca"] = "percentile"
    correction: Literal["holm", "bh"] = "holm"
    correction_scope: CorrectionScope = Field(
        default=DEFAULT_CORRECTION_SCOPE,
        description="comparisons corrected together: each task's per arm pair (default), "
        "each arm pair's over every task, or the whole run's",
    )
    alpha: float = Field(
        default=0.05, gt=0.0, lt=0.5, description="significance level; follows 1 - confidence"
    )
    non_inferiority: dict[str, float] = Field(
        default_factory=dict,
        description="TASK or TASK/METRIC -> largest tolerated drop vs base, in points",
    )
    fail_on: Literal["regression", "inconclusive", "none"] = "none"
    flush_every: int = Field(
        default=256, ge=1, description="examples per task x arm between sample-file flushes"
    )
    # ---- beyond one process (docs/scale.md) ----
    base_url: str | None = Field(
        default=None, description="openai backend: the server, e.g. http://localhost:8000/v1"
    )
    api_key_env: str | None = Field(
        default="OPENAI_API_KEY",
        description="openai backend: environment variable holding the API key (never the key)",
    )
    tokenizer: str | None = Field(
        default=None, description="openai backend: the served model's tokenizer (exact boundary)"
    )
    concurrency: int = Field(default=8, ge=1, le=256, description="openai: requests in flight")
    request_timeout_s: float = Field(
        default=120.0, gt=0, le=86_400, description="openai: seconds per read"
    )
    max_retries: int = Field(default=5, ge=0, le=20, description="openai: retries per request")
    request_options: dict[str, Any] = Field(
        default_factory=dict,
        description="openai backend: extra fields sent in every request body (docs/scale.md)",
    )
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="vllm backend: extra keyword arguments of vllm.LLM"
    )
    ray: str | None = Field(
        default=None, description="run on a Ray cluster: 'local' (start one here) or its address"
    )
    ray_workers: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Ray workers (default: one per GPU, else one per node)",
    )
    data: dict[str, str] = Field(
        default_factory=dict, description="built-in task name -> local copy of its data"
    )
    num_fewshot: int | dict[str, int] | None = Field(
        default=None, description="shots of every task, or per task: {TASK or glob: N}"
    )
    task_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="task name -> its settings (e.g. humaneval n_samples)"
    )
    lmeval_include: list[str] = Field(
        default_factory=list, description="folders of lm-evaluation-harness task YAMLs"
    )
    judge: str | None = Field(
        default=None,
        description="judge model of judged tasks: a local HF model directory, or openai:NAME[@URL]",
    )
    # ---- what the clean score hides (docs/robustness.md) ----
    perturbations: list[str] = Field(
        default_factory=list,
        description="NAME[:key=value,...] input perturbations (docs/robustness.md)",
    )
    brittle_threshold: float = Field(
        default=0.9, gt=0.0, le=1.0, description="brittle when perturbed < this x clean"
    )
    slices: list[str] = Field(
        default_factory=list, description="data fields (or 'length') to score subgroups by"
    )
    temperature_scaling: Flag = Field(
        default=True,
        description="fit a temperature on a choice task's validation split (extra inference)",
    )
    training_logs: dict[str, str] = Field(
        default_factory=dict, description="arm -> trainer_state.json or CSV training log"
    )
    guardrails: list[str] = Field(
        default_factory=list, description="tasks that must not get worse (non-inferiority)"
    )
    guardrail_margin: float = Field(
        default=1.0, ge=0.0, description="default guardrail non-inferiority margin, in points"
    )
    train_data: dict[str, str] = Field(
        default_factory=dict, description="arm -> its training data file (contamination)"
    )
    contamination_ngram: int = Field(default=8, ge=1, le=64, description="n of word n-grams")
    contamination_threshold: float = Field(
        default=0.7, gt=0.0, le=1.0, description="n-gram overlap share of a near match"
    )
    # ---- deployment (docs/deployment.md) ----
    base_quantization: Literal["nf4", "fp4", "int8"] | None = Field(
        default=None,
        description="load the base quantized with bitsandbytes (QLoRA: nf4); adapters are "
        "then served unmerged on top",
    )
    forms: dict[str, str] = Field(
        default_factory=dict,
        description="NAME -> ARM:FORM: a deployment form of an arm evaluated as an arm "
        "(merged, merged-int8, merged-nf4, unmerged, base-nf4, ...; openai:MODEL[@URL])",
    )
    parity_margin: float = Field(
        default=1.0,
        ge=0.0,
        description="deployment parity: largest tolerated drop of a form vs its source, points",
    )

    @field_validator("limit", "num_fewshot", mode="before")
    @classmethod
    def _per_task(cls, value: Any, info: ValidationInfo) -> Any:
        from fteval.tasks.selection import check_per_task

        minimum = 1 if info.field_name == "limit" else 0
        return check_per_task(value, str(info.field_name), minimum=minimum)

    @field_validator("perturbations")
    @classmethod
    def _perturbations(cls, values: list[str]) -> list[str]:
        from fteval.robustness import parse_perturbations

        try:
            parse_perturbations(values)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return values

    @model_validator(mode="after")
    def _arm_keyed(self) -> RunConfig:
        names = {arm.name for arm in self.arms()}
        for key, mapping in (
            ("training_logs", self.training_logs),
            ("train_data", self.train_data),
        ):
            unknown = sorted(set(mapping) - names)
            if unknown:
                raise ValueError(f"{key}: no arm named {unknown[0]!r} (arms: {sorted(names)})")
        return self

    @model_validator(mode="before")
    @classmethod
    def _plain_values(cls, data: Any) -> Any:
        """No boolean where a number belongs (``batch_size: true`` is not 1), and no NUL
        character in any text (no file system or library takes one)."""
        if not isinstance(data, Mapping):
            return data
        for key, value in data.items():
            field = cls.model_fields.get(str(key))
            if field is not None and isinstance(value, bool) and _numeric(field.annotation):
                raise ValueError(f"{key}: expected a number, got the boolean {value}")
            if _holds_nul(value):
                raise ValueError(f"{key}: a NUL character (\\0) in {value!r}")
        return data

    @model_validator(mode="before")
    @classmethod
    def _levels(cls, data: Any) -> Any:
        """One of alpha and confidence decides the other; a contradicting pair is an error."""
        if not isinstance(data, Mapping):
            return data
        alpha, confidence = data.get("alpha"), data.get("confidence")
        given = [v for v in (alpha, confidence) if v is not None]
        if not given or not all(_is_number(v) for v in given):
            return data  # nothing to resolve, or the field check names the bad value
        alpha, confidence = resolve_levels(alpha, confidence)
        return {**data, "alpha": alpha, "confidence": confidence}

    @field_validator("adapters")
    @classmethod
    def _adapter_names(cls, adapters: dict[str, str]) -> dict[str, str]:
        for name in adapters:
            if not ARM_NAME.fullmatch(name):
                raise ValueError(
                    f"adapter name {name!r} must be 1-64 characters of letters, digits, "
                    "'_', '.', '-', '@' (for seed groups), starting with a letter or digit"
                )
            if name in RESERVED_ARM_NAMES:
                raise ValueError(f"adapter name {name!r} is reserved; pick another")
        return adapters

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
            raise ValueError(f"device must be auto, cpu, mps, cuda or cuda:N, got {device!r}")
        return device

    @field_validator("non_inferiority")
    @classmethod
    def _margins(cls, margins: dict[str, float]) -> dict[str, float]:
        return check_margins(margins)

    @field_validator("base", "full", "out", "cache_dir")
    @classmethod
    def _non_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("tasks", "adapters")
    @classmethod
    def _non_empty_items(cls, values: Any) -> Any:
        for value in values.values() if isinstance(values, dict) else values:
            if not value.strip():
                raise ValueError(f"an empty path or name in {values!r}")
        return values

    @field_validator("threads")
    @classmethod
    def _threads(cls, threads: int | None) -> int | None:
        limit = THREADS_PER_CPU * cpu_count()
        if threads is not None and threads > limit:
            raise ValueError(
                f"{threads} threads is more than {THREADS_PER_CPU} per CPU of this machine "
                f"({cpu_count()} CPUs: at most {limit})"
            )
        return threads

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        try:
            parts = urlsplit(url)
            port = parts.port  # a port that is not a number raises here
        except ValueError as error:
            raise ValueError(f"not a URL: {error}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
            raise ValueError(
                "--base-url must be an http:// or https:// address, e.g. http://host:8000/v1"
            )
        return url

    @field_validator("ray")
    @classmethod
    def _ray_address(cls, address: str | None) -> str | None:
        if address is None or address in ("local", "auto"):
            return address
        if not re.match(r"^(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d+$", address):
            raise ValueError(
                "ray must be 'local', 'auto' or a cluster address host:port (ray://host:port "
                f"for Ray Client), got {address!r}"
            )
        if not 0 < int(address.rpartition(":")[2]) < 65536:
            raise ValueError(f"the port of {address!r} is not in 1..65535")
        return address

    @field_validator("request_options")
    @classmethod
    def _request_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        from fteval.backends.openai_protocol import check_request_options

        try:
            return check_request_options(options)
        except ConfigError as error:
            raise ValueError(str(error)) from None

    @model_validator(mode="after")
    def _deployment(self) -> RunConfig:
        check_deployment(self)
        return self

    def arms(self) -> list[ArmSpec]:
        """The arms in evaluation order: base, adapters (as given), full, forms (as given)."""
        arms = [ArmSpec("base", "base", self.base, "base")]
        for name, path in self.adapters.items():
            arms.append(ArmSpec(name, "adapter", path, name.split("@", 1)[0]))
        if self.full is not None:
            arms.append(ArmSpec("full", "full", self.full, "full"))
        sources = {arm.name: arm for arm in arms}
        for name, (source, form) in self.form_sources().items():
            known = sources.get(source)  # an unknown source is refused by check_deployment
            path = form if is_served(form) else (known.path if known else source)
            arms.append(ArmSpec(name, "form", path, name, form=form, source=source))
        return arms

    def form_sources(self) -> dict[str, tuple[str, str]]:
        """Form arm name -> (the arm it derives from, its form)."""
        return {name: _split_form(name, value) for name, value in self.forms.items()}


def _split_form(name: str, value: str) -> tuple[str, str]:
    source, sep, form = value.partition(":")
    if not sep or not source or not form:
        raise ValueError(f"forms: {name!r} must be ARM:FORM (e.g. lora:merged-int8), got {value!r}")
    return source, form


def check_deployment(config: RunConfig) -> None:
    """Forms name an adapter or the full fine-tune and a form that applies to it; a
    quantized base needs a local base and the hf backend.

    Raises:
        ValueError: naming the form (or setting) and the value.
    """
    local_backends = ("hf", "fake")
    if config.base_quantization is not None and (config.backend != "hf" or is_served(config.base)):
        raise ValueError(
            f"base_quantization {config.base_quantization!r} needs the hf backend and a local "
            f"base (backend {config.backend!r}, base {config.base!r})"
        )
    kinds = {name: "adapter" for name in config.adapters}
    if config.full is not None:
        kinds["full"] = "full"
    for name, (source, form) in config.form_sources().items():
        if not ARM_NAME.fullmatch(name) or name in RESERVED_ARM_NAMES or name in kinds:
            raise ValueError(
                f"forms: name {name!r} must be a new arm name (1-64 letters, digits, '_', "
                "'.', '-', not base, full or an adapter's name)"
            )
        if source not in kinds:
            raise ValueError(
                f"forms: {name!r} derives from {source!r}, which is not an adapter or the "
                f"full fine-tune of this run (arms: {sorted(kinds)})"
            )
        try:
            check_form(form, kinds[source])
        except ValueError as error:
            raise ValueError(f"forms: {name!r}: {error}") from None
        served = {"adapter": config.adapters.get(source), "full": config.full}[kinds[source]]
        if served is not None and is_served(served) and not is_served(form):
            raise ValueError(
                f"forms: {name!r}: {source!r} is served ({served}); local forms need local weights"
            )
        if not is_served(form) and config.backend not in local_backends:
            raise ValueError(
                f"forms: {name!r} ({form}) needs local weights: the hf backend, not "
                f"{config.backend!r}"
            )


def check_margins(margins: Mapping[str, float]) -> dict[str, float]:
    """Non-inferiority margins: ``TASK`` or ``TASK/METRIC`` -> points, finite and >= 0.

    Raises:
        ValueError: an empty key, or a margin that is negative, NaN or infinite.
    """
    for key, margin in margins.items():
        task, _, metric = key.partition("/")
        if not task.strip() or ("/" in key and not metric.strip()):
            raise ValueError(f"{key!r} is not TASK or TASK/METRIC")
        if not math.isfinite(margin) or margin < 0:
            raise ValueError(f"the margin of {key!r} must be finite and >= 0 points, got {margin}")
    return dict(margins)


def _numeric(annotation: Any) -> bool:
    """Whether a field's type is a number (``int``, ``float``, optionally None)."""
    members = typing.get_args(annotation) or (annotation,)
    return bool({int, float} & set(members)) and bool not in members


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, Mapping):  # keys are names, refused by their own rules
        return any(_holds_nul(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(v) for v in value)
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_adapter_flags(values: list[str]) -> dict[str, str]:
    """``["lora=./dir", ...]`` -> ``{"lora": "./dir"}``; a bare path takes its folder name."""
    adapters: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            path = value
            name = Path(value.rstrip("/")).name or "adapter"
        if not name or not path:
            raise ConfigError(f"--adapter expects NAME=PATH, got {value!r}")
        if name in adapters:
            raise ConfigError(f"--adapter name {name!r} is given twice")
        adapters[name] = path
    return adapters


def parse_form_flags(values: Sequence[str]) -> dict[str, str]:
    """``["lora-int8=lora:merged-int8", ...]`` -> ``{"lora-int8": "lora:merged-int8"}``.

    Raises:
        ConfigError: a value that is not ``NAME=ARM:FORM``, or a name given twice.
    """
    forms: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or ":" not in rest.strip(":"):
            raise ConfigError(f"--form expects NAME=ARM:FORM (e.g. lora-int8=lora:merged-int8), "
                              f"got {value!r}")  # fmt: skip
        if name in forms:
            raise ConfigError(f"--form name {name!r} is given twice")
        forms[name] = rest
    return forms


def parse_name_paths(values: Sequence[str], flag: str, *, what: str = "NAME") -> dict[str, str]:
    """``["lora=run/trainer_state.json", ...]`` -> ``{"lora": "run/trainer_state.json"}``.

    Every value must be ``NAME=PATH`` (``what`` names the left side in errors) and every
    name may come once.
    """
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"{flag} expects {what}=PATH, got {value!r}")
        if name in pairs:
            raise ConfigError(f"{flag} {what.lower()} {name!r} is given twice")
        pairs[name] = path
    return pairs


def build_config(values: Mapping[str, Any], *, source: str = "arguments") -> RunConfig:
    """Validate ``values`` into a ``RunConfig``; errors name the key and the value."""
    try:
        return RunConfig.model_validate(dict(values))
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None


def load_config_file(path: str | Path, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Read a YAML run config; relative paths in it are relative to the file.

    ``overrides`` (from CLI flags) replace file values key by key.
    """
    path = Path(path)
    data = load_yaml(path, what="config file")
    if data is None:
        raise ConfigError(f"{path}: config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    data = {k: _resolve_relative(k, v, path.parent) for k, v in data.items()}
    data.update(overrides or {})
    return build_config(data, source=str(path))


def _resolve_relative(key: str, value: Any, folder: Path) -> Any:
    def resolve(item: str) -> str:
        candidate = folder / item
        return str(candidate) if not Path(item).is_absolute() and candidate.exists() else item

    if key == "out" and isinstance(value, str) and value.strip():
        return str(folder / value)  # an absolute value stays as it is
    if key in ("base", "full", "tokenizer", "judge") and isinstance(value, str):
        return resolve(value)
    if key == "data" and isinstance(value, dict):
        return {k: resolve(v) if isinstance(v, str) else v for k, v in value.items()}
    if key == "lmeval_include" and isinstance(value, list):
        return [resolve(v) if isinstance(v, str) else v for v in value]
    if key in ("tasks", "guardrails") and isinstance(value, list):
        return [resolve(v) if isinstance(v, str) else v for v in value]
    if key in ("adapters", "training_logs", "train_data") and isinstance(value, dict):
        return {k: resolve(v) if isinstance(v, str) else v for k, v in value.items()}
    if key == "perturbations" and isinstance(value, list):
        return [_resolve_perturbation(v, resolve) if isinstance(v, str) else v for v in value]
    return value


def _resolve_perturbation(spec: str, resolve: Any) -> str:
    """File options of a perturbation (``ood=FILE``, ``file=``, ``source=``) resolved."""
    if spec.startswith("ood="):
        return "ood=" + resolve(spec[len("ood=") :])
    return re.sub(
        r"(?<=[:,])(file|source)=([^,]+)", lambda m: f"{m.group(1)}={resolve(m.group(2))}", spec
    )


def _describe(error: ValidationError, source: str) -> str:
    return describe_validation_error(error, source, lambda _: RunConfig.model_fields)
