"""Generation benchmarks: SQuAD v1.1, CNN/DailyMail and GSM8K.

**SQuAD v1.1** (dev, 10,570 questions), greedy, stop at a newline, at most 32 tokens::

    Title: {title}

    Background: {context}

    Question: {question}

    Answer:

(lm-evaluation-harness's ``squadv2`` prompt, here over v1.1's answerable questions).
Scored with the official v1.1 EM and F1, the max over all gold answers. The context
may lose its tail to fit the context window (``truncate: context``).

**CNN/DailyMail** (3.0.0 test), greedy, stop at a blank line, at most 128 tokens::

    Article: {article}

    Summarize the article above in a few sentences.
    Summary:

Truncation policy: when the prompt plus 128 new tokens would not fit the models'
context window, the article's tail is cut at a word boundary, per example, with each
evaluated tokenizer, keeping as many words as fit; each sample records the words kept
(``meta.truncation``). Scored with ROUGE-1/2/L/Lsum (rouge-score, F-measure, stemming);
references hold one highlight per line (rougeLsum's sentences).

**GSM8K** (test, 1,319 problems): lm-evaluation-harness's ``gsm8k`` prompt,
``Question: {question}\\nAnswer:``, 5 shots from the train split written with their full
worked answers (``Question: ...\\nAnswer: <worked answer ending in #### N>``), drawn by
its default sampler (``random.Random(1234)`` in example order), greedy, stop at
``Question:``, ``</s>`` or ``<|im_end|>``, at most 256 tokens. Scored by
``strict_match`` (``#### N``) and ``flexible_extract`` (the last number).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fteval.data.readers import Row, decode_text, read_rows
from fteval.errors import ConfigError, InputError
from fteval.tasks.builtin._base import (
    Builtin,
    HubSource,
    Loaded,
    builtin_source,
    check_settings,
    hash_files,
    optional_file,
    register,
    shots_for,
)
from fteval.tasks.loader import build_task
from fteval.tasks.options import TaskOptions
from fteval.tasks.spec import FewShotSpec, TaskSpec, TruncateSpec
from fteval.tasks.task import Task

GENERATION_SETTINGS = {"max_new_tokens": None}

# ------------------------------------------------------------------------------ SQuAD

SQUAD_HUB = HubSource("rajpurkar/squad", None, "7b6d24c440a36b6815f21b70d25016731768db1f")
SQUAD_FORMATS = (
    "the official dev-v1.1.json, or the Hub's Parquet/save_to_disk copy of rajpurkar/squad"
)


def _squad_original(path: Path, splits: Sequence[str]) -> Loaded | None:
    if path.is_dir() and (path / "dev-v1.1.json").is_file():
        path = path / "dev-v1.1.json"
    if not (path.is_file() and path.suffix == ".json"):
        return None
    try:
        document = json.loads(decode_text(path, path.read_bytes(), header_lines=None))
    except json.JSONDecodeError as error:
        raise InputError(path, None, None, f"malformed JSON on line {error.lineno}") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise InputError(path, None, "data", "expected SQuAD's {'data': [articles]}")
    rows: list[Row] = []
    for article in document["data"]:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                answers = [a["text"] for a in qa.get("answers", []) if a.get("text")]
                fields = {
                    "id": qa.get("id"),
                    "title": article.get("title", ""),
                    "context": paragraph.get("context", ""),
                    "question": qa.get("question", ""),
                    "answers": answers,
                }
                rows.append(Row(len(rows) + 1, fields))
    return Loaded({"validation": rows}, {"validation": str(path)}, hash_files([path]))


def _squad_hub(source: str, row: Row, names: Mapping[str, list[str]]) -> Row:
    fields = dict(row.fields)
    answers = fields.get("answers")
    if isinstance(answers, dict):
        fields["answers"] = [a for a in answers.get("text", []) if a]
    return Row(row.number, fields)


def load_squad(options: TaskOptions) -> Task:
    """SQuAD v1.1 dev: generate an answer, official EM/F1 against every gold answer."""
    settings = check_settings("squad", options.settings, {"max_new_tokens": 32})
    source = builtin_source(
        "squad", options, {"validation": "validation"}, hub=SQUAD_HUB, formats=SQUAD_FORMATS,
        read_original=_squad_original, convert=_squad_hub,
    )  # fmt: skip
    shots_for("squad", options, 0, source, "train")
    spec = TaskSpec(
        name="squad",
        type="generate",
        split="validation",
        id_field="id",
        template="Title: {title}\n\nBackground: {context}\n\nQuestion: {question}\n\nAnswer:",
        reference_field="answers",
        truncate=TruncateSpec(field="context"),
        stop=["\n"],
        max_new_tokens=int(settings["max_new_tokens"]),
        metrics=["squad_em", "squad_f1"],
    )
    return build_task(spec, source, origin="builtin:squad")


# ------------------------------------------------------------------------ CNN/DailyMail

CNNDM_HUB = HubSource("abisee/cnn_dailymail", "3.0.0", "96df5e686bee6baa90b8bee7c28b81fa3fa6223d")
CNNDM_FORMATS = (
    "a two-column TSV article<TAB>summary (highlights separated by two spaces), a CSV with "
    "columns id, article, highlights, a folder with test.source and test.target, or the "
    "Hub's Parquet/save_to_disk copy of cnn_dailymail 3.0.0"
)


def _cnndm_original(path: Path, splits: Sequence[str]) -> Loaded | None:
    if path.is_dir() and (path / "test.source").is_file():
        return _cnndm_source_target(path)
    if path.is_file() and path.suffix == ".tsv":
        rows = _cnndm_tsv(path)
    elif path.is_file() and path.suffix == ".csv":
        rows = _cnndm_csv(path)
    else:
        return None
    return Loaded({"test": rows}, {"test": str(path)}, hash_files([path]))


def _cnndm_tsv(path: Path) -> list[Row]:
    rows = []
    text = decode_text(path, path.read_bytes(), header_lines=0)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise InputError(
                path, number, None, f"expected 2 tab-separated fields, got {len(parts)}"
            )
        article, summary = parts
        highlights = "\n".join(h.strip() for h in summary.split("  ") if h.strip())
        rows.append(_cnndm_row(path, number, {"article": article, "highlights": highlights}))
    return rows


def _cnndm_csv(path: Path) -> list[Row]:
    """A CSV with a header naming ``article`` and ``highlights`` (``id`` optional).

    A pandas index column with an empty name is allowed.
    """
    text = decode_text(path, path.read_bytes(), header_lines=1)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or "article" not in header or "highlights" not in header:
        raise InputError(path, None, None, "expected a header with article and highlights", header)
    rows: list[Row] = []
    for record in reader:
        if not record:
            continue
        if len(record) != len(header):
            raise InputError(
                path, len(rows) + 1, None, f"{len(record)} fields, header has {len(header)}"
            )
        rows.append(_cnndm_row(path, len(rows) + 1, dict(zip(header, record))))
    return rows


def _cnndm_source_target(folder: Path) -> Loaded:
    source, target = folder / "test.source", folder / "test.target"
    if not target.is_file():
        raise ConfigError(f"--data cnn_dailymail={folder}: test.source without test.target")
    articles = decode_text(source, source.read_bytes()).splitlines()
    summaries = decode_text(target, target.read_bytes()).splitlines()
    if len(articles) != len(summaries):
        raise InputError(
            target, None, None, f"{len(summaries)} lines, test.source has {len(articles)}"
        )
    rows = [
        _cnndm_row(source, i, {"article": a, "highlights": "\n".join(s.split("<n>"))})
        for i, (a, s) in enumerate(zip(articles, summaries), start=1)
    ]
    return Loaded({"test": rows}, {"test": str(source)}, hash_files([source, target]))


def _cnndm_row(path: Path | str, number: int, fields: Mapping[str, object]) -> Row:
    article, highlights = fields.get("article"), fields.get("highlights")
    if not isinstance(article, str) or not article.strip():
        raise InputError(path, number, "article", "expected a non-empty article", article)
    if not isinstance(highlights, str) or not highlights.strip():
        raise InputError(path, number, "highlights", "expected a summary", highlights)
    lines = [h.strip() for h in highlights.splitlines() if h.strip()]
    story = str(fields.get("id") or number - 1)
    return Row(number, {"id": story, "article": article.strip(), "highlights": "\n".join(lines)})


def _cnndm_hub(source: str, row: Row, names: Mapping[str, list[str]]) -> Row:
    return _cnndm_row(source, row.number, row.fields)


def load_cnn_dailymail(options: TaskOptions) -> Task:
    """CNN/DailyMail test: summarise; ROUGE against the highlights."""
    settings = check_settings("cnn_dailymail", options.settings, {"max_new_tokens": 128})
    source = builtin_source(
        "cnn_dailymail", options, {"test": "test"}, hub=CNNDM_HUB, formats=CNNDM_FORMATS,
        read_original=_cnndm_original, convert=_cnndm_hub,
    )  # fmt: skip
    shots_for("cnn_dailymail", options, 0, source, "train")
    rouge: list[str | dict[str, Any]] = [
        {"name": m, "use_stemmer": True} for m in ("rouge1", "rouge2", "rougeL", "rougeLsum")
    ]
    spec = TaskSpec(
        name="cnn_dailymail",
        type="generate",
        split="test",
        id_field="id",
        template="Article: {article}\n\nSummarize the article above in a few sentences.\nSummary:",
        reference_field="highlights",
        truncate=TruncateSpec(field="article"),
        stop=["\n\n"],
        max_new_tokens=int(settings["max_new_tokens"]),
        metrics=rouge,
    )
    return build_task(spec, source, origin="builtin:cnn_dailymail")


# ------------------------------------------------------------------------------ GSM8K

GSM8K_HUB = HubSource("openai/gsm8k", "main", "740312add88f781978c0658806c59bc2815b9866")
GSM8K_FORMATS = (
    "the official test.jsonl (a file, or a folder with test.jsonl and train.jsonl), "
    "or the Hub's Parquet/save_to_disk copy of openai/gsm8k main"
)


def _gsm8k_original(path: Path, splits: Sequence[str]) -> Loaded | None:
    if path.is_file() and path.suffix == ".jsonl":
        found = {"test": path}
    elif path.is_dir() and (path / "test.jsonl").is_file():
        found = {s: f for s in splits if (f := optional_file(path / f"{s}.jsonl")) is not None}
    else:
        return None
    rows = {s: _gsm8k_rows(f) for s, f in found.items()}
    return Loaded(rows, {s: str(f) for s, f in found.items()}, hash_files(found.values()))


def _gsm8k_rows(path: Path) -> list[Row]:
    return [Row(r.number, {**r.fields, "id": str(r.number - 1)}) for r in read_rows(path)]


def _gsm8k_hub(source: str, row: Row, names: Mapping[str, list[str]]) -> Row:
    return Row(row.number, {**row.fields, "id": str(row.number - 1)})


def load_gsm8k(options: TaskOptions) -> Task:
    """GSM8K test, 5-shot chain of thought; strict and flexible answer match. The train
    split (7,473 problems) is the few-shot pool and the contamination check's train split."""
    settings = check_settings("gsm8k", options.settings, {"max_new_tokens": 256})
    source = builtin_source(
        "gsm8k", options, {"test": "test", "train": "train"}, hub=GSM8K_HUB,
        formats=GSM8K_FORMATS, read_original=_gsm8k_original, convert=_gsm8k_hub,
        optional=("train",),
    )  # fmt: skip
    shots = shots_for("gsm8k", options, 5, source, "train")
    spec = TaskSpec(
        name="gsm8k",
        type="generate",
        split="test",
        id_field="id",
        template="Question: {question}\nAnswer:",
        reference_field="answer",
        fewshot=FewShotSpec(split="train", n=shots, seed=1234, sampler="sequential"),
        stop=["Question:", "</s>", "<|im_end|>"],
        max_new_tokens=int(settings["max_new_tokens"]),
        metrics=["strict_match", "flexible_extract"],
    )
    return build_task(spec, source, origin="builtin:gsm8k")


