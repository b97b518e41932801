"""Any lm-evaluation-harness task, run through fteval's backends and statistics.

``--task lmeval:NAME`` (``fteval[lmeval]``; ``--lmeval-include DIR`` adds the user's own
task YAMLs) asks lm-evaluation-harness's ``TaskManager`` for the task (a group expands
to its tasks), sets its shots (``--num-fewshot``, else the task's default, else 0) and
its few-shot seed (1234, its default), and builds its documents and requests exactly as
it would. Each document becomes one fteval example: the shared context is the prompt;
``multiple_choice`` and ``loglikelihood`` requests become the scored continuations,
``generate_until`` requests a generation with the task's stop sequences, token limit and
temperature. Every arm answers them through fteval's backends (one loaded base, the
response cache, the paired statistics).

Per-item scores come from the task's own code: after each chunk of answers, the task's
filters are applied and its ``process_results`` is called per document; the values of
metrics aggregated by a mean are stored in the sample's ``meta["lmeval"]`` (so a run
directory re-scores without lm-evaluation-harness) and read by the ``lmeval_metric``
metric. A metric aggregated otherwise (corpus F1, perplexity) is skipped with a warning.
Metric keys are lm-evaluation-harness's: ``acc``, ``acc_norm``, and ``metric,filter``
for filtered generations (``exact_match,strict-match``).

lm-evaluation-harness is imported only here, only when such a task is asked for.
"""

from __future__ import annotations

import copy
import logging
import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fteval._util.options import check_settings
from fteval.errors import ConfigError, MissingDependencyError
from fteval.records import Example, SampleResult
from fteval.tasks.options import SETTING_RULES, TaskOptions
from fteval.tasks.task import GenerationSpec, Task

logger = logging.getLogger(__name__)

FEWSHOT_SEED = 1234  # lm-evaluation-harness's default fewshot_random_seed
DEFAULT_MAX_GEN_TOKS = 256
SUPPORTED = ("multiple_choice", "loglikelihood", "generate_until")


def check_include_folders(folders: Iterable[str]) -> None:
    """Each ``--lmeval-include`` folder must exist and be a folder.

    Raises:
        ConfigError: naming the folder.
    """
    for folder in folders:
        path = Path(folder)
        if not path.exists():
            raise ConfigError(f"--lmeval-include {folder}: no such folder")
        if not path.is_dir():
            raise ConfigError(f"--lmeval-include {folder}: is a file, not a folder of task YAMLs")


def load_lmeval_tasks(name: str, options: TaskOptions) -> list[Task]:
    """The fteval tasks of lm-evaluation-harness task (or group) ``name``."""
    check_include_folders(options.lmeval_include)
    try:
        from lm_eval.tasks import TaskManager
    except ModuleNotFoundError:
        raise MissingDependencyError("lm-eval", "lmeval", f"task lmeval:{name}") from None
    if options.data is not None or options.settings:
        raise ConfigError(f"lmeval:{name}: --data and --task-option do not apply (use the YAML)")
    include = [str(p) for p in options.lmeval_include] or None
    loaded = None
    if include:
        # the user's folders alone first: indexing every built-in YAML takes seconds
        try:
            loaded = TaskManager(include_path=include, include_defaults=False).load(name)
        except (KeyError, ValueError):
            loaded = None
    if loaded is None:
        try:
            loaded = TaskManager(include_path=include).load(name)
        except (KeyError, ValueError) as error:
            raise ConfigError(
                f"lmeval:{name}: lm-evaluation-harness does not know it ({error})"
            ) from None
    tasks = loaded["tasks"]
    if not tasks:
        raise ConfigError(f"lmeval:{name}: no tasks")
    group = (name,) if len(tasks) > 1 else ()
    return [_convert(task_name, task, options, group) for task_name, task in tasks.items()]


def _configure(task: Any, options: TaskOptions, name: str, group: tuple[str, ...]) -> int:
    """Shots and few-shot seed as ``lm_eval.simple_evaluate`` sets them; the shots used."""
    default = task.get_config("num_fewshot")
    asked = options.shots_for(name, group)
    if asked is not None and default != 0:
        task.set_config(key="num_fewshot", value=asked)
    elif default is None:
        task.set_config(key="num_fewshot", value=0)
    task.set_fewshot_seed(seed=FEWSHOT_SEED)
    return int(task.get_config("num_fewshot") or 0)


def _convert(task_name: str, task: Any, options: TaskOptions, group: tuple[str, ...]) -> Task:
    output_type = task.get_config("output_type")
    if output_type not in SUPPORTED:
        raise ConfigError(
            f"lmeval:{task_name}: output_type {output_type!r} is not supported yet "
            f"(supported: {', '.join(SUPPORTED)})"
        )
    if getattr(task, "multiple_input", False):
        raise ConfigError(f"lmeval:{task_name}: multiple-input tasks are not supported yet")
    name = f"lmeval_{task_name}".replace(" ", "_")[:64]
    shots = _configure(task, options, name, group)
    try:
        task.build_all_requests(rank=0, world_size=1)
    except ValueError as error:  # its sampler: "Sample larger than population"
        raise ConfigError(f"lmeval:{task_name}: {shots}-shot prompts: {error}") from None
    by_doc: dict[int, list[Any]] = {}
    for instance in task.instances:
        by_doc.setdefault(instance.doc_id, []).append(instance)
    for instances in by_doc.values():
        instances.sort(key=lambda inst: inst.idx)
    metrics, keys = _metrics(task_name, task)
    examples = [_example(task_name, task, doc_id, insts) for doc_id, insts in by_doc.items()]
    generation = None
    if output_type == "generate_until":
        generation = _generation(task_name, by_doc)
    labels: tuple[str, ...] = ()
    return Task(
        name=name,
        kind="generate" if output_type == "generate_until" else "multiple_choice",
        examples=tuple(examples),
        metrics=tuple(metrics),
        labels=labels,
        source=f"lmeval:{task_name}",
        data_sha256={"lm_eval_task": task_name, "num_fewshot": str(shots)},
        generation=generation,
        groups=group,
        postprocess=_Scorer(task, by_doc, keys, output_type),
        num_fewshot=shots,
    )


