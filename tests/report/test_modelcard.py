"""The model cards: one per fine-tuned arm, the Hub's model-index (parsed by
huggingface_hub), the model's name, each task's Hub dataset, split, revision, shots and
limit, truncation warnings beside the numbers, and ``fteval report --model-card``."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from fteval.records.rows import Arm
from fteval.report import model_index, render_model_card, render_model_cards
from fteval.report.headline import cut_sentence
from fteval.report.modelcard import model_name
from tests.report.fixtures import full_results

CNNDM = {
    "id": "abisee/cnn_dailymail",
    "config": "3.0.0",
    "revision": "96df5e686bee6baa90b8bee7c28b81fa3fa6223d",
    "loaded_from": "hub",
}


def _manifest() -> dict[str, Any]:
    """The manifest's task records of the fixture's tasks, as a run writes them."""
    return {
        "fteval_version": "9.9.9",
        "tasks": [
            {"name": "intents", "split": "test", "dataset": None, "num_fewshot": 0,
             "limit": None, "n_available": 200},
            {"name": "summaries", "split": "test", "dataset": CNNDM, "num_fewshot": 0,
             "limit": 200, "limit_sampling": "random", "limit_seed": 7, "n_available": 11490},
            {"name": "mmlu_stem", "split": "test", "num_fewshot": 5, "limit": None,
             "n_available": 200, "dataset": {"id": "cais/mmlu", "config": "all",
                                             "revision": None, "loaded_from": "local copy"}},
        ],
    }  # fmt: skip


def _front(card: str) -> dict[str, Any]:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def _evals(card: str) -> dict[tuple[str, str], Any]:
    """(task, metric) -> the Hub's EvalResult, as huggingface_hub reads the card."""
    parsed = ModelCard(card).data.eval_results
    return {(e.task_name, e.metric_name): e for e in parsed}


def test_each_fine_tuned_arm_gets_its_own_card_that_the_hub_parses():
    results = full_results()
    cards = render_model_cards(results, _manifest())
    assert list(cards) == ["lora", "qlora-r64", "full"]
    for arm, card in cards.items():
        (entry,) = _front(card)["model-index"]  # one model per card
        name, evals = model_index_to_eval_results([entry])
        assert name == ModelCard(card).data.model_name == entry["name"]
        acc = [e for e in evals if e.task_name == "intents" and e.metric_name == "acc"]
        assert len(acc) == 1 and acc[0].metric_type == "accuracy" and acc[0].verified is False
        assert ("library_name" in _front(card)) == (arm != "full")  # PEFT adapters
    lora = _evals(cards["lora"])
    assert lora[("intents", "acc")].metric_value == 80.0
    assert lora[("summaries", "bleu")].metric_value == 15.8
    sentence = (
        "intents acc (n = 200): 80.0% [76.0, 84.0] (95% CI); +40.0 pts [+37.0, +43.0] vs base: "
        "improved"
    )
    assert sentence in cards["lora"]
    assert "fteval 9.9.9" in cards["lora"]
    assert [e["name"] for e in model_index(results, arms=["full"])] == ["full"]


def test_the_card_gives_each_tasks_hub_dataset_split_revision_shots_and_limit():
    evals = _evals(render_model_card(full_results(), _manifest(), arm="lora"))
    summaries = evals[("summaries", "bleu")]
    assert (summaries.dataset_type, summaries.dataset_config) == ("abisee/cnn_dailymail", "3.0.0")
    assert summaries.dataset_split == "test"
    assert summaries.dataset_revision == CNNDM["revision"]
    assert summaries.dataset_args == {
        "num_few_shot": 0,
        "limit": 200,
        "limit_sampling": "random",
        "limit_seed": 7,
    }
    stem = evals[("mmlu_stem", "acc")]
    assert (stem.dataset_type, stem.dataset_config, stem.dataset_split) == (
        "cais/mmlu",
        "all",
        "test",
    )
    assert stem.dataset_revision is None  # a local copy: fteval cannot know its revision
    assert stem.dataset_args == {"num_few_shot": 5}
    intents = evals[("intents", "acc")]  # the task's own files: no Hub id to give
    assert (intents.dataset_type, intents.dataset_split) == ("intents", "test")
    assert intents.dataset_args == {"num_few_shot": 0}


def test_the_prose_says_where_the_data_came_from_and_how_many_items_were_used():
    card = render_model_card(full_results(), _manifest(), arm="lora")
    rows = [line for line in card.splitlines() if line.startswith("| summaries ")]
    assert rows == [
        f"| summaries | abisee/cnn_dailymail (3.0.0) | test | {CNNDM['revision']} | 0 "
        "| 200 of 11,490 (a random 200, seed 7) |"
    ]
    assert "| mmlu_stem | cais/mmlu (all), a local copy | test | – | 5 | 200 |" in card


def test_a_task_whose_prompts_were_cut_is_flagged_beside_its_numbers():
    results = full_results()
    card = render_model_card(results, _manifest(), arm="lora")
    (cut,) = results["truncation"]
    assert f"> **Warning:** {cut_sentence(cut)}" in card
    datasets = {r["task"]["name"]: r["dataset"] for r in _front(card)["model-index"][0]["results"]}
    assert datasets["mmlu_stem"]["name"] == "mmlu_stem (prompts cut by the context window: 90%)"
    assert datasets["intents"]["name"] == "intents"  # nothing cut, nothing said
    uncut = copy.deepcopy(results)
    uncut["truncation"] = []
    assert "Warning" not in render_model_card(uncut, _manifest(), arm="lora")


