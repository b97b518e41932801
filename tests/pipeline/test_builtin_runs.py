"""Built-in tasks in runs with the fake backend: prompt fitting, the judge, option errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fteval.api import evaluate, load_run, rescore
from fteval.backends.fake import FakeBackend
from fteval.config import build_config
from fteval.errors import ConfigError
from fteval.pipeline.judge import VERDICT_TOKENS

DATA = Path("/work/shared/data")
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")
ARMS = {"adapters": {"lora": "a"}, "full": "f"}


def _arms():
    return build_config({"base": "b", "tasks": ["sst2"], **ARMS}).arms()


def test_articles_are_cut_at_word_boundaries_to_fit_the_window(tmp_path):
    window = 1200  # characters: the fake backend counts one token per character
    backend = FakeBackend(_arms(), context_window=window)
    results = evaluate(
        "b", tasks=["cnn_dailymail"], backend=backend, out=tmp_path / "run", progress=False,
        data={"cnn_dailymail": str(DATA / "cnn_dailymail" / "cnndm_mini-dataset.tsv")},
        limit=3, bootstrap_resamples=100, permutations=100, **ARMS,
    )  # fmt: skip
    samples = [s for s in load_run(results["run_dir"]).samples if s.arm == "base"]
    prompts = {}
    for sample in samples:
        detail = sample.meta["truncation"]
        assert detail["field"] == "article" and detail["cut"]
        assert detail["reserved_tokens"] == 128 and detail["max_length"] == window
        assert 0 < detail["words_kept"] < detail["words_total"]
        prompts[sample.example_id] = detail
    articles = (DATA / "cnn_dailymail" / "cnndm_mini-dataset.tsv").read_text().splitlines()[:3]
    first = articles[0].split("\t")[0].split()
    kept = prompts["0"]["words_kept"]
    expected = (
        "Article: " + " ".join(first[:kept]) + "\n\nSummarize the article above in a few "
        "sentences.\nSummary:"
    )
    assert len(expected) + 128 <= window < len(expected) + 128 + len(first[kept]) + 1
    # the prompt the arms saw is the fitted one (the fake backend answers per prompt)
    assert (
        samples[0].prompt_hash == __import__("hashlib").sha256(expected.encode()).hexdigest()[:16]
    )


class BiasedJudge:
    """Always prefers the first response shown; optionally unreadable for some prompts."""

    def __init__(self, unreadable: str | None = None) -> None:
        self.unreadable = unreadable
        self.prompts: list[str] = []

    def identity(self):
        return {"kind": "test"}

    def prefer(self, prompts):
        self.prompts += list(prompts)
        return [None if self.unreadable and self.unreadable in p else (-0.1, -2.0) for p in prompts]

    def close(self):
        pass


def _judged(tmp_path, judge, **options):
    backend = FakeBackend(_arms())
    return evaluate(
        "b", tasks=["alpaca_eval"], backend=backend, out=tmp_path / "run", progress=False,
        data={"alpaca_eval": str(DATA / "alpaca_eval" / "alpaca_eval.jsonl")}, limit=4,
        bootstrap_resamples=100, permutations=100, judge=judge, **ARMS, **options,
    )  # fmt: skip


def test_both_orders_cancel_a_position_biased_judge(tmp_path):
    judge = BiasedJudge()
    results = _judged(tmp_path, judge)
    assert len(judge.prompts) == 3 * 4 * 2  # arms x items x orders
    rows = {r["arm"]: r for r in results["judge"]}
    assert set(rows) == {"base", "lora", "full"}
    for row in rows.values():
        assert (row["wins"], row["ties"], row["losses"]) == (0, 4, 0)
        assert row["win_rate"] == 0.5 and row["unreadable"] == 0
        assert row["opponent"] == "reference" and row["mean_length"] > 0
    metrics = {(r["arm"], r["metric"]) for r in results["scores"]}
    assert ("lora", "win_rate") in metrics and ("lora", "lc_win_rate") in metrics
    judgments = (Path(results["run_dir"]) / "judgments.jsonl").read_text().splitlines()
    assert {json.loads(j)["verdict"] for j in judgments} == {"arm", "opponent"}
    assert rescore(results["run_dir"])["judge"] == results["judge"]


def test_an_unreadable_judgment_is_an_error_counted_per_arm_never_a_score(tmp_path):
    instruction = "What are the names of some famous actors"
    results = _judged(tmp_path, BiasedJudge(unreadable=instruction))
    for row in results["judge"]:
        assert row["unreadable"] == 1 and row["n"] == 3


def test_against_the_base_answers_base_is_one_half_by_definition(tmp_path):
    judge = BiasedJudge()
    results = _judged(tmp_path, judge, task_options={"alpaca_eval": {"opponent": "base"}})
    assert {r["arm"] for r in results["judge"]} == {"lora", "full"}
    assert len(judge.prompts) == 2 * 4 * 2
    base = [r for r in results["scores"] if r["arm"] == "base" and r["metric"] == "win_rate"]
    assert base[0]["value"] == 0.5


def test_the_judge_is_never_an_evaluated_arm(tmp_path):
    base = tmp_path / "base"
    judge = tmp_path / "judge"
    for folder in (base, judge):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"same weights")
    config = {
        "tasks": ["alpaca_eval"], "backend": "fake", "out": str(tmp_path / "run"),
        "data": {"alpaca_eval": str(DATA / "alpaca_eval" / "alpaca_eval.jsonl")},
    }  # fmt: skip
    with pytest.raises(ConfigError, match="is the evaluated arm 'base'"):
        evaluate(str(base), judge=str(base), **config)
    with pytest.raises(ConfigError, match="same sha256"):
        evaluate(str(base), **{**config, "judge": str(judge)})
    with pytest.raises(ConfigError, match="--judge MODEL"):
        evaluate(str(base), **config)
    assert not (tmp_path / "run").exists()
    assert VERDICT_TOKENS == (" 1", " 2")


def test_data_and_task_options_for_no_task_of_the_run_are_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"--data sst=\.\.\.: no task of this run"):
        evaluate("b", tasks=["sst2"], backend="fake", data={"sst": "x"}, out=tmp_path / "r")
    with pytest.raises(ConfigError, match=r"--task-option humaneva=\.\.\."):
        evaluate(
            "b", tasks=["sst2"], backend="fake", task_options={"humaneva": {"n_samples": 2}},
            data={"sst2": str(DATA / "sst2")}, out=tmp_path / "r",
        )  # fmt: skip


def test_data_given_for_a_family_serves_its_members(tmp_path):
    copy = tmp_path / "trec"
    shutil.copytree(DATA / "trec", copy, ignore=shutil.ignore_patterns("*.md"))
    results = evaluate(
        "b", tasks=["trec50", "mmlu_anatomy"], backend=FakeBackend(_arms()[:1]),
        data={"trec": str(copy), "mmlu": str(DATA / "mmlu")}, limit=2, out=tmp_path / "run",
        progress=False, bootstrap_resamples=100, permutations=100,
    )  # fmt: skip
    assert {r["task"] for r in results["scores"]} == {"trec50", "mmlu_anatomy"}


def test_the_response_cache_passes_the_window_through(tmp_path):
    from fteval.backends.cache import ResponseCache
    from fteval.backends.caching import CachingBackend

    inner = FakeBackend(_arms(), context_window=321)
    cached = CachingBackend(inner, ResponseCache(tmp_path / "cache.sqlite"))
    assert cached.token_budget("lora").max_length == 321
    assert cached.token_budget("base").count(["abc"]) == [3]
    cached.close()


def test_compare_refuses_runs_judged_against_different_bases(tmp_path):
    from fteval.pipeline.compare_runs import compare_runs

    def judged(name: str, base: str, adapter: str) -> str:
        adapters = {adapter: f"weights-{adapter}"}
        arms = build_config({"base": base, "tasks": ["sst2"], "adapters": adapters}).arms()
        return evaluate(
            base, tasks=["alpaca_eval"], backend=FakeBackend(arms), out=tmp_path / name,
            progress=False, adapters=adapters,
            data={"alpaca_eval": str(DATA / "alpaca_eval" / "alpaca_eval.jsonl")}, limit=4,
            bootstrap_resamples=100, permutations=100, judge=BiasedJudge(),
            task_options={"alpaca_eval": {"opponent": "base"}},
        )["run_dir"]  # fmt: skip

    first, second = judged("one", "b", "lora"), judged("two", "other-base", "lora2")
    with pytest.raises(ConfigError, match=r"judged against the base.*different bases \(b vs"):
        compare_runs([first, second], out=tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()
    same = judged("three", "b", "lora3")
    results, _ = compare_runs([first, same], out=tmp_path / "cmp2")
    assert {r["arm"] for r in results["judge"]} == {"lora", "lora3"}