_MAX = {"max_new_tokens": "tokens generated at most"}
register(
    Builtin(
        name="squad", kind="generate", metrics=("squad_em", "squad_f1"),
        scoring="greedy answer (stop at newline); official SQuAD v1.1 EM/F1, max over golds",
        default_shots=0, source=f"hf:{SQUAD_HUB.describe()}", formats=SQUAD_FORMATS,
        summary="SQuAD v1.1 dev (10,570 questions)", load=load_squad,
        settings={"max_new_tokens": 32},
    )
)  # fmt: skip
register(
    Builtin(
        name="cnn_dailymail", kind="generate",
        metrics=("rouge1", "rouge2", "rougeL", "rougeLsum"),
        scoring="greedy summary (stop at blank line); ROUGE F-measure (rouge-score, stemmed)",
        default_shots=0, source=f"hf:{CNNDM_HUB.describe()}", formats=CNNDM_FORMATS,
        summary="CNN/DailyMail 3.0.0 test summaries; article cut to fit the window",
        load=load_cnn_dailymail, settings={"max_new_tokens": 128},
    )
)  # fmt: skip
register(
    Builtin(
        name="gsm8k", kind="generate", metrics=("strict_match", "flexible_extract"),
        scoring="greedy worked answer (stop at 'Question:'); '#### N' and last-number match",
        default_shots=5, source=f"hf:{GSM8K_HUB.describe()}", formats=GSM8K_FORMATS,
        summary="GSM8K test (1,319 problems), lm-evaluation-harness gsm8k", load=load_gsm8k,
        settings={"max_new_tokens": 256},
    )
)  # fmt: skip