def test_a_cut_task_group_is_one_warning_that_counts_its_cut_tasks():
    results = full_results()
    (cut,) = results["truncation"]
    results["tasks"][2]["groups"] = ["mmlu"]
    results["truncation"].append({**cut, "task": "mmlu", "n": 400})
    card = render_model_card(results, _manifest(), arm="lora")
    warnings = [line for line in card.splitlines() if line.startswith("> **Warning:**")]
    group = {**cut, "task": "mmlu", "n": 400}
    assert warnings == [
        f"> **Warning:** {cut_sentence(group)} Its tasks with cut prompts: mmlu_stem."
    ]


def test_the_model_is_named_after_its_folder_its_hub_id_or_model_name():
    def arm(identity: dict[str, Any]) -> Arm:
        return Arm(name="lora", kind="adapter", identity=identity)

    assert model_name(arm({"path": "/runs/7/support-adapter/", "local": True})) == "support-adapter"
    assert model_name(arm({"path": "C:\\runs\\support-adapter"})) == "support-adapter"
    assert model_name(arm({"path": "my-org/support-lora", "local": False})) == "my-org/support-lora"
    assert model_name(arm({"path": "."})) == "lora"  # no folder name: the arm's
    assert model_name(arm({})) == "lora"
    assert model_name(arm({"path": "/x/y"}), {"lora": "my-org/y-v2"}) == "my-org/y-v2"
    results = full_results()
    assert [e["name"] for e in model_index(results)] == ["lora", "q", "full"]  # /m/q
    results["arms"][0]["identity"] = {"path": "meta-llama/Llama-2-7b-hf", "local": False}
    card = render_model_card(results, arm="qlora-r64", name="my-org/support")
    assert _front(card)["base_model"] == "meta-llama/Llama-2-7b-hf"
    assert _front(card)["model-index"][0]["name"] == "my-org/support"
    assert "# my-org/support" in card
    local_base = render_model_card(full_results(), arm="full")
    assert "base_model" not in _front(local_base)  # a local path is not a Hub id


def test_a_task_group_gets_what_its_tasks_share_and_builtins_their_hub_id_alone():
    results = full_results()
    results["tasks"][2].update(groups=["mmlu"], source="builtin:mmlu")
    second = {**results["tasks"][2], "name": "mmlu_anatomy"}
    results["tasks"].append(second)
    manifest = _manifest()
    manifest["tasks"].append({**manifest["tasks"][2], "name": "mmlu_anatomy", "num_fewshot": 0})
    card = render_model_card(results, manifest, arm="lora")
    group = _evals(card)[("mmlu", "acc_micro")]
    assert (group.dataset_type, group.dataset_config, group.dataset_split) == (
        "cais/mmlu",
        "all",
        "test",
    )
    assert group.dataset_args is None  # the members' shots differ: none is claimed
    assert "| mmlu (2 tasks) | cais/mmlu (all), a local copy | test | – | – | 400 |" in card
    # no manifest (results alone): a built-in still names its Hub dataset
    bare = _evals(render_model_card(results, None, arm="lora"))
    assert bare[("mmlu", "acc_micro")].dataset_type == "cais/mmlu"
    assert bare[("mmlu", "acc_micro")].dataset_split is None


def test_model_cards_from_the_command_line(tmp_path, task_file, capsys):
    from fteval.cli import main
    from tests.pipeline.test_compare_runs import fake_run

    run = fake_run(tmp_path / "run", task_file, {"lora": ("x", 0.8), "other": ("y/z", 0.6)})
    capsys.readouterr()
    assert main(["report", str(run), "--model-card"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("---\nlibrary_name: peft\ntags:\n- fteval\nmodel-index:\n- name: x\n")
    assert printed.count("model-index:") == 2 and "- name: z\n" in printed
    assert "| intents | task.yaml | test | – | 0 | " in printed

    assert main(["report", str(run), "--model-card", str(tmp_path / "cards")]) == 0
    written = {p.name: p.read_text() for p in (tmp_path / "cards").iterdir()}
    assert sorted(written) == ["lora.md", "other.md"]
    assert printed == written["lora.md"] + "\n" + written["other.md"]

    one = tmp_path / "README.md"
    assert main(["report", str(run), "--model-card", str(one)]) == 2
    assert "a .md file holds one card, and 2 arms have one" in capsys.readouterr().err
    named = ["--model-card", str(one), "--arm", "other", "--model-name", "other=org/m"]
    assert main(["report", str(run), *named]) == 0
    assert _front(one.read_text())["model-index"][0]["name"] == "org/m"

    for bad, says in (
        (["--model-card", "--arm", "nosuch"], "no such arm"),
        (["--model-card", "--model-name", "base=m"], "'base' is not a fine-tuned arm"),
        (["--model-card", "--model-name", "lora"], "expected ARM=NAME"),
        (["--model-name", "lora=m"], "add --model-card"),
    ):
        assert main(["report", str(run), *bad]) == 2, bad
        assert says in capsys.readouterr().err, bad
