"""Hugging Face model cards for the fine-tuned arms: one card per arm.

A card is what a model repository's README.md starts with: YAML front matter whose
``model-index`` follows the Hub's model card metadata spec (hub-docs ``modelcard.md``;
``huggingface_hub`` parses it into ``EvalResult`` records), then prose. The model-index
names the model (``--model-name``, else the adapter's or model's folder name, or its Hub
id), and per task: the task type, the dataset (``type``: the Hub dataset id where the
task has one, ``config``, ``split``, ``revision`` when known, ``args``: the shots and the
limit actually used, as ``num_few_shot`` like the Open LLM Leaderboard's cards) and the
metrics in display units (percent for proportions). ``verified`` is always false: the
numbers are self-reported.

The model-index has no field for an interval, a comparison or a warning, so the prose
says, per task, where its data came from, each value's confidence interval, its delta vs
the base model with the verdict, the adjusted p-value and the test, and — for a task
whose prompts the context window cut — the sentence every report uses
(``report.headline.cut_sentence``); that task's dataset ``name`` says so too, so the
Hub's evaluation table shows it beside the numbers.

Facts come from results.json and, for the data (split, Hub dataset, revision, shots,
limit), from the manifest's task records; without a manifest the card says less.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml

from fteval.compare.rows import TruncationRow
from fteval.errors import ConfigError
from fteval.records import atomic_write_text
from fteval.records.rows import Arm, Comparison, Score, TaskRecord
from fteval.report.headline import cut_sentence
from fteval.report.numbers import (
    decimals_for,
    delta_unit,
    fmt,
    fmt_interval,
    fmt_p,
    unit,
)

FINE_TUNED_KINDS = ("adapter", "full")
KIND_WORDS = {"adapter": "adapter", "full": "full fine-tune"}
TEST_NAMES = {
    "mcnemar_exact": "exact McNemar test",
    "paired_permutation": "paired permutation test",
    "max_permutation": "max-statistic permutation test",
}
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+=-]")


def hub_metric_type(metric: str) -> str:
    """The Hub's metric id for an fteval metric key (``acc`` -> ``accuracy``)."""
    if metric in ("acc", "acc_norm") or metric.startswith("acc_"):
        return "accuracy"
    for prefix, hub in (
        ("f1", "f1"),
        ("precision", "precision"),
        ("recall", "recall"),
        ("rouge", "rouge"),
        ("pass@", "code_eval"),
    ):
        if metric.startswith(prefix):
            return hub
    return {
        "exact_match": "exact_match",
        "em": "exact_match",
        "squad_em": "exact_match",
        "squad_f1": "f1",
        "bleu": "bleu",
        "chrf": "chrf",
        "meteor": "meteor",
        "bertscore": "bertscore",
        "perplexity": "perplexity",
    }.get(metric, metric)


def hub_task_type(kind: str, labels: Sequence[str] = ()) -> str:
    """The Hub's task type for an fteval task kind."""
    if kind == "multiple_choice":
        return "text-classification" if labels else "multiple-choice"
    return "text-generation"


# ---- what the card says of each task's data ----


@dataclass(frozen=True)
class CardData:
    """Where one task's items came from and how many were used.

    Attributes:
        task: the task (or task group) name.
        hub_id: the Hub dataset id, or None (the task's own files).
        config: the dataset configuration, or None.
        split: the split evaluated, or None (unknown).
        revision: the dataset revision read, or None (unknown or unpinned).
        loaded_from: ``hub``, ``local copy``, or None (unknown).
        source: where fteval took the task from (a task file, ``builtin:NAME``...).
        shots: few-shot examples per prompt, or None (unknown).
        n: items evaluated (0: unknown).
        n_available: items before the limit, or None (no limit, or unknown).
        limit: the limit applied, or None.
        limit_sampling: ``first`` or ``random``, with a limit.
        limit_seed: the seed of a random limit.
        members: tasks a group's row stands for (1 for a task).
        args: the model-index ``dataset.args``: ``num_few_shot``, and ``limit``,
            ``limit_sampling`` (and ``limit_seed``) when a limit was applied.
    """

    task: str
    hub_id: str | None = None
    config: str | None = None
    split: str | None = None
    revision: str | None = None
    loaded_from: str | None = None
    source: str = ""
    shots: int | None = None
    n: int = 0
    n_available: int | None = None
    limit: int | None = None
    limit_sampling: str | None = None
    limit_seed: int | None = None
    members: int = 1
    args: Mapping[str, Any] = field(default_factory=dict)

    def index_dataset(self, cut: TruncationRow | None) -> dict[str, Any]:
        """The model-index ``dataset`` mapping (keys left out when unknown)."""
        name = self.task
        if cut is not None:
            name += f" (prompts cut by the context window: {cut.share_cut:.0%})"
        out: dict[str, Any] = {"type": self.hub_id or self.task, "name": name}
        for key, value in (
            ("config", self.config),
            ("split", self.split),
            ("revision", self.revision),
        ):
            if value is not None:
                out[key] = value
        if self.args:
            out["args"] = dict(self.args)
        return out

    def items_text(self) -> str:
        """``"100 of 872 (the first 100)"``, or the count when no limit was set."""
        if self.limit is None or self.n_available is None or self.n >= self.n_available:
            return f"{self.n:,}" if self.n else "–"
        how = (
            f"a random {self.n:,}, seed {self.limit_seed}"
            if self.limit_sampling == "random"
            else f"the first {self.n:,}"
        )
        return f"{self.n:,} of {self.n_available:,} ({how})"

    def dataset_text(self) -> str:
        """The dataset in words: Hub id and configuration, else the file (its name only)
        or other source the task came from."""
        if self.hub_id is None:
            return PurePosixPath(self.source).name or "–"
        text = f"{self.hub_id} ({self.config})" if self.config else self.hub_id
        if self.loaded_from == "local copy":
            text += ", a local copy"
        return text


