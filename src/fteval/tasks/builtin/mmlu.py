"""MMLU (Hendrycks et al. 2021): 57 subjects of 4-way multiple choice, in four categories.

The prompt is lm-evaluation-harness's default ``mmlu`` task, byte for byte::

    The following are multiple choice questions (with answers) about {subject words}.

    {question.strip()}
    A. {choice A}
    B. {choice B}
    C. {choice C}
    D. {choice D}
    Answer:

scored by log P(" A" | prompt) ... log P(" D" | prompt). Shots (default 5, at most 5)
come from the subject's dev split, the first n in file order (its ``first_n`` sampler),
each written ``question block + " " + letter`` and followed by a blank line; the
description comes once, before them. Each subject's validation split (the release's
``val/``, the Hub's ``validation``: 1,531 questions in all) is formatted the same way
when asked for (temperature scaling fits on it).

``mmlu`` is a group: one task per subject (``mmlu_<subject>``), in the categories
``mmlu_stem``, ``mmlu_humanities``, ``mmlu_social_sciences`` and ``mmlu_other`` (as
lm-evaluation-harness groups them). Results add, per category and overall, ``acc_micro``
(item-weighted) and ``acc_macro`` (mean over subjects) with CIs and paired comparisons.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Sequence
from pathlib import Path

from fteval.data.readers import Row
from fteval.errors import ConfigError, InputError
from fteval.tasks.builtin._base import (
    Builtin,
    HubSource,
    Loaded,
    check_settings,
    hash_files,
    hf_format_rows,
    hub_rows,
    need_path,
    register,
)
from fteval.tasks.loader import build_task
from fteval.tasks.options import TaskOptions
from fteval.tasks.source import DataSource, SplitReader, rows_source
from fteval.tasks.spec import FewShotSpec, TaskSpec
from fteval.tasks.task import Task

HUB = HubSource("cais/mmlu", "all", "c30699e8356da336a370243923dbaf21066bb9fe")
FORMATS = (
    "the original release folder with dev/, test/ (and val/) of <subject>_<split>.csv, or the "
    "Hub's Parquet/save_to_disk copy of cais/mmlu 'all'"
)
LETTERS = ("A", "B", "C", "D")
MAX_SHOTS = 5
# our split name -> the original release's folder (the Hub's "all" uses our names)
FOLDERS = {"test": "test", "dev": "dev", "validation": "val"}

# subject -> category, as lm-evaluation-harness's mmlu groups (and the MMLU paper)
CATEGORIES: dict[str, str] = {
    "abstract_algebra": "stem", "anatomy": "stem", "astronomy": "stem",
    "business_ethics": "other", "clinical_knowledge": "other", "college_biology": "stem",
    "college_chemistry": "stem", "college_computer_science": "stem",
    "college_mathematics": "stem", "college_medicine": "other", "college_physics": "stem",
    "computer_security": "stem", "conceptual_physics": "stem",
    "econometrics": "social_sciences", "electrical_engineering": "stem",
    "elementary_mathematics": "stem", "formal_logic": "humanities", "global_facts": "other",
    "high_school_biology": "stem", "high_school_chemistry": "stem",
    "high_school_computer_science": "stem", "high_school_european_history": "humanities",
    "high_school_geography": "social_sciences",
    "high_school_government_and_politics": "social_sciences",
    "high_school_macroeconomics": "social_sciences", "high_school_mathematics": "stem",
    "high_school_microeconomics": "social_sciences", "high_school_physics": "stem",
    "high_school_psychology": "social_sciences", "high_school_statistics": "stem",
    "high_school_us_history": "humanities", "high_school_world_history": "humanities",
    "human_aging": "other", "human_sexuality": "social_sciences",
    "international_law": "humanities", "jurisprudence": "humanities",
    "logical_fallacies": "humanities", "machine_learning": "stem", "management": "other",
    "marketing": "other", "medical_genetics": "other", "miscellaneous": "other",
    "moral_disputes": "humanities", "moral_scenarios": "humanities", "nutrition": "other",
    "philosophy": "humanities", "prehistory": "humanities",
    "professional_accounting": "other", "professional_law": "humanities",
    "professional_medicine": "other", "professional_psychology": "social_sciences",
    "public_relations": "social_sciences", "security_studies": "social_sciences",
    "sociology": "social_sciences", "us_foreign_policy": "social_sciences",
    "virology": "other", "world_religions": "humanities",
}  # fmt: skip
CATEGORY_NAMES = ("stem", "humanities", "social_sciences", "other")
TEMPLATE = "{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:"
DESCRIPTION = (
    "The following are multiple choice questions (with answers) about {subject_words}.\n\n"
)


def subject_spec(subject: str, shots: int) -> TaskSpec:
    """The task spec of one subject (what its YAML file would say)."""
    return TaskSpec(
        name=f"mmlu_{subject}",
        type="multiple_choice",
        split="test",
        id_field="id",
        description=DESCRIPTION,
        template=TEMPLATE,
        choices=list(LETTERS),
        label_field="answer",
        target_delimiter=" ",
        fewshot=FewShotSpec(split="dev", n=shots, sampler="first_n", separator="\n\n"),
        metrics=["acc"],
    )


def load_mmlu(
    options: TaskOptions, subjects: Sequence[str] | None = None, *, top: str | None = "mmlu"
) -> list[Task]:
    """The subject tasks (all 57, or ``subjects``) with their groups.

    Args:
        options: data, shots (0-5, per subject when given per task).
        subjects: the subjects (default all).
        top: ``"mmlu"``: each subject sits in its category inside ``mmlu``; ``"category"``:
            only the category groups; None: no groups (one subject).
    """
    check_settings("mmlu", options.settings, {})
    wanted = list(subjects or CATEGORIES)
    groups = {s: _groups(s, top) for s in wanted}
    shots = {s: _shots(options, f"mmlu_{s}", groups[s]) for s in wanted}
    sources = _sources(options, wanted, with_dev=any(shots.values()))
    tasks = []
    for subject in wanted:
        task = build_task(
            subject_spec(subject, shots[subject]),
            sources[subject],
            origin="builtin:mmlu",
            groups=groups[subject],
        )
        # the letters are answer positions, not classes: no label set, so no class
        # report and no imbalance F1 (lm-evaluation-harness reports acc alone)
        tasks.append(dataclasses.replace(task, labels=()))
    return tasks


def _groups(subject: str, top: str | None) -> tuple[str, ...]:
    category = f"mmlu_{CATEGORIES[subject]}"
    return {"mmlu": ("mmlu", category), "category": (category,)}.get(top or "", ())


def _shots(options: TaskOptions, name: str, groups: Sequence[str]) -> int:
    asked = options.shots_for(name, groups)
    shots = MAX_SHOTS if asked is None else asked
    if not 0 <= shots <= MAX_SHOTS:
        raise ConfigError(f"{name}: --num-fewshot must be 0..{MAX_SHOTS} (dev has 5), got {shots}")
    return shots


def _sources(options: TaskOptions, subjects: list[str], *, with_dev: bool) -> dict[str, DataSource]:
    """Each subject's rows by split: test, dev (the few-shot pool) and validation."""
    required = ["test", "dev"] if with_dev else ["test"]
    optional = [s for s in FOLDERS if s not in required]
    if options.data is None:
        hub = _HubSplits(subjects, required)
        return {s: hub.source(s, optional) for s in subjects}
    path = need_path("mmlu", options.data)
    if path.is_dir() and any((path / "test").glob("*_test.csv")):
        return {s: _original_source(path, s, required) for s in subjects}
    hub_copy = hf_format_rows("mmlu", path, [*required, *optional], optional)
    if hub_copy is None:
        raise ConfigError(f"--data mmlu={path}: not a known MMLU layout ({FORMATS})")
    by_subject = _split_subjects(hub_copy, subjects, required)
    return {
        s: rows_source("builtin:mmlu", loaded.splits, loaded.sources, loaded.hashes)
        for s, loaded in by_subject.items()
    }


