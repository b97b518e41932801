"""``lmeval:NAME`` scores equal an lm-evaluation-harness run of the same task YAML on the
same tiny model.

lm-evaluation-harness is run with ``add_bos_token=False``: with it unset, 0.4.x lets a
tokenizer that appends EOS (the tests' ByT5 tokenizer does) insert it inside the
context, which fteval never does; with it off, both encode the same tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.real_model
lm_eval = pytest.importorskip("lm_eval")

ROWS = [
    {"text": "what a lovely warm film", "label": 1},
    {"text": "dull and far too long", "label": 0},
    {"text": "a joy from start to end", "label": 1},
    {"text": "i want my evening back", "label": 0},
    {"text": "bright, sharp and kind", "label": 1},
]


@pytest.fixture
def task_folder(tmp_path):
    data = tmp_path / "reviews.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "tiny_reviews.yaml").write_text(
        "task: tiny_reviews\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n    train: {data}\n"
        "test_split: test\nfewshot_split: train\nnum_fewshot: 1\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "Review: {{text}}\\nSentiment:"\n'
        "doc_to_target: label\n"
        'doc_to_choice: ["negative", "positive"]\n'
        "metric_list:\n  - metric: acc\n  - metric: acc_norm\n"
    )
    return tmp_path


def test_lmeval_task_scores_equal_an_lm_eval_run(tmp_path, task_folder, tiny_models):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from fteval.api import evaluate

    base = tiny_models["base"]
    theirs = simple_evaluate(
        model="hf",
        model_args=f"pretrained={base},add_bos_token=False,dtype=float32",
        tasks=["tiny_reviews"],
        task_manager=TaskManager(include_path=str(task_folder), include_defaults=False),
        device="cpu",
        batch_size=1,
        log_samples=True,
    )
    ours = evaluate(
        str(base),
        tasks=["lmeval:tiny_reviews"],
        lmeval_include=[str(task_folder)],
        out=tmp_path / "run",
        progress=False,
        dtype="float32",
        cache_dir="off",
        bootstrap_resamples=100,
        permutations=100,
    )
    summary = theirs["results"]["tiny_reviews"]
    scores = {(r["arm"], r["metric"]): r["value"] for r in ours["scores"]}
    assert scores[("base", "acc")] == pytest.approx(summary["acc,none"])
    assert scores[("base", "acc_norm")] == pytest.approx(summary["acc_norm,none"])
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").open()]
    mine = {s["example_id"]: s for s in samples if s["arm"] == "base"}
    for logged in theirs["samples"]["tiny_reviews"]:
        sample = mine[str(logged["doc_id"])]
        their_logprobs = [resp[0][0] for resp in logged["resps"]]
        assert sample["choice_logprobs"] == pytest.approx(their_logprobs, abs=1e-4)
        assert sample["meta"]["lmeval"]["acc"] == logged["acc"]


def test_lmeval_generation_tasks_apply_the_task_filters(tmp_path):
    from fteval.api import evaluate
    from fteval.backends.fake import FakeBackend
    from fteval.config import build_config
    from fteval.tasks import TaskOptions, load_tasks

    rows = [{"q": f"{i} plus 1?", "answer": f"so #### {i + 1}"} for i in range(4)]
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "sums.yaml").write_text(
        "task: tiny_sums\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\noutput_type: generate_until\n"
        'doc_to_text: "Q: {{q}}\\nA:"\ndoc_to_target: "{{answer}}"\n'
        'generation_kwargs:\n  until: ["\\n\\n"]\n  max_gen_toks: 12\n  do_sample: false\n'
        "metric_list:\n  - metric: exact_match\n    regexes_to_ignore: ['(?s).*#### ']\n"
        "filter_list:\n  - name: strict\n    filter:\n"
        '      - function: regex\n        regex_pattern: "#### (\\\\d+)"\n'
        "      - function: take_first\n"
    )
    options = TaskOptions(lmeval_include=(str(tmp_path),))
    task = load_tasks("lmeval:tiny_sums", options=options)[0]
    assert task.generation.stop == ("\n\n",) and task.generation.max_new_tokens == 12
    assert task.examples[0].prompt == "Q: 0 plus 1?\nA:"
    # the adapter knows every answer; the base writes noise
    answers = {ex.prompt: f" it is #### {i + 1}" for i, ex in enumerate(task.examples)}
    config = build_config({"base": "b", "adapters": {"lora": "a"}, "tasks": ["sst2"]})
    backend = FakeBackend(config.arms(), skill={"lora": 1.0}, generations=answers)
    results = evaluate(
        "b", adapters={"lora": "a"}, tasks=["lmeval:tiny_sums"], backend=backend,
        lmeval_include=[str(tmp_path)], out=tmp_path / "run", progress=False,
        bootstrap_resamples=100, permutations=100,
    )  # fmt: skip
    scores = {(r["arm"], r["metric"]): r["value"] for r in results["scores"]}
    assert scores[("lora", "exact_match,strict")] == 1.0
    assert scores[("base", "exact_match,strict")] == 0.0


MIRRORS = {
    # local copies of lm-evaluation-harness's task configs (mmlu default, glue/sst2, gsm8k)
    # over local files, so its own request builder runs offline
    "mmlu_mirror": (
        "test_split: test\nfewshot_split: dev\nfewshot_config:\n  sampler: first_n\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "{{question.strip()}}\\nA. {{choices[0]}}\\nB. {{choices[1]}}\\n'
        'C. {{choices[2]}}\\nD. {{choices[3]}}\\nAnswer:"\n'
        'doc_to_choice: ["A", "B", "C", "D"]\ndoc_to_target: answer\n'
        'description: "The following are multiple choice questions (with answers) about '
        'world religions.\\n\\n"\nmetric_list:\n  - metric: acc\n'
    ),
    "sst2_mirror": (
        "output_type: multiple_choice\ntraining_split: train\nvalidation_split: validation\n"
        'doc_to_text: "{{sentence}}\\nQuestion: Is this sentence positive or negative?\\n'
        'Answer:"\ndoc_to_target: label\ndoc_to_choice: ["negative", "positive"]\n'
        "metric_list:\n  - metric: acc\n"
    ),
    "gsm8k_mirror": (
        "output_type: generate_until\ntraining_split: train\nfewshot_split: train\n"
        'test_split: test\ndoc_to_text: "Question: {{question}}\\nAnswer:"\n'
        'doc_to_target: "{{answer}}"\ngeneration_kwargs:\n'
        '  until: ["Question:", "</s>", "<|im_end|>"]\n  do_sample: false\n'
        "metric_list:\n  - metric: exact_match\n"
    ),
}


def _mirror(folder, name, splits):
    files = ""
    for split, rows in splits.items():
        path = folder / f"{name}_{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        files += f"    {split}: {path}\n"
    (folder / f"{name}.yaml").write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n{files}" + MIRRORS[name]
    )


def _their_requests(folder, name, shots):
    from lm_eval.tasks import TaskManager

    task = TaskManager(include_path=str(folder), include_defaults=False).load(name)["tasks"][name]
    task.set_config(key="num_fewshot", value=shots)
    task.set_fewshot_seed(seed=1234)
    task.build_all_requests(rank=0, world_size=1)
    out: dict = {}
    for instance in task.instances:
        out.setdefault(instance.doc_id, []).append(instance.arguments)
    return out


def test_builtin_prompts_equal_lm_eval_request_builder(tmp_path):
    """lm-evaluation-harness's own request builder, run offline on mirrors of its task
    configs, gives the same contexts and requests as fteval's built-ins (with shots)."""
    import csv

    from fteval.tasks import TaskOptions, load_task

    data = Path("/work/shared/data")
    if not data.exists():
        pytest.skip("shared benchmark data not present")
    mmlu = {}
    for split in ("dev", "test"):
        path = data / "mmlu" / split / f"world_religions_{split}.csv"
        rows = csv.reader(path.open(newline="", encoding="utf-8"))
        mmlu[split] = [
            {"question": r[0], "choices": r[1:5], "answer": "ABCD".index(r[5])} for r in rows
        ]
    _mirror(tmp_path, "mmlu_mirror", mmlu)
    theirs = _their_requests(tmp_path, "mmlu_mirror", 5)
    ours = load_task("mmlu_world_religions", options=TaskOptions(data=str(data / "mmlu")))
    for i, example in enumerate(ours.examples):
        assert theirs[i] == [(example.prompt, c) for c in example.continuations]

    dev = [line.split("\t") for line in (data / "sst2" / "dev.tsv").read_text().splitlines()[1:5]]
    train = [(f"train sentence {i} ", i % 2) for i in range(9)]
    _mirror(tmp_path, "sst2_mirror", {
        "validation": [{"sentence": s, "label": int(label)} for s, label in dev],
        "train": [{"sentence": s, "label": label} for s, label in train],
    })  # fmt: skip
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "dev.tsv").write_text(
        "sentence\tlabel\n" + "".join(f"{s}\t{lab}" + "\n" for s, lab in dev)
    )
    (folder / "train.tsv").write_text(
        "sentence\tlabel\n" + "".join(f"{s}\t{lab}\n" for s, lab in train)
    )
    theirs = _their_requests(tmp_path, "sst2_mirror", 2)
    ours = load_task("sst2", options=TaskOptions(data=str(folder), num_fewshot=2))
    for i, example in enumerate(ours.examples):
        assert theirs[i] == [(example.prompt, c) for c in example.continuations]

    tests = [json.loads(x) for x in (data / "gsm8k" / "test.jsonl").read_text().splitlines()[:5]]
    shots = [{"question": f"Q{i}: how many?", "answer": f"Step {i}.\n#### {i}"} for i in range(12)]
    _mirror(tmp_path, "gsm8k_mirror", {"test": tests, "train": shots})
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tests))
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in shots))
    theirs = _their_requests(tmp_path, "gsm8k_mirror", 5)
    ours = load_task("gsm8k", options=TaskOptions(data=str(folder)))
    for i, example in enumerate(ours.examples):
        ((context, settings),) = theirs[i]
        assert context == example.prompt
        assert settings["until"] == list(ours.generation.stop)


def test_lmeval_shots_are_per_task_recorded_and_refused_beyond_the_pool(task_folder):
    from fteval.errors import ConfigError
    from fteval.tasks import TaskOptions, load_tasks
    from fteval.tasks.selection import PerTask

    include = (str(task_folder),)
    shots = PerTask.of({"lmeval_tiny_reviews": 2, "*": 0}, "--num-fewshot")
    (task,) = load_tasks(
        "lmeval:tiny_reviews", options=TaskOptions(num_fewshot=shots, lmeval_include=include)
    )
    assert task.num_fewshot == 2 and task.examples[0].prompt.count("Sentiment:") == 3
    with pytest.raises(ConfigError, match=r"lmeval:tiny_reviews: 50-shot prompts: Sample larger"):
        load_tasks(
            "lmeval:tiny_reviews", options=TaskOptions(num_fewshot=50, lmeval_include=include)
        )