def _args(record: Mapping[str, Any]) -> dict[str, Any]:
    """The model-index ``dataset.args``: the shots and the limit as used."""
    out: dict[str, Any] = {}
    if record.get("num_fewshot") is not None:
        out["num_few_shot"] = int(record["num_fewshot"])
    if record.get("limit") is not None:
        out["limit"] = int(record["limit"])
        out["limit_sampling"] = record.get("limit_sampling") or "first"
        if record.get("limit_seed") is not None:
            out["limit_seed"] = record["limit_seed"]
    return out


def task_data(task: TaskRecord, record: Mapping[str, Any] | None) -> CardData:
    """A task's ``CardData`` from its results record and its manifest record (None: the
    manifest is not at hand; the Hub id then comes from the built-in's source alone)."""
    record = record or {}
    # a manifest written before the dataset was recorded: the built-in's Hub id only
    dataset = record["dataset"] if "dataset" in record else _builtin_dataset(task.source)
    dataset = dataset or {}
    n = int(task.n_examples or record.get("n_examples") or 0)
    return CardData(
        task=task.name,
        hub_id=dataset.get("id"),
        config=dataset.get("config"),
        split=record.get("split"),
        revision=dataset.get("revision"),
        loaded_from=dataset.get("loaded_from"),
        source=task.source,
        shots=record.get("num_fewshot"),
        n=n,
        n_available=record.get("n_available") if record.get("limit") is not None else None,
        limit=record.get("limit"),
        limit_sampling=record.get("limit_sampling"),
        limit_seed=record.get("limit_seed"),
        args=_args(record),
    )


def _builtin_dataset(source: str) -> dict[str, Any] | None:
    """The Hub id of a built-in task's data (its revision unknown without the manifest)."""
    if not source.startswith("builtin:"):
        return None
    from fteval.tasks.builtin import hub_dataset  # the catalogue loads only when asked

    hub = hub_dataset(source)
    return {"id": hub.path, "config": hub.name} if hub is not None else None


def group_data(name: str, members: Sequence[CardData]) -> CardData:
    """A task group's ``CardData``: what its members share (a field they disagree on is
    left unknown), their items summed."""

    def shared(attribute: str) -> Any:
        values = {repr(getattr(m, attribute)) for m in members}
        return getattr(members[0], attribute) if len(values) == 1 else None

    available = [m.n_available for m in members]
    args = {
        key: value
        for key, value in members[0].args.items()
        if all(m.args.get(key) == value for m in members)
    }
    return CardData(
        task=name,
        hub_id=shared("hub_id"),
        config=shared("config"),
        split=shared("split"),
        revision=shared("revision"),
        loaded_from=shared("loaded_from"),
        source=shared("source") or "",
        shots=shared("shots"),
        n=sum(m.n for m in members),
        n_available=None if None in available else sum(a or 0 for a in available),
        limit=shared("limit"),
        limit_sampling=shared("limit_sampling"),
        limit_seed=shared("limit_seed"),
        members=len(members),
        args=args,
    )