def _original_source(root: Path, subject: str, required: list[str]) -> DataSource:
    """A subject's CSV files in the original release folder, each read when first needed."""
    files = {split: root / folder / f"{subject}_{folder}.csv" for split, folder in FOLDERS.items()}
    for split in required:
        if not files[split].is_file():
            raise ConfigError(f"--data mmlu={root}: missing {files[split].relative_to(root)}")
    present = {split: file for split, file in files.items() if file.is_file()}
    readers = {split: _csv_reader(file, subject) for split, file in present.items()}
    return DataSource("builtin:mmlu", readers, hashes=hash_files(present.values(), root))


def _csv_reader(file: Path, subject: str) -> SplitReader:
    return SplitReader(str(file), lambda: read_original_csv(file, subject))


class _HubSplits:
    """The Hub's ``all`` configuration, each split loaded once for every subject."""

    def __init__(self, subjects: list[str], required: list[str]) -> None:
        self.subjects = subjects
        self.required = required
        self._by_split: dict[str, dict[str, list[Row]]] = {}

    def source(self, subject: str, optional: list[str]) -> DataSource:
        readers = {
            split: SplitReader(f"hf:{HUB.describe()}[{split}]", self._reader(subject, split))
            for split in [*self.required, *optional]
        }
        return DataSource(
            "builtin:mmlu", readers, hashes={"hub": HUB.describe()}, optional=optional
        )

    def _reader(self, subject: str, split: str) -> Callable[[], list[Row]]:
        def read() -> list[Row]:
            rows = self.rows(split).get(subject)
            if not rows:
                raise ConfigError(f"mmlu: subject {subject!r} has no rows in split {split!r}")
            return rows

        return read

    def rows(self, split: str) -> dict[str, list[Row]]:
        if split not in self._by_split:
            loaded = hub_rows("mmlu", HUB, [split], FORMATS)
            rows = loaded.splits[split]
            self._by_split[split] = _by_subject(loaded.sources[split], rows, self.subjects)
        return self._by_split[split]


