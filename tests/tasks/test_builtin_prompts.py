"""Built-in prompts and requests equal lm-evaluation-harness's for the same items.

Expected strings are written from its documented task templates (mmlu default,
glue/sst2, gsm8k, 0.4.x), so these tests do not need it installed: MMLU's
``description`` + first-n dev shots + ``{{question.strip()}}\\nA. ...\\nAnswer:`` with
continuations `` A``..`` D``; SST-2's ``{{sentence}}\\nQuestion: Is this sentence positive
or negative?\\nAnswer:`` with `` negative``/`` positive``; GSM8K's ``Question: ...\\nAnswer:``
with 5 shots drawn by ``random.Random(1234).sample`` in document order.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from fteval.backends.fake import FakeBackend
from fteval.pipeline.requests import run_task
from fteval.records import ArmSpec, GenerationResult, LoglikelihoodResult
from fteval.tasks import TaskOptions, load_task, load_tasks

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
if not DATA.exists():  # the shared data sit beside the repository's checkout
    DATA = Path("/work/shared/data")
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")


class Recorder(FakeBackend):
    """The fake backend, keeping every request it was asked."""

    def __init__(self) -> None:
        super().__init__([ArmSpec("base", "base", "b", "base")])
        self.requests: list = []

    def loglikelihood(self, arm, requests):
        self.requests += list(requests)
        return [LoglikelihoodResult(-1.0, False, 1) for _ in requests]

    def generate(self, arm, requests):
        self.requests += list(requests)
        return [GenerationResult(("x",), (1,), ("stop",)) for _ in requests]


def requests_of(task) -> list:
    backend = Recorder()
    run_task(task, "base", backend, seed=0)
    return backend.requests


def test_mmlu_zero_shot_prompt_and_requests_equal_lm_eval(tmp_path):
    task = load_task(
        "mmlu_abstract_algebra",
        limit=1,
        options=TaskOptions(data=str(DATA / "mmlu"), num_fewshot=0),
    )
    context = (
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
        "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:"
    )
    assert [(r.context, r.continuation) for r in requests_of(task)] == [
        (context, " A"),
        (context, " B"),
        (context, " C"),
        (context, " D"),
    ]
    assert task.examples[0].target == "B"


def test_mmlu_few_shot_takes_the_first_dev_rows_and_strips_questions():
    task = load_task(
        "mmlu_world_religions",
        limit=1,
        options=TaskOptions(data=str(DATA / "mmlu"), num_fewshot=2),
    )
    expected = (
        "The following are multiple choice questions (with answers) about world religions.\n\n"
        "What is the sign of the covenant for Jewish males?\n"
        "A. The rainbow\nB. Circumcision\nC. A son\nD. Bar mitzvah\nAnswer: B\n\n"
        "What is the Second Gem in Buddhism?\n"
        "A. The Dharma\nB. The Sangha\nC. The Buddha\nD. The Bodhisattva\nAnswer: A\n\n"
        "What can murtis be translated as?\n"
        "A. Offerings\nB. Prayers\nC. Apparitions\nD. Idols\nAnswer:"
    )
    assert task.examples[0].prompt == expected
    assert task.examples[0].continuations == (" A", " B", " C", " D")


def test_mmlu_description_names_the_subject_in_words():
    task = load_task(
        "mmlu_high_school_government_and_politics",
        limit=1,
        options=TaskOptions(data=str(DATA / "mmlu"), num_fewshot=0),
    )
    assert task.examples[0].prompt.startswith(
        "The following are multiple choice questions (with answers) about high school "
        "government and politics.\n\n"
    )


def test_mmlu_more_shots_than_dev_has_is_an_error():
    from fteval.errors import ConfigError

    with pytest.raises(ConfigError, match=r"0\.\.5"):
        load_tasks("mmlu", options=TaskOptions(data=str(DATA / "mmlu"), num_fewshot=6))


def test_all_of_mmlu_loads_renders_and_checks_quickly():
    began = time.monotonic()
    tasks = load_tasks("mmlu", options=TaskOptions(data=str(DATA / "mmlu")))
    elapsed = time.monotonic() - began
    assert len(tasks) == 57
    assert sum(len(t.examples) for t in tasks) == 14042
    categories = {t.groups for t in tasks}
    assert {g[1] for g in categories} == {
        "mmlu_stem",
        "mmlu_humanities",
        "mmlu_social_sciences",
        "mmlu_other",
    }
    sizes = {}
    for task in tasks:
        sizes[task.groups[1]] = sizes.get(task.groups[1], 0) + len(task.examples)
    # per-category sums of the PROVENANCE.md subject table
    assert sizes == {
        "mmlu_stem": 3153,
        "mmlu_other": 3107,
        "mmlu_social_sciences": 3077,
        "mmlu_humanities": 4705,
    }
    assert elapsed < 30  # seconds, on a loaded 2-core machine (about 0.4 s idle)


def test_sst2_prompt_and_requests_equal_lm_eval():
    task = load_task("sst2", limit=2, options=TaskOptions(data=str(DATA / "sst2" / "dev.tsv")))
    first = (
        "it 's a charming and often affecting journey . \n"
        "Question: Is this sentence positive or negative?\nAnswer:"
    )
    second = (
        "unflinchingly bleak and desperate \n"
        "Question: Is this sentence positive or negative?\nAnswer:"
    )
    assert [(r.context, r.continuation) for r in requests_of(task)] == [
        (first, " negative"),
        (first, " positive"),
        (second, " negative"),
        (second, " positive"),
    ]
    assert [e.target for e in task.examples] == ["positive", "negative"]
    assert task.labels == ("negative", "positive")


def _gsm8k_folder(tmp_path: Path, n_train: int = 7) -> Path:
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    (folder / "test.jsonl").write_bytes((DATA / "gsm8k" / "test.jsonl").read_bytes())
    train = [
        {"question": f"Q{i}: how many?", "answer": f"Step {i}.\n#### {i}"} for i in range(n_train)
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    return folder


def test_gsm8k_five_shot_prompt_and_request_equal_lm_eval(tmp_path):
    folder = _gsm8k_folder(tmp_path)
    task = load_task("gsm8k", limit=2, options=TaskOptions(data=str(folder)))
    tests = [json.loads(x) for x in (folder / "test.jsonl").read_text().splitlines()[:2]]
    train = [json.loads(x) for x in (folder / "train.jsonl").read_text().splitlines()]
    draw = random.Random(1234)  # lm-evaluation-harness's sampler: one generator, doc order
    for example, test in zip(task.examples, tests):
        shots = draw.sample(train, 5)
        expected = "".join(f"Question: {s['question']}\nAnswer: {s['answer']}\n\n" for s in shots)
        expected += f"Question: {test['question']}\nAnswer:"
        assert example.prompt == expected
        assert example.target == test["answer"]
    request = requests_of(task)[0]
    assert request.stop == ("Question:", "</s>", "<|im_end|>")
    assert request.max_new_tokens == 256 and request.sampling.temperature == 0.0


def test_gsm8k_without_a_train_split_needs_zero_shots():
    from fteval.errors import ConfigError

    with pytest.raises(ConfigError, match="--num-fewshot 0"):
        load_task("gsm8k", options=TaskOptions(data=str(DATA / "gsm8k" / "test.jsonl")))
    task = load_task("gsm8k", limit=1, options=TaskOptions(data=str(DATA / "gsm8k"), num_fewshot=0))
    assert task.examples[0].prompt.startswith("Question: Janet’s ducks lay 16 eggs per day.")
    assert task.examples[0].prompt.endswith("\nAnswer:")


@pytest.mark.parametrize(
    ("name", "data", "count", "start"),
    [
        ("trec", "trec/TREC_10.label", 500, "Question: How far is it from Denver to Aspen ?"),
        ("trec50", "trec", 500, "Question: How far is it from Denver to Aspen ?"),
        ("squad", "squad/dev-v1.1.json", 10570, "Title: Super_Bowl_50\n\nBackground: Super"),
        ("cnn_dailymail", "cnn_dailymail/cnndm_mini-dataset.tsv", 100, "Article: washington"),
        ("codexglue_java_cs", "codexglue", 1000, "Translate the following Java code into C#."),
        ("codexglue_refinement", "codexglue", 5835, "Fix the bug in the following Java method."),
        ("alpaca_eval", "alpaca_eval/alpaca_eval.jsonl", 805, "### Instruction:\nWhat are"),
    ],
)
def test_each_builtin_reads_its_original_release_format(name, data, count, start):
    task = load_task(name, options=TaskOptions(data=str(DATA / data)))
    assert len(task.examples) == count
    assert task.examples[0].prompt.startswith(start)


def test_trec_keeps_the_dataset_codes_as_labels():
    coarse = load_task("trec", limit=1, options=TaskOptions(data=str(DATA / "trec")))
    fine = load_task("trec50", limit=1, options=TaskOptions(data=str(DATA / "trec")))
    assert coarse.examples[0].target == "NUM" and fine.examples[0].target == "NUM:dist"
    assert len(coarse.labels) == 6 and len(fine.labels) == 50
    assert " number" in coarse.examples[0].continuations
    assert " distance" in fine.examples[0].continuations


def test_squad_references_are_every_gold_answer():
    task = load_task("squad", limit=1, options=TaskOptions(data=str(DATA / "squad")))
    assert task.examples[0].target == ["Denver Broncos", "Denver Broncos", "Denver Broncos"]
    assert task.generation.stop == ("\n",)


def test_cnn_dailymail_references_hold_one_highlight_per_line():
    task = load_task(
        "cnn_dailymail",
        limit=1,
        options=TaskOptions(data=str(DATA / "cnn_dailymail" / "train_sample.csv")),
    )
    assert task.examples[0].example_id == "0001d1afc246a7964130f43ae940af6bc6c57f01"
    assert task.examples[0].target.count("\n") >= 2
    start, end = task.examples[0].meta["truncatable"]
    assert task.examples[0].prompt[start:end].startswith("By . Associated Press")


def test_sst2_shots_are_drawn_as_lm_eval_draws_them(tmp_path):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "dev.tsv").write_bytes((DATA / "sst2" / "dev.tsv").read_bytes())
    train = [(f"train sentence {i} ", i % 2) for i in range(9)]
    (folder / "train.tsv").write_text(
        "sentence\tlabel\n" + "".join(f"{s}\t{label}\n" for s, label in train)
    )
    task = load_task("sst2", limit=3, options=TaskOptions(data=str(folder), num_fewshot=2))
    dev = (DATA / "sst2" / "dev.tsv").read_text().splitlines()[1:4]
    question = "\nQuestion: Is this sentence positive or negative?\nAnswer:"
    draw = random.Random(1234)  # sst2 leaves both splits unset: n + 1 drawn, n kept
    for example, line in zip(task.examples, dev):
        shots = draw.sample(train, 3)[:2]
        expected = "".join(
            f"{s}{question} {['negative', 'positive'][label]}\n\n" for s, label in shots
        )
        assert example.prompt == expected + line.split("\t")[0] + question