def card_data(
    results: Mapping[str, Any], manifest: Mapping[str, Any] | None = None
) -> dict[str, CardData]:
    """``CardData`` of every task and task group of the run, by name (a group's from the
    tasks inside it, at any depth)."""
    records = {t["name"]: t for t in (manifest or {}).get("tasks", [])}
    tasks = [TaskRecord.from_json(t) for t in results.get("tasks", [])]
    out = {t.name: task_data(t, records.get(t.name) if manifest else None) for t in tasks}
    groups = dict.fromkeys(g for t in tasks for g in t.groups)
    for group in groups:
        if group not in out:
            out[group] = group_data(group, [out[t.name] for t in tasks if group in t.groups])
    return out


# ---- the model's name ----


def model_name(arm: Arm, names: Mapping[str, str] | None = None) -> str:
    """The model's name on its card: ``names[arm]`` when given, else the Hub id of an arm
    loaded from the Hub, else the folder name of its weights (the arm's name when none)."""
    if names and arm.name in names:
        return names[arm.name]
    return where(arm) or arm.name


def where(arm: Arm) -> str:
    """An arm's weights as a card may name them: the Hub id of an arm loaded from the Hub,
    else the folder's name alone (a local path says nothing to a reader of the card and
    may say too much about the machine); empty when unknown."""
    path = str(arm.identity.get("path") or "").strip()
    if not path or arm.identity.get("local") is False:
        return path  # a Hub id: owner/name
    folder = PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name
    return folder if folder not in ("", ".", "..") else ""


def parse_model_names(pairs: Sequence[str], results: Mapping[str, Any]) -> dict[str, str]:
    """``--model-name ARM=NAME`` values as ``{arm: name}``.

    Raises:
        ConfigError: a value without ``=`` or without a name, an arm that is not a
            fine-tuned arm of the run, or an arm named twice.
    """
    tuned = fine_tuned_arms(results)
    out: dict[str, str] = {}
    for pair in pairs:
        arm, sep, name = pair.partition("=")
        arm, name = arm.strip(), name.strip()
        if not sep or not arm or not name:
            raise ConfigError(f"--model-name {pair!r}: expected ARM=NAME, e.g. lora=my-org/model")
        if arm not in tuned:
            raise ConfigError(
                f"--model-name {pair!r}: {arm!r} is not a fine-tuned arm of the run; "
                f"fine-tuned arms: {', '.join(tuned) or 'none'}"
            )
        if arm in out:
            raise ConfigError(f"--model-name {pair!r}: arm {arm!r} is named twice")
        out[arm] = name
    return out


def fine_tuned_arms(results: Mapping[str, Any]) -> list[str]:
    """The run's adapters and full fine-tunes, in run order."""
    return [a["name"] for a in results.get("arms", []) if a.get("kind") in FINE_TUNED_KINDS]


# ---- the model-index ----


@dataclass(frozen=True)
class _Run:
    """The typed pieces of a results object a card reads."""

    arms: dict[str, Arm]
    tasks: dict[str, TaskRecord]
    scores: list[Score]
    units: dict[tuple[str, str, str], str | None]
    comparisons: dict[tuple[str, str, str], Comparison]
    cuts: dict[str, TruncationRow]
    data: dict[str, CardData]
    base: str | None
    confidence: float

    @classmethod
    def read(cls, results: Mapping[str, Any], manifest: Mapping[str, Any] | None) -> _Run:
        arms = {a["name"]: Arm.from_json(a) for a in results.get("arms", [])}
        base = next((a.name for a in arms.values() if a.kind == "base"), None)
        comparisons = {}
        for row in results.get("comparisons", []):
            if row.get("reference_arm") == base and row.get("section", "scores") == "scores":
                c = Comparison.from_json(row)
                comparisons[(c.task, c.metric, c.arm)] = c
        cuts = {}
        for row in results.get("truncation") or []:
            cut = TruncationRow.from_json(row)
            if cut.cut:
                cuts[cut.task] = cut
        return cls(
            arms=arms,
            tasks={t["name"]: TaskRecord.from_json(t) for t in results.get("tasks", [])},
            scores=[Score.from_json(s) for s in results.get("scores", [])],
            # results written before scores had a unit: a scale of 100 then means percent
            units={
                (s["task"], s["arm"], s["metric"]): s.get("unit") for s in results.get("scores", [])
            },
            comparisons=comparisons,
            cuts=cuts,
            data=card_data(results, manifest),
            base=base,
            confidence=float((results.get("statistics") or {}).get("confidence", 0.95)),
        )

    def scores_of(self, arm: str) -> dict[str, list[Score]]:
        """The arm's defined scores, by task, in results order."""
        out: dict[str, list[Score]] = {}
        for row in self.scores:
            if row.arm == arm and math.isfinite(row.value):
                out.setdefault(row.task, []).append(row)
        return out

    def digits(self, task: str, metric: str, scale: float) -> int:
        """Decimals for every number of one task and metric (all arms alike)."""
        values = [s.value for s in self.scores if s.task == task and s.metric == metric]
        return decimals_for(values, scale)

    def task_type(self, task: str) -> str:
        """The Hub task type of a task, or of a task group's first member."""
        record = self.tasks.get(task) or next(
            (t for t in self.tasks.values() if task in t.groups), None
        )
        if record is None:
            return "text-generation"
        return hub_task_type(record.kind, record.labels)


