"""``fteval run``: evaluate base, adapters and full fine-tune on tasks."""

from __future__ import annotations

import argparse
from typing import Any

from fteval.cli._common import (
    REQUIRE_HELP,
    add_output_flags,
    add_stats_flags,
    check_trackers,
    gate,
    log_to_trackers,
    parse_margins,
    print_results,
)


def add_parser(sub: Any) -> None:
    """Register ``run``: its options in groups, each with its help (``fteval run --help``)."""
    run = sub.add_parser(
        "run",
        help="evaluate base, adapters and full fine-tune on tasks",
        description="Evaluate a base model, LoRA adapters and a full fine-tune on the same "
        "items; print the headline (did each fine-tune help?) and write a run directory. "
        "Every option is also a key of a YAML run config (docs/tasks.md, docs/records.md).",
    )
    run.add_argument("config", nargs="?", help="a YAML run config (flags override its keys)")
    _add_model_flags(run.add_argument_group("models", "what is compared"))
    tasks = run.add_argument_group("tasks", "what is asked (docs/tasks.md, docs/benchmarks.md)")
    _add_task_flags(tasks)
    add_selection_flags(tasks)
    add_stats_flags(run.add_argument_group("statistics", "docs/statistics.md"))
    robustness = run.add_argument_group(
        "robustness", "what the clean score hides (docs/robustness.md)"
    )
    robustness.add_argument(
        "--non-inferiority",
        action="append",
        default=[],
        metavar="TASK[/METRIC]=PTS",
        help="guardrail: largest tolerated drop vs base, in points (repeatable)",
    )
    add_robustness_flags(robustness)
    add_deployment_flags(
        run.add_argument_group(
            "deployment", "quantized bases and deployment forms (docs/deployment.md)"
        )
    )
    _add_gate_flags(run.add_argument_group("gate", "the CI gate: exit 3 when it fails"))
    output = run.add_argument_group("output", "what is printed and written")
    output.add_argument("--out", help="run directory (default runs/<UTC time>)")
    add_output_flags(output)
    output.add_argument(
        "--verbose", action="store_true", help="log progress on stderr; show tracebacks"
    )
    _add_performance_flags(
        run.add_argument_group("performance", "how the work runs (same numbers either way)")
    )
    _add_scale_flags(run.add_argument_group("scale", "servers, vLLM and Ray (docs/scale.md)"))
    run.set_defaults(handler=run_command)


def _add_model_flags(group: Any) -> None:
    group.add_argument(
        "--base", help="base model: a directory, a Hub id, or openai:NAME (a served model)"
    )
    group.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a LoRA adapter on the base (repeatable); NAME@seedN groups seeds of one "
        "adapter; stepN / checkpoint-N names form a checkpoint series",
    )
    group.add_argument("--full", help="fully fine-tuned checkpoint (or openai:NAME[@URL])")
    group.add_argument(
        "--backend",
        choices=["hf", "fake", "vllm", "openai"],
        help="who answers: hf (transformers + peft, default), vllm, openai (a served "
        "OpenAI-compatible endpoint) or fake (tests)",
    )
    group.add_argument(
        "--dtype",
        choices=["auto", "float32", "float16", "bfloat16"],
        help="weights' dtype (auto: float32 on CPU, the checkpoint's on GPU)",
    )
    group.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    group.add_argument(
        "--max-length", type=int, help="context window override, in tokens (<= the model's)"
    )
    group.add_argument(
        "--add-bos-token",
        choices=["auto", "true", "false"],
        help="BOS before every input; auto follows lm-evaluation-harness (BOS for Gemma only)",
    )
    group.add_argument(
        "--allow-base-mismatch",
        action="store_true",
        default=None,
        help="evaluate an adapter whose recorded base is another model (recorded)",
    )
    group.add_argument(
        "--allow-pickle",
        action="store_true",
        default=None,
        help="allow pickled .bin weights (unpickling can run code)",
    )
    group.add_argument(
        "--trust-remote-code",
        action="store_true",
        default=None,
        help="run the model repository's own Python code (off by default)",
    )


