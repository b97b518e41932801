"""``fteval tasks``: list the built-in tasks; ``fteval tasks NAME --show N`` prints prompts.

``--show`` prints the first N examples exactly as the model sees them: the prompt
between markers, then the scored continuations (choice tasks) or the decoding settings
and reference (generation tasks). ``show_examples`` takes the loaded tasks, so other
views of a task (perturbed prompts) can reuse it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from fteval.cli._common import EXIT_OK


def add_parser(sub: Any) -> None:
    """Register ``tasks``."""
    tasks = sub.add_parser("tasks", help="list built-in tasks, or show a task's prompts")
    tasks.add_argument("name", nargs="?", help="a built-in task, lmeval:NAME or a task file")
    tasks.add_argument("--show", type=int, default=0, metavar="N", help="print N examples")
    tasks.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="a local copy of the task's data, as for run: --data NAME=PATH (NAME: the task "
        "or its data family, e.g. mmlu), or a bare PATH",
    )
    tasks.add_argument("--num-fewshot", type=int, help="shots (overrides the default)")
    tasks.add_argument(
        "--task-option", action="append", default=[], metavar="KEY=VALUE", help="a setting"
    )
    tasks.add_argument(
        "--lmeval-include",
        action="append",
        default=[],
        metavar="DIR",
        help="folder of your lm-evaluation-harness task YAMLs (for lmeval:NAME)",
    )
    tasks.add_argument(
        "--base",
        metavar="MODEL",
        help="with --show: measure each prompt with this model's tokenizer and context "
        "window and say what the window cuts (reads its tokenizer and config, no weights)",
    )
    tasks.add_argument(
        "--max-length", type=int, help="with --base: the context window in tokens (override)"
    )
    tasks.add_argument("--all", action="store_true", help="list every MMLU subject too")
    tasks.add_argument(
        "--perturb",
        action="append",
        default=[],
        metavar="NAME[:KEY=VALUE,...]",
        help="with --show: also print the examples perturbed (typo, paraphrase, ...)",
    )
    tasks.set_defaults(handler=tasks_command)


def tasks_command(args: argparse.Namespace) -> int:
    """Run ``fteval tasks``; returns the exit code."""
    from fteval.errors import ConfigError

    if args.show < 0:
        raise ConfigError(f"--show expects a number of examples >= 0, got {args.show}")
    if (args.base or args.max_length) and not args.show:
        raise ConfigError("--base and --max-length measure the shown prompts: add --show N")
    if args.name is None:
        if args.data or args.show or args.perturb:
            raise ConfigError("--data, --show and --perturb need a task: fteval tasks NAME ...")
        print_catalogue(sys.stdout, every=args.all)
        return EXIT_OK
    from fteval.tasks import load_tasks

    options = _options(args)
    describe_entry(sys.stdout, args.name)  # before the data load, which may fail offline
    sys.stdout.flush()
    tasks = load_tasks(args.name, limit=max(args.show, 1), options=options)
    describe_loaded(sys.stdout, tasks)
    if args.base:
        tasks = measured_cuts(tasks[:1], args.base, args.max_length, sys.stdout)
    if args.show:
        show_examples(sys.stdout, tasks[:1], args.show)  # a group: its first task
        if args.perturb:
            show_perturbed(sys.stdout, tasks[0], args.perturb, args.show)
    return EXIT_OK


def _options(args: argparse.Namespace) -> Any:
    """The task options the flags ask for (checked before any data is read)."""
    from fteval.tasks import TaskOptions
    from fteval.tasks.lmeval import check_include_folders

    check_include_folders(args.lmeval_include)
    settings = {}
    if args.task_option:
        from fteval.cli.run import _parse_task_options

        settings = _parse_task_options([f"{args.name}:{o}" for o in args.task_option])[args.name]
    return TaskOptions(
        data=data_for(args.name, args.data),
        num_fewshot=args.num_fewshot,
        settings=settings,
        lmeval_include=tuple(args.lmeval_include),
    )


def data_for(name: str, values: Sequence[str]) -> str | None:
    """The ``--data`` path for task ``name``: ``NAME=PATH`` as ``fteval run`` takes it
    (NAME: the task, or its data family such as ``mmlu``), or one bare path.

    Raises:
        ConfigError: a NAME that is not the task's, two paths, or an empty value.
    """
    from pathlib import Path

    from fteval.config import parse_name_paths
    from fteval.errors import ConfigError
    from fteval.pipeline.task_setup import family_of

    if not values:
        return None
    if len(values) > 1:
        raise ConfigError(f"--data is given {len(values)} times; task {name!r} takes one")
    value = values[0]
    if "=" not in value or Path(value).exists():
        if not value.strip():
            raise ConfigError("--data expects [NAME=]PATH, got ''")
        return value
    [(key, path)] = parse_name_paths([value], "--data").items()
    if key not in (name, family_of(name)):
        raise ConfigError(
            f"--data {key}=...: the task shown is {name!r}; give --data {family_of(name)}=PATH"
        )
    return path


def show_perturbed(out: TextIO, task: Any, perturbations: Sequence[str], n: int) -> None:
    """The first ``n`` examples of ``task`` under each perturbation (docs/robustness.md)."""
    import dataclasses

    from fteval.robustness import parse_perturbations, perturbed_tasks

    specs = parse_perturbations(perturbations)
    head = dataclasses.replace(task, examples=task.examples[:n])
    for spec, variant in zip(specs, perturbed_tasks(head, specs, limit=n)):
        signature = variant.examples[0].meta["perturbation_signature"] if variant.examples else ""
        out.write(f"\n##### perturbed: {spec.label} ({signature})\n")
        show_examples(out, [variant], len(variant.examples))


def print_catalogue(out: TextIO, *, every: bool = False) -> None:
    """One line per built-in: name, type, metrics, scoring, default shots, source."""
    from fteval.tasks.builtin import catalogue

    rows = [("task", "type", "metrics", "shots", "source", "scoring")]
    for name, entry in sorted(catalogue().items()):
        if not every and entry.data_key == "mmlu" and entry.members == 1:
            continue
        label = f"{name} ({entry.members} tasks)" if entry.members > 1 else name
        rows.append(
            (label, entry.kind, ",".join(entry.metrics), str(entry.default_shots),
             entry.source, entry.scoring)
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:5], widths)]
        out.write("  ".join(cells) + "  " + row[5] + "\n")
    if not every:
        out.write("(57 single MMLU subjects, mmlu_<subject>, are listed with --all)\n")
    out.write("Local copies: --data NAME=PATH; `fteval tasks NAME` names the formats.\n")


def describe_tasks(out: TextIO, name: str, tasks: Sequence[Any]) -> None:
    """What ``name`` loads: its tasks, kind, metrics, and the built-in's data formats."""
    describe_entry(out, name)
    describe_loaded(out, tasks)