def _entry(run: _Run, arm: str, name: str) -> dict[str, Any]:
    results = []
    for task, rows in run.scores_of(arm).items():
        data = run.data.get(task, CardData(task=task))
        metrics = [
            {
                "type": hub_metric_type(row.metric),
                "name": row.metric,
                "value": round(row.value * row.scale, run.digits(task, row.metric, row.scale)),
                "verified": False,
            }
            for row in rows
        ]
        results.append(
            {
                "task": {"type": run.task_type(task), "name": task},
                "dataset": data.index_dataset(run.cuts.get(task)),
                "metrics": metrics,
            }
        )
    return {"name": name, "results": results}


def model_index(
    results: Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
    *,
    arms: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The ``model-index`` entries of the fine-tuned arms (all of them by default), one
    per arm, each named as its card names the model (``model_name``)."""
    run = _Run.read(results, manifest)
    chosen = [a for a in fine_tuned_arms(results) if arms is None or a in arms]
    return [_entry(run, arm, model_name(run.arms[arm], names)) for arm in chosen]


# ---- the card ----


def render_model_card(
    results: Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
    *,
    arm: str,
    name: str | None = None,
) -> str:
    """One fine-tuned arm's model card: front matter (``model-index`` and, where known,
    ``base_model`` and ``library_name``), then the evaluation in prose.

    Args:
        results: the run's results object.
        manifest: the run's manifest (the data's split, revision, shots and limit), or
            None.
        arm: the fine-tuned arm the card describes.
        name: the model's name (default: ``model_name``).

    Raises:
        KeyError: ``arm`` is not a fine-tuned arm of the run.
    """
    if arm not in fine_tuned_arms(results):
        raise KeyError(f"{arm!r} is not a fine-tuned arm; fine-tuned: {fine_tuned_arms(results)}")
    run = _Run.read(results, manifest)
    shown = name or model_name(run.arms[arm])
    front = _front_matter(run, arm, _entry(run, arm, shown))
    version = (manifest or {}).get("fteval_version")
    lines = ["---", front.rstrip("\n"), "---", "", f"# {shown}", "", _intro(run, arm, version)]
    lines += ["", "## Evaluation data", "", *_data_table(run, arm)]
    lines += ["", "## Evaluation results", "", *_result_lines(run, arm)]
    warnings = _cut_warnings(run, list(run.scores_of(arm)))
    if warnings:
        lines += ["", *(f"> **Warning:** {w}" for w in warnings)]
    lines += [
        "",
        f"Intervals are {run.confidence:.0%} bootstrap confidence intervals over items; deltas "
        f"are paired differences vs the base model on the same items, with p-values adjusted "
        f"for multiple comparisons. Values in the metadata above are self-reported "
        f"(`verified: false`).",
    ]
    return "\n".join(lines) + "\n"


def render_model_cards(
    results: Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
    *,
    arms: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every fine-tuned arm's model card (only ``arms`` when given), by arm, in run order."""
    chosen = [a for a in fine_tuned_arms(results) if arms is None or a in arms]
    return {
        arm: render_model_card(results, manifest, arm=arm, name=(names or {}).get(arm))
        for arm in chosen
    }


def _front_matter(run: _Run, arm: str, entry: Mapping[str, Any]) -> str:
    meta: dict[str, Any] = {}
    base = run.arms.get(run.base) if run.base else None
    if base is not None and base.identity.get("local") is False and base.identity.get("path"):
        meta["base_model"] = str(base.identity["path"])  # a Hub id; a local path is not one
    if run.arms[arm].kind == "adapter":
        meta["library_name"] = "peft"
    meta["tags"] = ["fteval"]
    meta["model-index"] = [dict(entry)]
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