def _metrics(task_name: str, task: Any) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Fteval metric specs and their (metric, filter) keys: the mean-aggregated metrics."""
    aggregation = task.aggregation()
    better = task.higher_is_better()
    means = [m for m, fn in aggregation.items() if getattr(fn, "__name__", "") == "mean"]
    skipped = sorted(set(aggregation) - set(means))
    if skipped:
        logger.warning(
            "lmeval:%s: metrics not aggregated by a mean are skipped: %s", task_name, skipped
        )
    if not means:
        raise ConfigError(
            f"lmeval:{task_name}: no metric aggregated by a mean ({sorted(aggregation)})"
        )
    filters = [f.name for f in getattr(task, "_filters", [])] or ["none"]
    specs, keys = [], []
    for filter_name in filters:
        for metric in means:
            key = metric if filter_name == "none" else f"{metric},{filter_name}"
            keys.append((metric, filter_name))
            specs.append(
                {
                    "name": "lmeval_metric",
                    "key": key,
                    "higher_is_better": bool(better.get(metric, True)),
                }
            )
    return specs, keys


def _example(task_name: str, task: Any, doc_id: int, instances: list[Any]) -> Example:
    contexts = {inst.arguments[0] for inst in instances}
    if len(contexts) != 1:
        raise ConfigError(f"lmeval:{task_name}: document {doc_id} has several contexts")
    context = contexts.pop()
    if instances[0].request_type == "generate_until":
        target = task.doc_to_target(instances[0].doc)
        return Example(str(doc_id), context, _as_text(target), meta={"doc_id": doc_id})
    continuations = tuple(inst.arguments[1] for inst in instances)
    labels = _labels(len(continuations))
    target = task.doc_to_target(instances[0].doc)
    gold = labels[target] if isinstance(target, int) and 0 <= target < len(labels) else labels[0]
    meta = {"doc_id": doc_id, "choice_chars": [len(c.lstrip()) for c in continuations]}
    return Example(str(doc_id), context, gold, labels, continuations, meta)


def _labels(n: int) -> tuple[str, ...]:
    if n <= 26:
        return tuple(string.ascii_uppercase[:n])
    return tuple(str(i) for i in range(n))


def _as_text(target: Any) -> Any:
    if isinstance(target, list):
        return [str(t) for t in target]
    return str(target)


def _generation(task_name: str, by_doc: dict[int, list[Any]]) -> GenerationSpec:
    settings = {repr(sorted(insts[0].arguments[1].items())) for insts in by_doc.values()}
    if len(settings) != 1:
        raise ConfigError(f"lmeval:{task_name}: documents differ in generation settings")
    kwargs = dict(next(iter(by_doc.values()))[0].arguments[1])
    until = kwargs.get("until") or []
    until = [until] if isinstance(until, str) else list(until)
    defaults = {
        "do_sample": False, "temperature": 0.0, "top_p": 1.0,
        "max_gen_toks": DEFAULT_MAX_GEN_TOKS,
    }  # fmt: skip
    read = check_settings(  # the task YAML's values, typed and ranged by the one rule
        f"lmeval:{task_name} (generation_kwargs)",
        {k: v for k, v in kwargs.items() if k in defaults},
        defaults,
        SETTING_RULES | {"max_gen_toks": SETTING_RULES["max_new_tokens"]},
    )
    sampled = read["do_sample"]
    return GenerationSpec(
        stop=tuple(until),
        max_new_tokens=read["max_gen_toks"],
        temperature=read["temperature"] if sampled else 0.0,
        top_p=read["top_p"] if sampled else 1.0,
    )


class _Scorer:
    """Fills ``meta["lmeval"]`` with the task's own per-document metric values."""

    def __init__(
        self, task: Any, by_doc: dict[int, list[Any]], keys: Sequence[tuple[str, str]], kind: str
    ) -> None:
        self.task = task
        self.by_doc = by_doc
        self.keys = list(keys)
        self.kind = kind

    def __call__(self, samples: Sequence[SampleResult]) -> None:
        for sample in samples:
            instances = [copy.copy(i) for i in self.by_doc[int(sample.example_id)]]
            for instance in instances:
                instance.filtered_resps = {}
            if self.kind == "generate_until":
                texts = sample.meta.get("samples") or [sample.generation or ""]
                instances[0].resps = list(texts)
            else:
                greedy = sample.meta.get("is_greedy") or []
                for instance, logprob, is_greedy in zip(
                    instances, sample.choice_logprobs or [], greedy
                ):
                    instance.resps = [(float(logprob), bool(is_greedy))]
            for ensemble in getattr(self.task, "_filters", []):
                ensemble.apply(instances)
            doc = instances[0].doc
            values: dict[str, float] = {}
            for filter_name in dict.fromkeys(f for _, f in self.keys):
                resps = [inst.filtered_resps.get(filter_name, inst.resps[0]) for inst in instances]
                results = self.task.process_results(doc, resps)
                for metric, value in results.items():
                    key = metric if filter_name == "none" else f"{metric},{filter_name}"
                    values[key] = float(value)
            sample.meta["lmeval"] = values
