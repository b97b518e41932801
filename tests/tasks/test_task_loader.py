"""One loader for every task: built-ins expose their other splits as task files do,
few-shot samplers are small classes, and shots beyond the pool are refused."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from fteval.errors import ConfigError
from fteval.robustness.contamination import train_split_texts
from fteval.robustness.variants import validation_task
from fteval.tasks import TaskOptions, load_task, load_task_file, load_tasks
from fteval.tasks.loader import TaskLoader
from fteval.tasks.samplers import FirstNSampler, RandomSampler, SequentialSampler
from tests.conftest import intent_rows, write_jsonl

DATA = Path("/work/shared/data")
needs_data = pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")

BUILTINS = [
    ("sst2", "sst2/dev.tsv"),
    ("trec", "trec/TREC_10.label"),
    ("squad", "squad/dev-v1.1.json"),
    ("cnn_dailymail", "cnn_dailymail/cnndm_mini-dataset.tsv"),
    ("codexglue_java_cs", "codexglue"),
    ("alpaca_eval", "alpaca_eval/alpaca_eval.jsonl"),
    ("mmlu_anatomy", "mmlu"),
]


@needs_data
@pytest.mark.parametrize(("name", "data"), BUILTINS)
def test_every_builtin_keeps_the_one_loader_and_reformats_its_split_identically(name, data):
    task = load_task(name, limit=3, options=TaskOptions(data=str(DATA / data)))
    assert isinstance(task.loader, TaskLoader)
    assert task.split in task.loader.splits()
    again = task.loader.load_split(task.split)[:3]
    assert [(e.example_id, e.prompt, e.target) for e in again] == [
        (e.example_id, e.prompt, e.target) for e in task.examples
    ]


def _sst2_folder(tmp_path: Path, train: list[tuple[str, int]]) -> Path:
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "dev.tsv").write_bytes((DATA / "sst2" / "dev.tsv").read_bytes())
    lines = "".join(f"{text}\t{label}\n" for text, label in train)
    (folder / "train.tsv").write_text("sentence\tlabel\n" + lines)
    return folder


@needs_data
def test_sst2_train_split_reaches_contamination(tmp_path):
    dev = (DATA / "sst2" / "dev.tsv").read_text().splitlines()[1].split("\t")[0]
    folder = _sst2_folder(tmp_path, [(dev, 1), ("something else entirely ", 0)])
    task = load_task("sst2", options=TaskOptions(data=str(folder)))
    assert task.split == "validation" and task.loader.splits() == ("validation", "train")
    texts = [text for (text,) in train_split_texts(task)]
    assert texts == [dev, "something else entirely "]
    alone = load_task("sst2", options=TaskOptions(data=str(DATA / "sst2" / "dev.tsv")))
    assert train_split_texts(alone) is None  # a copy without train.tsv has no train split


@needs_data
def test_trec_and_gsm8k_train_splits_reach_contamination(tmp_path):
    trec = tmp_path / "trec"
    trec.mkdir()
    (trec / "TREC_10.label").write_bytes((DATA / "trec" / "TREC_10.label").read_bytes())
    (trec / "train_5500.label").write_text("NUM:dist How far is it ?\nLOC:city Which city ?\n")
    task = load_task("trec", options=TaskOptions(data=str(trec)))
    assert [t for (t,) in train_split_texts(task)] == ["How far is it ?", "Which city ?"]

    gsm8k = tmp_path / "gsm8k"
    gsm8k.mkdir()
    (gsm8k / "test.jsonl").write_bytes((DATA / "gsm8k" / "test.jsonl").read_bytes())
    train = [{"question": f"Q{i}?", "answer": f"A {i}\n#### {i}"} for i in range(6)]
    write_jsonl(gsm8k / "train.jsonl", train)
    task = load_task("gsm8k", limit=1, options=TaskOptions(data=str(gsm8k)))
    assert task.num_fewshot == 5
    assert [t for (t,) in train_split_texts(task)] == [f"Q{i}?" for i in range(6)]


@needs_data
def test_mmlu_validation_split_reaches_temperature_scaling():
    task = load_task("mmlu_anatomy", options=TaskOptions(data=str(DATA / "mmlu")))
    assert task.loader.splits() == ("test", "dev", "validation")
    variant = validation_task(task)
    assert variant is not None and variant.name == "mmlu_anatomy~validation"
    val_rows = (DATA / "mmlu" / "val" / "anatomy_val.csv").read_text().count("\n")
    assert len(variant.examples) == val_rows == 14
    # formatted as the test items: description, the five dev shots, then the question
    test_head = task.examples[0].prompt.rsplit("\n\n", 1)[0]
    assert variant.examples[0].prompt.startswith(test_head + "\n\n")
    assert variant.examples[0].meta["split"] == "validation"


@needs_data
def test_a_builtin_reads_a_users_file_in_its_format_for_ood_perturbations(tmp_path):
    task = load_task("sst2", limit=2, options=TaskOptions(data=str(DATA / "sst2" / "dev.tsv")))
    ood = write_jsonl(tmp_path / "ood.jsonl", [{"id": "x1", "sentence": "meh ", "label": 0}])
    (example,) = task.loader.load_file(str(ood))
    assert example.prompt == "meh \nQuestion: Is this sentence positive or negative?\nAnswer:"
    assert example.target == "negative"


def test_hub_splits_are_read_when_first_asked_and_dropped_when_missing(monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []
    features = datasets.Features(
        {
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
            "idx": datasets.Value("int32"),
        }
    )

    def fake_load_dataset(path, name=None, *, split, revision=None, **kwargs):
        calls.append(split)
        if split != "validation":
            raise FileNotFoundError(f"no split {split}")
        rows = {"sentence": ["good ", "bad "], "label": [1, 0], "idx": [0, 1]}
        return datasets.Dataset.from_dict(rows, features=features)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    task = load_task("sst2")
    assert calls == ["validation"]  # the train split only when something asks for it
    assert task.loader.splits() == ("validation",)
    assert calls == ["validation", "train"]
    assert train_split_texts(task) is None


# ---------------------------------------------------------------- samplers


def test_samplers_never_pick_the_item_and_keep_their_documented_order():
    assert FirstNSampler(6, 3).choose("a", own=[1]) == [0, 2, 3]
    sequential = SequentialSampler(10, 2, seed=1234)
    draw = random.Random(1234)
    for _ in range(4):  # one generator, drawn once per example in order, as lm-eval's
        assert sequential.choose("x", own=[]) == draw.sample(range(10), 2)
    picked = SequentialSampler(10, 3, seed=7).choose("x", own=[4])
    assert 4 not in picked and len(picked) == 3
    per_item = RandomSampler(20, 4, seed=3)
    first = per_item.choose("item-1", own=[])
    per_item.choose("item-2", own=[])
    assert per_item.choose("item-1", own=[]) == first  # independent of other items
    assert RandomSampler(20, 4, seed=4).choose("item-1", own=[]) != first


# ---------------------------------------------------------------- shots vs the pool


def _task_with_train(tmp_path: Path, n_train: int, **fewshot) -> Path:
    write_jsonl(tmp_path / "test.jsonl", intent_rows(6))
    train = [{**r, "id": f"t{i}"} for i, r in enumerate(intent_rows(n_train))]
    write_jsonl(tmp_path / "train.jsonl", train)
    spec = {
        "name": "intents",
        "data": {"train": "train.jsonl", "test": "test.jsonl"},
        "id_field": "id",
        "template": "Message: {text}\nIntent:",
        "choices": ["login", "billing", "refund"],
        "label_field": "label",
        "fewshot": {"split": "train", "n": 1, **fewshot},
    }
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("sampler", ["random", "first_n", "sequential"])
def test_more_shots_than_the_pool_holds_are_refused_naming_task_pool_and_value(tmp_path, sampler):
    path = _task_with_train(tmp_path, 3, sampler=sampler)
    assert load_task_file(path, num_fewshot=3).num_fewshot == 3
    with pytest.raises(ConfigError) as caught:
        load_task_file(path, num_fewshot=10**9)
    message = str(caught.value)
    assert "task 'intents'" in message and "1000000000 few-shot examples" in message
    assert "split 'train'" in message and "has 3 rows" in message and "at most 3" in message


def test_a_pool_that_is_the_evaluated_split_gives_one_shot_fewer(tmp_path):
    path = _task_with_train(tmp_path, 3, split="test")
    assert load_task_file(path, num_fewshot=5).num_fewshot == 5  # 6 rows, the item excluded
    with pytest.raises(ConfigError, match=r"has 6 rows and an item is never its own shot"):
        load_task_file(path, num_fewshot=6)


@needs_data
def test_builtin_shots_beyond_the_train_split_are_refused(tmp_path):
    folder = _sst2_folder(tmp_path, [("a ", 0), ("b ", 1), ("c ", 0)])
    task = load_task("sst2", limit=1, options=TaskOptions(data=str(folder), num_fewshot=2))
    assert task.num_fewshot == 2 and task.examples[0].prompt.count("Question:") == 3
    with pytest.raises(ConfigError, match=r"task 'sst2': 4 few-shot .* has 3 rows"):
        load_task("sst2", options=TaskOptions(data=str(folder), num_fewshot=4))


@needs_data
def test_mmlu_shots_may_differ_per_subject():
    from fteval.tasks.selection import PerTask

    shots = PerTask.of({"mmlu_anatomy": 0, "mmlu_stem": 2, "*": 5}, "--num-fewshot")
    tasks = load_tasks("mmlu_stem", options=TaskOptions(data=str(DATA / "mmlu"), num_fewshot=shots))
    by_name = {t.name: t for t in tasks}
    assert by_name["mmlu_anatomy"].num_fewshot == 0
    assert by_name["mmlu_astronomy"].num_fewshot == 2
    assert by_name["mmlu_astronomy"].examples[0].prompt.count("Answer:") == 3
    assert json.loads(json.dumps(by_name["mmlu_anatomy"].selection_record()))["num_fewshot"] == 0


def test_primary_metric_names_one_of_the_tasks_metrics(tmp_path):
    from fteval.errors import ConfigError
    from fteval.scoring import TaskInfo
    from fteval.tasks import load_task
    from tests.conftest import intent_rows, write_task

    path = write_task(tmp_path, intent_rows(6), primary_metric="f1_macro")
    task = load_task(str(path))
    assert task.primary_metric == "f1_macro" and TaskInfo.of(task).primary_key == "f1_macro"
    default = load_task(str(write_task(tmp_path, intent_rows(6))))
    assert default.primary_metric is None and TaskInfo.of(default).primary_key == "acc"
    with pytest.raises(ConfigError, match=r"primary_metric 'bleu' is not one of .*'acc'"):
        load_task(str(write_task(tmp_path, intent_rows(6), primary_metric="bleu")))
