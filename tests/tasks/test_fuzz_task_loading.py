"""Property tests: random task files and random rows at task loading.

A task file is loaded into a ``Task`` or refused with ``ConfigError``/``InputError``
naming the file; nothing else escapes (no ``TypeError`` from a non-string key, no
``KeyError`` from a row, no accepted task with an empty or repeated choice).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from fteval.errors import ConfigError, InputError
from fteval.tasks.spec import TaskSpec
from fteval.tasks.yaml_task import load_task_file
from tests.data.test_fuzz_readers import JSON_VALUES, SCALARS, TEXT

VALID = {
    "name": "fuzz",
    "data": "rows.jsonl",
    "template": "Q: {text}\nA:",
    "choices_field": "options",
    "label_field": "label",
    "metrics": ["acc"],
}
KEYS = sorted(TaskSpec.model_fields)
ROW = st.fixed_dictionaries(
    {},
    optional={
        "text": SCALARS,
        "options": st.lists(SCALARS, max_size=4) | SCALARS,
        "label": SCALARS,
        "answer": JSON_VALUES,
        "id": SCALARS,
    },
)


def _load(spec: object, rows: list[object]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "rows.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        path = root / "task.yaml"
        text = yaml.dump(spec, Dumper=yaml.CSafeDumper, allow_unicode=True)
        path.write_text(text, encoding="utf-8")
        try:
            task = load_task_file(path)
        except (ConfigError, InputError):
            return
    assert task.examples
    for example in task.examples:
        texts = [c.strip() for c in example.continuations]
        assert all(texts) and len(set(texts)) == len(texts), example
        assert example.target is not None or task.kind == "perplexity"


@given(
    changes=st.dictionaries(st.sampled_from([*KEYS, "unknown", 1]), JSON_VALUES, max_size=3),
    rows=st.lists(ROW, min_size=1, max_size=4),
)
def test_random_task_keys_and_rows_load_or_are_refused_by_name(changes, rows):
    _load({**VALID, **changes}, rows)


@given(
    options=st.lists(st.lists(SCALARS, min_size=0, max_size=4), min_size=1, max_size=4),
    labels=st.lists(SCALARS, min_size=4, max_size=4),
    texts=st.lists(TEXT, min_size=4, max_size=4),
)
def test_random_per_row_choices_are_distinct_and_non_empty_when_accepted(options, labels, texts):
    rows = [
        {"text": text, "options": opts, "label": label}
        for opts, label, text in zip(options, labels, texts)
    ]
    _load(VALID, rows)


@given(
    reference=JSON_VALUES,
    kind=st.sampled_from(["generate", "perplexity"]),
)
def test_random_references_and_texts_load_or_are_refused_by_name(reference, kind):
    spec = {
        "name": "gen",
        "type": kind,
        "data": "rows.jsonl",
        "template": "{text}",
        "reference_field": "answer",
        "text_field": "answer",
    }
    spec = {k: v for k, v in spec.items() if not (kind == "perplexity" and k == "template")}
    spec.pop("reference_field" if kind == "perplexity" else "text_field")
    _load(spec, [{"text": "q", "answer": reference}])


@given(text=st.text(max_size=300))
def test_random_yaml_text_as_a_task_file_is_refused_by_name(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "task.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_task_file(path)
        except (ConfigError, InputError) as error:
            assert "task.yaml" in str(error)