def _cut_warnings(run: _Run, tasks: Sequence[str]) -> list[str]:
    """One warning per cut task; a cut task group's warning counts its cut tasks, which get
    none of their own (MMLU's 57 subjects are one warning)."""
    cut = [t for t in tasks if t in run.cuts]
    groups = {t for t in cut if t not in run.tasks}
    out = []
    for task in cut:
        record = run.tasks.get(task)
        if record is not None and groups & set(record.groups):
            continue
        text = cut_sentence(run.cuts[task].to_json())
        inside = [m for m in cut if m in run.tasks and task in run.tasks[m].groups]
        if inside:
            shown = ", ".join(inside[:3]) + (
                f" and {len(inside) - 3} more" if len(inside) > 3 else ""
            )
            text += f" Its tasks with cut prompts: {shown}."
        out.append(text)
    return out


def _intro(run: _Run, arm: str, version: Any) -> str:
    record = run.arms[arm]
    kind = KIND_WORDS.get(record.kind, record.kind)
    path = where(record)
    what = f"The {kind} `{path}`" if path else f"The {kind}"
    base = run.arms.get(run.base) if run.base else None
    against = (
        f"the base model `{where(base) or base.name}`" if base is not None else "its reference"
    )
    by = f"fteval {version}" if version else "fteval"
    return (
        f"{what} (arm **{arm}**), evaluated by {by} on exactly the same items as {against}; "
        f"every difference below is paired item by item."
    )


def _data_table(run: _Run, arm: str) -> list[str]:
    lines = [
        "| task | dataset | split | revision | shots | items |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for task in run.scores_of(arm):
        data = run.data.get(task, CardData(task=task))
        label = f"{task} ({data.members} tasks)" if data.members > 1 else task
        cells = (
            label,
            data.dataset_text(),
            data.split or "–",
            data.revision or ("unpinned" if data.loaded_from == "hub" else "–"),
            "–" if data.shots is None else str(data.shots),
            data.items_text(),
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def _result_lines(run: _Run, arm: str) -> list[str]:
    lines = []
    for rows in run.scores_of(arm).values():
        lines += ["- " + _sentence(run, row) for row in rows]
    return lines


def _sentence(run: _Run, row: Score) -> str:
    digits = run.digits(row.task, row.metric, row.scale)
    kind = run.units.get((row.task, row.arm, row.metric))
    shown = fmt(row.value, row.scale, decimals=digits) + unit(row.scale, kind)
    interval = fmt_interval(row.ci_low, row.ci_high, row.scale, digits)
    text = f"{row.task} {row.metric} (n = {row.n}): {shown} {interval} ({run.confidence:.0%} CI)"
    comparison = run.comparisons.get((row.task, row.metric, row.arm))
    if comparison is None or run.base is None:
        return text + "."
    delta = fmt(comparison.delta, row.scale, decimals=digits, signed=True)
    points = delta_unit(row.scale)
    delta_interval = fmt_interval(
        comparison.ci_low, comparison.ci_high, row.scale, digits, signed=True
    )
    test = TEST_NAMES.get(comparison.test, comparison.test)
    return (
        f"{text}; {delta}{' ' + points if points else ''} {delta_interval} vs {run.base}: "
        f"{comparison.verdict} (adjusted p {fmt_p(comparison.p_adjusted)}, {test})."
    )


# ---- writing ----


def card_file_name(arm: str) -> str:
    """The file a folder of cards holds an arm's card in: ``<arm>.md``, the arm's name
    with characters unsafe in file names replaced by ``_``."""
    return _FILE_UNSAFE.sub("_", arm).lstrip(".") + ".md"


def write_model_cards(cards: Mapping[str, str], target: str | Path) -> list[Path]:
    """Write ``cards`` (arm -> card) under ``target``; returns the files written.

    A ``target`` ending in ``.md`` is one file and takes exactly one card; any other
    ``target`` is a folder (created if missing) that gets ``card_file_name(arm)`` per arm.

    Raises:
        ConfigError: a ``.md`` file for several cards, or a folder that is a file.
    """
    path = Path(target)
    if path.suffix.lower() == ".md":
        if len(cards) != 1:
            raise ConfigError(
                f"--model-card {target}: a .md file holds one card, and {len(cards)} arms have "
                f"one ({', '.join(cards)}); choose one with --arm, or give a folder"
            )
        atomic_write_text(path, next(iter(cards.values())))
        return [path]
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--model-card {target}: a file, not a folder (give a folder or a .md)")
    written = []
    for arm, card in cards.items():
        file = path / card_file_name(arm)
        atomic_write_text(file, card)
        written.append(file)
    return written
