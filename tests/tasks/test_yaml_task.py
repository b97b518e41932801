"""YAML task files: a bad key or a bad row is a clear error, raised at load time."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from fteval.errors import ConfigError, InputError
from fteval.tasks import load_task, load_task_file
from tests.conftest import INTENTS, intent_rows, write_jsonl, write_task


def _rows(n: int = 6) -> list[dict]:
    return intent_rows(n)


def _input_error(task: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_task_file(task)
    return str(caught.value)


def _config_error(task: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_task_file(task)
    return str(caught.value)


def _write_yaml(folder: Path, spec: dict, name: str = "task.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


# ---- a good task ----


def test_valid_task_formats_prompts_choices_and_targets(tmp_path):
    task = load_task_file(write_task(tmp_path, _rows(3)))
    assert task.name == "intents"
    assert task.kind == "multiple_choice"
    assert task.labels == tuple(INTENTS)
    first = task.examples[0]
    assert first.example_id == "r0"
    assert first.prompt == "Message: I cannot sign in to my account #0\nIntent:"
    assert first.target == "login"
    assert first.choices == tuple(INTENTS)
    assert first.continuations == (" login", " billing", " refund")
    assert first.meta["row"] == 1
    assert set(task.data_sha256) == {"task_file", "data.jsonl"}


def test_rows_without_id_field_are_named_by_row_number(tmp_path):
    task = load_task_file(write_task(tmp_path, _rows(3), id_field=None))
    assert [e.example_id for e in task.examples] == ["1", "2", "3"]


# ---- bad rows ----


def test_missing_template_field_names_file_row_and_field(tmp_path):
    rows = _rows()
    del rows[2]["text"]
    message = _input_error(write_task(tmp_path, rows))
    assert "data.jsonl" in message
    assert "row 3" in message
    assert "field 'text'" in message
    assert "missing field (the row has: id, label)" in message


def test_label_not_among_choices_names_the_value_and_the_choices(tmp_path):
    rows = _rows()
    rows[1]["label"] = "shipping"
    message = _input_error(write_task(tmp_path, rows))
    assert "data.jsonl, row 2, field 'label'" in message
    assert "label is not among the choices ['login', 'billing', 'refund']" in message
    assert "(value: 'shipping')" in message


def test_label_minus_one_is_reported_as_unlabelled(tmp_path):
    rows = [{**r, "label": i % 3} for i, r in enumerate(_rows())]
    rows[4]["label"] = -1
    message = _input_error(write_task(tmp_path, rows))
    assert "data.jsonl, row 5, field 'label': unlabelled row (label -1)" in message
    assert "(value: -1)" in message


def test_label_minus_one_as_csv_string_is_reported_as_unlabelled(tmp_path):
    (tmp_path / "data.csv").write_text("id,text,label\na,hi,0\nb,yo,-1\n", encoding="utf-8")
    task = write_task(tmp_path, _rows(), data="data.csv")
    message = _input_error(task)
    assert "data.csv, row 2, field 'label': unlabelled row (label -1)" in message
    assert "(value: '-1')" in message


def test_null_label_is_an_empty_value(tmp_path):
    rows = _rows()
    rows[3]["label"] = None
    message = _input_error(write_task(tmp_path, rows))
    assert "data.jsonl, row 4, field 'label': empty value (null or NaN)" in message
    assert "(value: None)" in message


def test_nan_label_is_an_empty_value_not_a_type_mix(tmp_path):
    task = write_task(tmp_path, _rows())
    lines = (tmp_path / "data.jsonl").read_text().splitlines()
    lines[3] = lines[3].replace('"label": "login"', '"label": NaN')  # row 4 is a login row
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n")
    message = _input_error(task)
    assert "data.jsonl, row 4, field 'label': empty value (null or NaN)" in message
    assert "(value: nan)" in message


def test_label_given_as_a_zero_based_index_picks_that_choice(tmp_path):
    rows = [{**r, "label": i % 3} for i, r in enumerate(_rows(3))]
    task = load_task_file(write_task(tmp_path, rows))
    assert [e.target for e in task.examples] == ["login", "billing", "refund"]


def test_label_given_as_a_whole_float_index_picks_that_choice(tmp_path):
    rows = [{**r, "label": float(i % 3)} for i, r in enumerate(_rows(3))]
    task = load_task_file(write_task(tmp_path, rows))
    assert [e.target for e in task.examples] == ["login", "billing", "refund"]


def test_label_index_out_of_range_is_not_among_the_choices(tmp_path):
    rows = [{**r, "label": 0} for r in _rows(3)]
    rows[2]["label"] = 3
    message = _input_error(write_task(tmp_path, rows))
    assert "data.jsonl, row 3, field 'label': label is not among the choices" in message
    assert "(value: 3)" in message


def test_numeric_string_label_in_csv_is_an_index(tmp_path):
    (tmp_path / "data.csv").write_text(
        "id,text,label\na,sign in fails,0\nb,charged twice, 1\nc,money back,refund\n",
        encoding="utf-8",
    )
    task = load_task_file(write_task(tmp_path, [], data="data.csv"))
    assert [e.target for e in task.examples] == ["login", "billing", "refund"]
    assert task.examples[1].prompt == "Message: charged twice\nIntent:"


def test_numeric_label_that_is_also_a_choice_text_is_ambiguous(tmp_path):
    # choices "1".."3" with an int label 1: the choice "1", or index 1 (the choice "2")?
    rows = [{"id": "a", "text": "ok", "label": 3}, {"id": "b", "text": "meh", "label": 1}]
    task = write_task(tmp_path, rows, choices=["1", "2", "3"], metrics=["acc"])
    message = _input_error(task)
    assert "data.jsonl, row 2, field 'label'" in message
    assert "ambiguous" in message
    assert "(value: 1)" in message


def test_numeric_label_beyond_the_indices_but_equal_to_a_choice_is_that_choice(tmp_path):
    rows = [{"id": "a", "text": "ok", "label": 3}, {"id": "b", "text": "meh", "label": 0}]
    task = load_task_file(write_task(tmp_path, rows, choices=["0", "2", "3"], metrics=["acc"]))
    assert [e.target for e in task.examples] == ["3", "0"]


def test_numeric_label_text_matching_a_choice_is_that_choice(tmp_path):
    rows = [{"id": "a", "text": "ok", "label": "3"}, {"id": "b", "text": "meh", "label": "1"}]
    task = load_task_file(write_task(tmp_path, rows, choices=["1", "2", "3"], metrics=["acc"]))
    assert [e.target for e in task.examples] == ["3", "1"]


def test_mixed_type_label_column_names_the_differing_row(tmp_path):
    rows = _rows()
    rows[0]["label"] = 0
    message = _input_error(write_task(tmp_path, rows))
    assert "data.jsonl, row 2, field 'label'" in message
    assert "mixed-type column: a string here, a number at row 1" in message
    assert "(value: 'billing')" in message


def test_duplicate_ids_name_both_rows(tmp_path):
    rows = _rows()
    rows[4]["id"] = "r1"
    message = _input_error(write_task(tmp_path, rows))
    assert "data.jsonl, row 5, field 'id'" in message
    assert "duplicate id (first at row 2)" in message
    assert "(value: 'r1')" in message


def test_empty_data_file_is_rejected(tmp_path):
    message = _input_error(write_task(tmp_path, []))
    assert message.endswith("data.jsonl: file has no data rows")


def test_malformed_json_line_names_the_line(tmp_path):
    task = write_task(tmp_path, _rows(3))
    with (tmp_path / "data.jsonl").open("a") as handle:
        handle.write('{"id": "r9", "text": "x", "label": "login"\n')
    message = _input_error(task)
    assert "data.jsonl, row 4: malformed JSON" in message


def test_jsonl_line_that_is_a_list_is_rejected(tmp_path):
    task = write_task(tmp_path, _rows(2))
    with (tmp_path / "data.jsonl").open("a") as handle:
        handle.write('["r9", "x", "login"]\n')
    message = _input_error(task)
    assert "data.jsonl, row 3: expected a JSON object, got list" in message


def test_non_utf8_bytes_name_the_line(tmp_path):
    task = write_task(tmp_path, _rows(2))
    with (tmp_path / "data.jsonl").open("ab") as handle:
        handle.write(b'{"id": "r9", "text": "caf\xe9", "label": "login"}\n')
    message = _input_error(task)
    assert "data.jsonl, row 3: bytes that are not UTF-8 on line 3" in message


def test_utf8_bom_at_file_start_is_accepted(tmp_path):
    task = write_task(tmp_path, _rows(3))
    data = tmp_path / "data.jsonl"
    data.write_bytes(b"\xef\xbb\xbf" + data.read_bytes())
    assert len(load_task_file(task).examples) == 3


def test_utf16_data_file_is_rejected(tmp_path):
    task = write_task(tmp_path, _rows(3))
    data = tmp_path / "data.jsonl"
    data.write_bytes(data.read_text().encode("utf-16"))
    assert "data.jsonl: file is UTF-16" in _input_error(task)


def test_ragged_csv_row_is_named(tmp_path):
    (tmp_path / "data.csv").write_text("id,text,label\na,hi,login\nb,a, b,billing\n")
    message = _input_error(write_task(tmp_path, [], data="data.csv"))
    assert "data.csv, row 2: ragged row: 4 fields where the header has 3" in message


def test_csv_duplicate_header_is_named(tmp_path):
    (tmp_path / "data.csv").write_text("id,text,text,label\na,hi,yo,login\n")
    message = _input_error(write_task(tmp_path, [], data="data.csv"))
    assert "data.csv, field 'text': the header names this column twice" in message


def test_tsv_data_is_read(tmp_path):
    (tmp_path / "data.tsv").write_text("id\ttext\tlabel\na\thi, there\tlogin\nb\tyo\t2\n")
    task = load_task_file(write_task(tmp_path, [], data="data.tsv"))
    assert [(e.prompt, e.target) for e in task.examples] == [
        ("Message: hi, there\nIntent:", "login"),
        ("Message: yo\nIntent:", "refund"),
    ]


def test_parquet_data_is_read(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": ["a", "b"], "text": ["hi", "yo"], "label": [1, 2]})
    pq.write_table(table, tmp_path / "data.parquet")
    task = load_task_file(write_task(tmp_path, [], data="data.parquet"))
    assert [e.target for e in task.examples] == ["billing", "refund"]
    assert "data.parquet" in task.data_sha256


def test_parquet_null_label_is_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": ["a", "b"], "text": ["hi", "yo"], "label": [1.0, math.nan]})
    pq.write_table(table, tmp_path / "data.parquet")
    message = _input_error(write_task(tmp_path, [], data="data.parquet"))
    assert "data.parquet, row 2, field 'label': empty value (null or NaN)" in message


def test_missing_data_file_is_named(tmp_path):
    task = write_task(tmp_path, _rows(), data="missing.jsonl")
    assert "missing.jsonl: file not found" in _input_error(task)


# ---- bad task files ----


def test_unknown_yaml_key_is_named_and_known_keys_listed(tmp_path):
    message = _config_error(write_task(tmp_path, _rows(), labels_field="label"))
    assert "task.yaml: unknown key 'labels_field'" in message
    assert "known keys:" in message
    assert "label_field" in message and "template" in message


def test_unknown_key_inside_fewshot_lists_the_fewshot_keys(tmp_path):
    message = _config_error(
        write_task(tmp_path, _rows(), fewshot={"split": "test", "n": 1, "k": 2})
    )
    assert (
        "unknown key 'fewshot.k' (known keys: extra_draw, n, sampler, seed, separator, split)"
        in message
    )


def test_missing_required_key_is_named(tmp_path):
    message = _config_error(write_task(tmp_path, _rows(), template=None))
    assert "task.yaml: missing required key 'template'" in message


def test_missing_label_field_is_named(tmp_path):
    message = _config_error(write_task(tmp_path, _rows(), label_field=None))
    assert "needs 'label_field'" in message


def test_duplicate_choices_are_rejected(tmp_path):
    task = write_task(tmp_path, _rows(), choices=["login", "billing", "login"])
    message = _config_error(task)
    assert "key 'choices': duplicates in ['login', 'billing', 'login']" in message


def test_choices_and_choices_field_together_are_rejected(tmp_path):
    message = _config_error(write_task(tmp_path, _rows(), choices_field="options"))
    assert "needs 'choices' or 'choices_field'" in message


def test_split_not_among_data_splits_is_named(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", _rows())
    task = write_task(tmp_path, _rows(), data={"train": "train.jsonl", "dev": "data.jsonl"})
    message = _config_error(task)
    assert "key 'split': 'test' is not among the data splits ['dev', 'train']" in message


def test_fewshot_split_not_among_data_splits_is_named(tmp_path):
    task = write_task(
        tmp_path, _rows(), data={"test": "data.jsonl"}, fewshot={"split": "train", "n": 1}
    )
    assert "key 'fewshot.split': 'train' is not among the data splits" in _config_error(task)


@pytest.mark.parametrize(
    "template",
    [
        "{text.__class__}",
        "{text.__class__.__mro__}",
        "{text[0]}",
        "{text!r}",
        "{text:>99}",
        "Q: {}",
        "Q: {0}",
    ],
)
def test_template_placeholder_that_is_not_a_plain_field_is_rejected(tmp_path, template):
    message = _config_error(write_task(tmp_path, _rows(), template=template))
    assert "task.yaml: key 'template'" in message
    assert "plain field name" in message


def test_template_with_unbalanced_brace_is_a_config_error(tmp_path):
    message = _config_error(write_task(tmp_path, _rows(), template="Message: {text\nIntent:"))
    assert "task.yaml: key 'template'" in message


def test_template_with_escaped_braces_is_fine(tmp_path):
    task = load_task_file(write_task(tmp_path, _rows(1), template="{{json}} {text}"))
    assert task.examples[0].prompt == "{json} I cannot sign in to my account #0"


def test_row_values_are_never_formatted_again(tmp_path):
    rows = _rows(1)
    rows[0]["text"] = "{id.__class__}"
    task = load_task_file(write_task(tmp_path, rows))
    assert task.examples[0].prompt == "Message: {id.__class__}\nIntent:"


def test_unknown_metric_is_named_with_the_known_ones(tmp_path):
    message = _config_error(write_task(tmp_path, _rows(), metrics=["acc", "accuracy"]))
    assert "task.yaml" in message
    assert "unknown metric 'accuracy'" in message
    assert "known metrics:" in message and "f1_macro" in message


def test_bad_task_name_is_rejected(tmp_path):
    message = _config_error(write_task(tmp_path, _rows(), name="my task/1"))
    assert "key 'name'" in message


def test_yaml_that_is_not_a_mapping_is_rejected(tmp_path):
    path = tmp_path / "task.yaml"
    path.write_text("- a\n- b\n")
    assert "a task file is a mapping of keys, got list" in _config_error(path)


def test_task_file_not_found_via_load_task(tmp_path):
    with pytest.raises(ConfigError, match="task file not found"):
        load_task(str(tmp_path / "nope.yaml"))


# ---- few-shot ----


def _split_task(folder: Path, **overrides) -> Path:
    write_jsonl(folder / "train.jsonl", [{**r, "id": f"t{i}"} for i, r in enumerate(_rows(9))])
    write_jsonl(folder / "test.jsonl", _rows(4))
    spec = {
        "name": "intents",
        "data": {"train": "train.jsonl", "test": "test.jsonl"},
        "split": "test",
        "id_field": "id",
        "template": "Q: {text}",
        "choices": INTENTS,
        "label_field": "label",
        "target_delimiter": "\nA: ",
        "fewshot": {"split": "train", "n": 2, "seed": 0},
    }
    spec.update(overrides)
    return _write_yaml(folder, spec)


def test_fewshot_block_is_template_delimiter_answer_joined_by_separator(tmp_path):
    task = load_task_file(_split_task(tmp_path))
    prompt = task.examples[0].prompt
    shots = prompt.split("\n\n")
    assert len(shots) == 3  # two shots, then the item itself
    assert shots[-1] == "Q: I cannot sign in to my account #0"
    assert task.examples[0].continuations[0] == "\nA: login"
    train = {f"Q: {r['text']}": r["label"] for r in _rows(9)}
    for shot in shots[:2]:
        question = shot.split("\nA: ")[0]
        assert shot == question + "\nA: " + train[question]


def test_fewshot_custom_separator(tmp_path):
    task = load_task_file(
        _split_task(tmp_path, fewshot={"split": "train", "n": 2, "seed": 0, "separator": "\n###\n"})
    )
    assert task.examples[0].prompt.count("\n###\n") == 2
    assert task.examples[0].prompt.endswith("\n###\nQ: I cannot sign in to my account #0")


def test_fewshot_is_deterministic_and_seeded(tmp_path):
    first = [e.prompt for e in load_task_file(_split_task(tmp_path)).examples]
    again = [e.prompt for e in load_task_file(_split_task(tmp_path)).examples]
    assert first == again
    other_seed = _split_task(tmp_path, fewshot={"split": "train", "n": 2, "seed": 7})
    reseeded = [e.prompt for e in load_task_file(other_seed).examples]
    assert reseeded != first


def test_fewshot_does_not_depend_on_limit(tmp_path):
    full = load_task(str(_split_task(tmp_path)))
    cut = load_task(str(_split_task(tmp_path)), limit=2)
    assert [e.prompt for e in cut.examples] == [e.prompt for e in full.examples[:2]]


def test_fewshot_from_the_same_split_excludes_the_item_itself(tmp_path):
    spec = _split_task(tmp_path, fewshot={"split": "test", "n": 3, "seed": 0})
    task = load_task_file(spec)
    for example in task.examples:
        shots, item = example.prompt.rsplit("\n\n", 1)
        questions = [shot.split("\nA: ")[0] for shot in shots.split("\n\n")]
        assert item not in questions
        assert len(questions) == 3  # the other three rows of the split


def test_fewshot_from_another_split_name_over_the_same_file_excludes_the_item(tmp_path):
    # one data file serves every split name: "train" shots come from the test rows too
    rows = _rows(4)
    task = write_task(
        tmp_path, rows, template="Q: {text}", fewshot={"split": "train", "n": 3, "seed": 0}
    )
    for example in load_task_file(task).examples:
        shots, item = example.prompt.rsplit("\n\n", 1)
        questions = [shot.rsplit(" ", 1)[0] for shot in shots.split("\n\n")]
        assert item not in questions
        assert len(questions) == 3  # the other three rows


def test_fewshot_with_n_zero_adds_nothing(tmp_path):
    task = load_task_file(_split_task(tmp_path, fewshot={"split": "train", "n": 0}))
    assert task.examples[0].prompt == "Q: I cannot sign in to my account #0"


def test_fewshot_bad_pool_row_names_the_train_file(tmp_path):
    spec = _split_task(tmp_path, fewshot={"split": "train", "n": 9, "seed": 0})
    rows = [{**r, "id": f"t{i}"} for i, r in enumerate(_rows(9))]
    rows[5]["label"] = "shipping"
    write_jsonl(tmp_path / "train.jsonl", rows)
    message = _input_error(spec)
    assert "train.jsonl, row 6, field 'label'" in message
    assert "(value: 'shipping')" in message


# ---- per-row choices, limit, generation ----


def test_choices_field_gives_letter_labels(tmp_path):
    rows = [
        {"id": "q1", "q": "2+2?", "options": ["3", "4", "5"], "answer": "B"},
        {"id": "q2", "q": "capital of France?", "options": ["Paris", "Rome"], "answer": "A"},
    ]
    task = load_task_file(
        write_task(
            tmp_path,
            rows,
            template="{q}",
            choices=None,
            choices_field="options",
            label_field="answer",
            metrics=["acc"],
        )
    )
    first, second = task.examples
    assert first.choices == ("A", "B", "C")
    assert first.continuations == (" 3", " 4", " 5")
    assert first.target == "B"
    assert second.choices == ("A", "B")
    assert second.target == "A"
    assert task.labels == ("A", "B", "C")


def test_choices_field_accepts_an_index_label(tmp_path):
    rows = [{"id": "q1", "q": "2+2?", "options": ["3", "4", "5"], "answer": 1}]
    spec = dict(template="{q}", choices=None, choices_field="options", label_field="answer")
    task = load_task_file(write_task(tmp_path, rows, metrics=["acc"], **spec))
    assert task.examples[0].target == "B"


def test_choices_field_that_is_not_a_list_is_named(tmp_path):
    rows = [
        {"id": "q1", "q": "a", "options": ["x", "y"], "answer": "A"},
        {"id": "q2", "q": "b", "options": "x|y", "answer": "A"},
    ]
    spec = dict(template="{q}", choices=None, choices_field="options", label_field="answer")
    message = _input_error(write_task(tmp_path, rows, metrics=["acc"], **spec))
    assert "data.jsonl, row 2, field 'options': expected a list of >= 2" in message
    assert "(value: 'x|y')" in message


def test_limit_keeps_the_first_examples(tmp_path):
    task = load_task(str(write_task(tmp_path, _rows(10))), limit=3)
    assert [e.example_id for e in task.examples] == ["r0", "r1", "r2"]
    assert len(load_task(str(write_task(tmp_path, _rows(10))), limit=50).examples) == 10


def test_limit_does_not_skip_checking_later_rows(tmp_path):
    rows = _rows(10)
    rows[9]["label"] = "shipping"
    with pytest.raises(InputError, match="row 10"):
        load_task(str(write_task(tmp_path, rows)), limit=2)


def _generate_task(folder: Path, rows: list[dict], **overrides) -> Path:
    spec = {
        "name": "qa",
        "type": "generate",
        "data": "qa.jsonl",
        "template": "Q: {question}\nA:",
        "reference_field": "answer",
        "stop": ["\n"],
        "max_new_tokens": 16,
    }
    spec.update(overrides)
    write_jsonl(folder / "qa.jsonl", rows)
    return _write_yaml(folder, spec)


def test_generation_task_with_string_and_list_references(tmp_path):
    rows = [
        {"question": "2+2?", "answer": "4"},
        {"question": "colour of sky?", "answer": ["blue", "light blue"]},
    ]
    task = load_task_file(_generate_task(tmp_path, rows))
    assert task.kind == "generate"
    assert task.metrics == ("exact_match",)
    assert task.labels == ()
    assert task.generation.stop == ("\n",)
    assert task.generation.max_new_tokens == 16
    first, second = task.examples
    assert (first.prompt, first.target) == ("Q: 2+2?\nA:", "4")
    assert second.target == ["blue", "light blue"]


def test_generation_reference_of_wrong_type_is_named(tmp_path):
    rows = [{"question": "a", "answer": "x"}, {"question": "b", "answer": {"text": 4}}]
    message = _input_error(_generate_task(tmp_path, rows))
    assert "qa.jsonl, row 2, field 'answer': expected a string, number or boolean" in message
    assert "(value: {'text': 4})" in message


def test_generation_references_that_are_numbers_or_booleans_follow_the_text_rule(tmp_path):
    rows = [
        {"question": "a", "answer": 4},
        {"question": "b", "answer": 2.0},
        {"question": "c", "answer": [True, 0.5]},
    ]
    task = load_task_file(_generate_task(tmp_path, rows))
    assert [e.target for e in task.examples] == ["4", "2", ["true", "0.5"]]


def test_generation_empty_reference_list_is_named(tmp_path):
    rows = [{"question": "a", "answer": []}]
    assert "qa.jsonl, row 1, field 'answer'" in _input_error(_generate_task(tmp_path, rows))


def test_generation_task_needs_reference_field(tmp_path):
    message = _config_error(_generate_task(tmp_path, [{"q": "a"}], reference_field=None))
    assert "a generate task needs 'reference_field'" in message


def test_generation_task_rejects_classification_metrics(tmp_path):
    rows = [{"question": "a", "answer": "x"}]
    message = _config_error(_generate_task(tmp_path, rows, metrics=["f1_macro"]))
    assert "task.yaml" in message and "f1_macro" in message


def test_generation_fewshot_uses_the_first_reference(tmp_path):
    rows = [
        {"id": "1", "question": "a", "answer": ["x", "xx"]},
        {"id": "2", "question": "b", "answer": "y"},
    ]
    task = load_task_file(
        _generate_task(tmp_path, rows, id_field="id", fewshot={"split": "test", "n": 1})
    )
    assert task.examples[0].prompt == "Q: b\nA: y\n\nQ: a\nA:"
    assert task.examples[1].prompt == "Q: a\nA: x\n\nQ: b\nA:"


def test_task_data_hashes_cover_each_file(tmp_path):
    task = load_task_file(_split_task(tmp_path))
    assert set(task.data_sha256) == {"task_file", "train.jsonl", "test.jsonl"}
    assert all(len(h) == 64 for h in task.data_sha256.values())
    assert json.dumps(task.data_sha256)  # manifest-ready


def test_hf_dataset_saved_to_disk_is_read_like_a_file(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = intent_rows(6)
    datasets.DatasetDict(
        {"test": datasets.Dataset.from_list(rows), "train": datasets.Dataset.from_list(rows)}
    ).save_to_disk(str(tmp_path / "saved"))
    spec = {
        "name": "hf_local", "hf_dataset": {"path": str(tmp_path / "saved")}, "split": "test",
        "id_field": "id", "template": "Message: {text}\nIntent:",
        "choices": ["login", "billing", "refund"], "label_field": "label",
    }  # fmt: skip
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    task = load_task_file(path)
    assert [e.example_id for e in task.examples] == [r["id"] for r in rows]
    assert task.examples[0].target == rows[0]["label"]