def read_original_csv(path: Path, subject: str) -> list[Row]:
    """Rows of one original MMLU CSV (no header: question, A, B, C, D, answer letter).

    The question is stripped (lm-evaluation-harness's template writes ``question.strip()``);
    choices are kept as they are. A U+FEFF inside a field is text (one question has it),
    kept as the Hub's copy keeps it.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(path, None, None, f"not UTF-8 at byte {error.start}") from None
    out = []
    reader = csv.reader(io.StringIO(text, newline=""))
    for number, record in enumerate(reader, start=1):
        if not record:
            continue
        if len(record) != 6:
            raise InputError(path, number, None, f"expected 6 fields, got {len(record)}", record)
        question, a, b, c, d, answer = record
        if answer.strip() not in LETTERS:
            raise InputError(path, number, "answer", "expected a letter A-D", answer)
        out.append(_row(number, subject, question, [a, b, c, d], answer.strip()))
    if not out:
        raise InputError(path, None, None, "file has no data rows")
    return out


def _row(number: int, subject: str, question: str, choices: list[str], answer: str) -> Row:
    fields = {"id": str(number - 1), "subject_words": subject.replace("_", " ")}
    fields.update(question=question.strip(), answer=answer, **dict(zip(LETTERS, choices)))
    return Row(number, fields)


def _split_subjects(loaded: Loaded, subjects: list[str], required: list[str]) -> dict[str, Loaded]:
    """Hub-format rows (``subject``, ``question``, ``choices``, ``answer`` 0-3) by subject;
    a subject without rows in a required split is an error, in another split left out."""
    grouped: dict[str, dict[str, list[Row]]] = {s: {} for s in subjects}
    for split, rows in loaded.splits.items():
        for subject, subject_rows in _by_subject(loaded.sources[split], rows, subjects).items():
            grouped[subject][split] = subject_rows
    out: dict[str, Loaded] = {}
    for subject, splits in grouped.items():
        missing = [s for s in required if not splits.get(s)]
        if missing:
            raise ConfigError(f"mmlu: subject {subject!r} has no rows in split(s) {missing}")
        sources = {split: loaded.sources[split] for split in splits}
        out[subject] = Loaded(splits, sources, loaded.hashes)
    return out


def _by_subject(source: str, rows: list[Row], subjects: Sequence[str]) -> dict[str, list[Row]]:
    """Hub-format rows of ``subjects`` by subject, each subject's rows numbered from 1."""
    wanted = set(subjects)
    out: dict[str, list[Row]] = {}
    for row in rows:
        subject = row.fields.get("subject")
        if subject not in wanted:
            continue
        bucket = out.setdefault(str(subject), [])
        bucket.append(_hub_row(source, row, str(subject), len(bucket) + 1))
    return out


def _hub_row(source: str, row: Row, subject: str, number: int) -> Row:
    choices = row.fields.get("choices")
    if not isinstance(choices, (list, tuple)) or len(choices) != 4:
        raise InputError(source, row.number, "choices", "expected 4 choices", choices)
    answer = row.fields.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < 4:
        raise InputError(source, row.number, "answer", "expected an index 0-3", answer)
    return _row(
        number, subject, str(row.fields.get("question", "")), list(choices), LETTERS[answer]
    )


def _entry(name: str, subjects: Sequence[str] | None, summary: str, top: str | None) -> Builtin:
    return Builtin(
        name=name,
        kind="multiple_choice",
        metrics=("acc_micro", "acc_macro", "acc") if top else ("acc",),
        scoring="log-likelihood of ' A'..' D' after the prompt (lm-evaluation-harness mmlu)",
        default_shots=MAX_SHOTS,
        source=f"hf:{HUB.describe()}",
        formats=FORMATS,
        summary=summary,
        load=lambda options: load_mmlu(options, subjects, top=top),
        members=len(subjects) if subjects else len(CATEGORIES),
        data_key="mmlu",
        covers=_covered(subjects) if top else (),
    )


def _covered(subjects: Sequence[str] | None) -> tuple[str, ...]:
    """The registered names inside a group: its subjects, and for ``mmlu`` the categories."""
    names = [f"mmlu_{s}" for s in subjects or CATEGORIES]
    return tuple(names if subjects else [*(f"mmlu_{c}" for c in CATEGORY_NAMES), *names])


register(_entry("mmlu", None, "57 subjects; per subject, per category and overall", "mmlu"))
for _category in CATEGORY_NAMES:
    _members = [s for s, c in CATEGORIES.items() if c == _category]
    _words = _category.replace("_", " ")
    register(_entry(f"mmlu_{_category}", _members, f"MMLU {_words} subjects", "category"))
for _subject in CATEGORIES:
    register(_entry(f"mmlu_{_subject}", [_subject], f"MMLU {_subject.replace('_', ' ')}", None))