def _add_task_flags(group: Any) -> None:
    group.add_argument(
        "--task",
        action="append",
        default=[],
        help="a built-in task (fteval tasks), a glob of them ('mmlu_*'), lmeval:NAME or a "
        "task file (repeatable)",
    )
    group.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a local copy of a built-in task's data (repeatable; formats: fteval tasks NAME)",
    )
    group.add_argument(
        "--task-option",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE",
        help="a built-in task's setting, e.g. humaneval:n_samples=10 (repeatable)",
    )
    group.add_argument(
        "--lmeval-include",
        action="append",
        default=[],
        metavar="DIR",
        help="folder of your lm-evaluation-harness task YAMLs (for --task lmeval:NAME)",
    )
    group.add_argument(
        "--judge",
        help="judge model of judged tasks (alpaca_eval): a local model or openai:NAME[@URL]",
    )
    group.add_argument(
        "--seed", type=int, help="seed of sampled decoding and of every statistic (1234)"
    )


def _add_gate_flags(group: Any) -> None:
    group.add_argument(
        "--fail-on",
        choices=["regression", "inconclusive", "none"],
        help="regression: exit 3 on a significant regression vs base (or a missed "
        "non-inferiority margin); inconclusive: also on a comparison too small to decide; "
        "default none here (fteval check defaults to regression)",
    )
    group.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="TASK[/METRIC][@ARM]=WANT",
        help=REQUIRE_HELP,
    )


def _add_performance_flags(group: Any) -> None:
    group.add_argument("--batch-size", type=int, help="most rows per forward pass")
    group.add_argument(
        "--batch-tokens", type=int, help="padded tokens per forward pass (default: by device)"
    )
    group.add_argument(
        "--threads", type=int, help="CPU threads for torch (default: chosen on a probe)"
    )
    group.add_argument(
        "--adapter-serving",
        choices=["auto", "merge_restore", "switch", "per_row"],
        help="auto (a rule measured on this device: base and adapters in one pass per "
        "batch, or one arm at a time merged in float32 and switched in 16-bit), "
        "merge_restore, switch or per_row",
    )
    group.add_argument(
        "--cache-dir", help="response cache folder, or 'off' (default ~/.cache/fteval)"
    )
    group.add_argument(
        "--flush-every", type=int, help="examples between sample-file flushes (resume points)"
    )


def add_selection_flags(run: Any) -> None:
    """Which items and shots each task gets, per task or for all (docs/tasks.md)."""
    run.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="[TASK=]N",
        help="at most N examples of every task, or of TASK (a name, group or glob such as "
        "'mmlu_*'; repeatable)",
    )
    run.add_argument(
        "--limit-sampling",
        choices=["first", "random"],
        help="which N examples a limit keeps: the first (default) or N drawn at random",
    )
    run.add_argument("--limit-seed", type=int, help="seed of --limit-sampling random (default 0)")
    run.add_argument(
        "--num-fewshot",
        action="append",
        default=[],
        metavar="[TASK=]N",
        help="shots of every task, or of TASK (a name, group or glob; repeatable)",
    )