def describe_entry(out: TextIO, name: str) -> None:
    """A built-in's catalogue entry: summary, scoring, shots, source and ``--data`` formats
    (nothing for other tasks)."""
    from fteval.tasks.builtin import catalogue

    entry = catalogue().get(name)
    if entry is None:
        return
    out.write(f"{name}: {entry.summary}\n")
    out.write(f"  scoring: {entry.scoring}\n  default shots: {entry.default_shots}\n")
    out.write(f"  source: {entry.source}\n  --data {entry.data_key}=PATH: {entry.formats}\n")
    if entry.settings:
        shown = ", ".join(f"{k}={v}" for k, v in entry.settings.items())
        out.write(f"  --task-option {name}:KEY=VALUE, defaults: {shown}\n")


def describe_loaded(out: TextIO, tasks: Sequence[Any]) -> None:
    """The loaded tasks: count, kind, metrics, shots and splits."""
    first = tasks[0]
    out.write(f"  tasks: {len(tasks)} ({first.name}{', ...' if len(tasks) > 1 else ''})\n")
    out.write(f"  type: {first.kind}; metrics: {', '.join(map(_metric_name, first.metrics))}\n")
    source = getattr(first.loader, "source", None)  # no Hub download just to list them
    splits = source.declared() if source is not None else (first.split,)
    out.write(f"  shots: {first.num_fewshot}; split: {first.split}; data splits: ")
    out.write(", ".join(splits) + "\n")


def _metric_name(metric: Any) -> str:
    if isinstance(metric, str):
        return metric
    options = ",".join(f"{k}={v}" for k, v in metric.items() if k != "name")
    return f"{metric['name']}({options})" if options else metric["name"]


def measured_cuts(
    tasks: Sequence[Any], base: str, max_length: int | None, out: TextIO
) -> list[Any]:
    """The tasks with ``meta.context_cut`` measured with ``base``'s tokenizer and window
    (``pipeline.truncation``; no weights load), and one line saying how many are cut."""
    from fteval.backends import make_backend
    from fteval.config import build_config
    from fteval.pipeline.run import backend_settings
    from fteval.pipeline.truncation import tag_task

    values: dict[str, Any] = {"base": base, "tasks": [tasks[0].name]}
    if max_length is not None:
        values["max_length"] = max_length
    config = build_config(values, source="flags")
    backend = make_backend("hf", config.arms()[:1], progress=False, **backend_settings(config))
    try:
        budget = backend.token_budget(config.arms()[0].name)
    finally:
        backend.close()
    if budget is None:
        out.write(f"{base}: no context window could be read; nothing measured\n")
        return list(tasks)
    measured = [tag_task(task, [budget]) for task in tasks]
    shown = [e for task in measured for e in task.examples]
    cut = [e for e in shown if e.meta.get("context_cut")]
    question = sum(bool(e.meta["context_cut"]["question"]) for e in cut)
    out.write(
        f"with {base}'s {budget.max_length}-token context window: {len(cut)} of the "
        f"{len(shown)} shown prompts are cut from the left, the question itself in {question}\n"
    )
    return measured


def show_examples(out: TextIO, tasks: Sequence[Any], n: int) -> None:
    """The first ``n`` examples of each task, as the model sees them."""
    for task in tasks:
        for example in task.examples[:n]:
            out.write(f"\n=== {task.name} / {example.example_id} : prompt ===\n")
            out.write(example.prompt)
            out.write("\n=== end of prompt ===\n")
            if task.kind == "multiple_choice":
                for label, continuation in zip(example.choices, example.continuations):
                    mark = "*" if label == example.target else " "
                    out.write(f"{mark} {label}: loglikelihood of {continuation!r}\n")
            elif task.generation is not None:
                spec = task.generation
                out.write(
                    f"generate: stop={list(spec.stop)!r} max_new_tokens={spec.max_new_tokens} "
                    f"temperature={spec.temperature} n={spec.n}\n"
                )
                out.write(f"target: {example.target!r}\n")
            cut = example.meta.get("context_cut")
            if cut:
                where = (
                    "the question itself is cut"
                    if cut["question"]
                    else "only instructions and few-shot examples are cut; the question is whole"
                )
                out.write(f"(the {cut['max_length']}-token context window cuts {cut['tokens']} "
                          f"tokens from the left of this prompt: {where})\n")  # fmt: skip
            truncation = example.meta.get("truncatable")
            if truncation:
                out.write(f"(field {task.truncate_field!r} at chars {truncation} may be cut "
                          "to fit the context window)\n")  # fmt: skip