def _selection_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from fteval.tasks.selection import parse_per_task

    values: dict[str, Any] = {}
    for key, flag in (("limit", "--limit"), ("num_fewshot", "--num-fewshot")):
        parsed = parse_per_task(getattr(args, key), flag)
        if parsed is not None:
            values[key] = parsed
    for key in ("limit_sampling", "limit_seed"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    return values


def add_robustness_flags(run: Any) -> None:
    """Perturbations, slices, training logs, guardrails, contamination (docs/robustness.md)."""
    run.add_argument(
        "--perturb",
        action="append",
        default=[],
        metavar="NAME[:KEY=VALUE,...]",
        help="perturb inputs (repeatable): typo, casing, whitespace, punctuation, "
        "contraction, expansion, paraphrase, long, ood=FILE",
    )
    run.add_argument("--brittle-threshold", type=float, help="brittle below this x clean (0.9)")
    run.add_argument(
        "--no-temperature-scaling",
        dest="temperature_scaling",
        action="store_false",
        default=None,
        help="do not score choice tasks' validation splits to fit a temperature (saves "
        "that inference; calibration is still measured on the test items)",
    )
    run.add_argument(
        "--slice", action="append", default=[], metavar="FIELD", help="data field or 'length'"
    )
    run.add_argument(
        "--training-log",
        action="append",
        default=[],
        metavar="ARM=PATH",
        help="trainer_state.json or CSV of step, train loss, validation loss",
    )
    run.add_argument(
        "--guardrail",
        action="append",
        default=[],
        metavar="TASK",
        help="a task that must not get worse (non-inferiority; repeatable)",
    )
    run.add_argument("--guardrail-margin", type=float, help="guardrail margin, points (1)")
    run.add_argument(
        "--train-data",
        action="append",
        default=[],
        metavar="ARM=PATH",
        help="the arm's training data, to find test items in it (contamination)",
    )


def _robustness_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from fteval.config import parse_name_paths

    values: dict[str, Any] = {}
    for key, flag in (
        ("perturbations", "perturb"),
        ("slices", "slice"),
        ("guardrails", "guardrail"),
    ):
        if getattr(args, flag):
            values[key] = getattr(args, flag)
    if args.temperature_scaling is not None:
        values["temperature_scaling"] = args.temperature_scaling
    if args.training_log:
        values["training_logs"] = parse_name_paths(args.training_log, "--training-log", what="ARM")
    if args.train_data:
        values["train_data"] = parse_name_paths(args.train_data, "--train-data", what="ARM")
    return values


def add_deployment_flags(run: Any) -> None:
    """Quantized bases and deployment forms (docs/deployment.md)."""
    run.add_argument(
        "--base-quantization",
        choices=["nf4", "fp4", "int8"],
        help="load the base quantized with bitsandbytes, as QLoRA training did (nf4); "
        "adapters are served unmerged on it (fteval[quant])",
    )
    run.add_argument(
        "--form",
        action="append",
        default=[],
        metavar="NAME=ARM:FORM",
        help="evaluate a deployment form of an arm as an arm, compared with it for parity "
        "(repeatable): merged, unmerged, merged-int8, merged-nf4, base-nf4, ... of an "
        "adapter; int8, nf4, fp4 of full; openai:MODEL[@URL] (served)",
    )
    run.add_argument(
        "--parity-margin",
        type=float,
        help="largest tolerated drop of a form vs the arm it derives from, points (1)",
    )


def _deployment_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from fteval.config import parse_form_flags

    values: dict[str, Any] = {}
    if args.form:
        values["forms"] = parse_form_flags(args.form)
    for key in ("base_quantization", "parity_margin"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    return values


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from fteval.config import parse_adapter_flags, parse_name_paths

    values: dict[str, Any] = {}
    if args.base is not None:
        values["base"] = args.base
    if args.adapter:
        values["adapters"] = parse_adapter_flags(args.adapter)
    if args.task:
        values["tasks"] = args.task
    if args.non_inferiority:
        values["non_inferiority"] = parse_margins(args.non_inferiority)
    if args.engine_arg:
        values["engine_args"] = _parse_engine_args(args.engine_arg)
    if args.request_option:
        from fteval.backends.openai_protocol import parse_request_options

        values["request_options"] = parse_request_options(args.request_option)
    if args.data:
        values["data"] = parse_name_paths(args.data, "--data")
    if args.task_option:
        values["task_options"] = _parse_task_options(args.task_option)
    if args.lmeval_include:
        values["lmeval_include"] = args.lmeval_include
    values.update(_robustness_overrides(args))
    values.update(_selection_overrides(args))
    values.update(_deployment_overrides(args))
    for key in (
        "full",
        "out",
        "backend",
        "batch_size",
        "dtype",
        "device",
        "seed",
        "max_length",
        "allow_base_mismatch",
        "allow_pickle",
        "trust_remote_code",
        "adapter_serving",
        "batch_tokens",
        "threads",
        "add_bos_token",
        "cache_dir",
        "flush_every",
        "base_url",
        "api_key_env",
        "tokenizer",
        "concurrency",
        "request_timeout_s",
        "max_retries",
        "ray",
        "ray_workers",
        "judge",
        "bootstrap_resamples",
        "permutations",
        "ci_method",
        "correction",
        "correction_scope",
        "alpha",
        "confidence",
        "fail_on",
        "brittle_threshold",
        "guardrail_margin",
    ):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    return values


def run_command(args: argparse.Namespace) -> int:
    """Run ``fteval run``; returns the exit code."""
    from fteval.api import run
    from fteval.compare.gate import Requirement
    from fteval.config import build_config, load_config_file

    requirements = [Requirement.parse(text) for text in args.require]  # before the run:
    check_trackers(args.log_to)  # a typo must not cost a whole evaluation
    overrides = _run_overrides(args)
    config = (
        load_config_file(args.config, overrides)
        if args.config
        else build_config(overrides, source="flags")
    )
    arms = [arm.name for arm in config.arms() if arm.kind != "base"]
    for requirement in requirements:
        requirement.check_before_run(arms, config.non_inferiority)
    results = dict(run(config, progress=not args.quiet))  # the results object and run_dir
    print_results(results, as_json=args.json, quiet=args.quiet, details=args.details)
    log_to_trackers(args.log_to, results.get("run_dir"))
    return gate(results, fail_on=config.fail_on, require=args.require)


def _add_scale_flags(run: Any) -> None:
    """Flags of the vllm and openai backends and of Ray (docs/scale.md)."""
    run.add_argument("--base-url", help="openai backend: server address, e.g. http://host:8000/v1")
    run.add_argument("--api-key-env", help="openai backend: environment variable with the API key")
    run.add_argument(
        "--tokenizer", help="openai backend: the served model's tokenizer (exact token boundary)"
    )
    run.add_argument("--concurrency", type=int, help="openai backend: requests in flight")
    run.add_argument(
        "--request-timeout-s", type=float, help="openai backend: seconds per connect/read"
    )
    run.add_argument("--max-retries", type=int, help="openai backend: retries per request")
    run.add_argument(
        "--request-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="openai backend: a field sent in every request body, VALUE read as JSON "
        "(repeatable), e.g. repeat_penalty=1.0 for llama.cpp",
    )
    run.add_argument(
        "--engine-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="vllm backend: a vllm.LLM argument (repeatable; VALUE read as YAML)",
    )
    run.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run on a Ray cluster at ADDRESS (none: start a local one)",
    )
    run.add_argument("--ray-workers", type=int, help="Ray workers (default: one per GPU)")


def _parse_engine_args(values: list[str]) -> dict[str, Any]:
    import yaml

    from fteval.errors import ConfigError

    parsed: dict[str, Any] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--engine-arg expects KEY=VALUE, got {value!r}")
        try:
            parsed[key] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"--engine-arg {key}: cannot read {text!r}: {error}") from None
    return parsed


def _parse_task_options(values: list[str]) -> dict[str, dict[str, object]]:
    """``["humaneval:n_samples=10"]`` -> ``{"humaneval": {"n_samples": "10"}}``.

    Values stay text: the task's own declaration types and range-checks them
    (``fteval._util.options``) before any task loads. Several ``KEY=VALUE`` pairs may
    follow one ``NAME:``, separated by commas; a key given twice for one task is an error
    (whichever came last would otherwise silently win).
    """
    from fteval.errors import ConfigError

    options: dict[str, dict[str, object]] = {}
    for value in values:
        task, sep, rest = value.partition(":")
        pairs = [item.partition("=") for item in rest.split(",")] if sep else []
        if not task.strip() or not pairs or any(not k.strip() or not eq for k, eq, _ in pairs):
            raise ConfigError(f"--task-option expects NAME:KEY=VALUE, got {value!r}")
        settings = options.setdefault(task, {})
        for key, _, text in pairs:
            if key.strip() in settings:
                raise ConfigError(
                    f"--task-option {task}:{key.strip()} is given twice "
                    f"({settings[key.strip()]!r} and {text.strip()!r}); give it once"
                )
            settings[key.strip()] = text.strip()
    return options
