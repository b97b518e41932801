"""What a run refuses, and what it leaves behind when it does.

* Non-finite model outputs are caught where they enter (``pipeline.requests``), naming
  the arm, the task and the item; a judge with no finite verdict is an error, a few
  unreadable verdicts a counted warning.
* A run refused before its first sample (bad input only a model load reveals) removes
  the run directory it made, parents included.
* Per-token metrics across arms with different tokenizers are warned about.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from fteval import evaluate
from fteval.backends.base import LOGLIKELIHOOD, ROLLING, ArmIdentity, Backend
from fteval.backends.fake import FakeBackend
from fteval.config import build_config
from fteval.errors import AdapterError, BackendError, ConfigError
from fteval.records import (
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
)
from tests.backends.checkpoints import gpt2_folder
from tests.conftest import write_jsonl, write_task


class BrokenArm(Backend):
    """Finite log-likelihoods, except ``bad`` (NaN or inf) for one arm on one context."""

    name = "fake"
    supports = frozenset({LOGLIKELIHOOD, ROLLING})

    def __init__(self, arms, *, arm: str, context: str, bad: float) -> None:
        super().__init__(arms)
        self.broken_arm, self.context, self.bad = arm, context, bad

    def identity(self, arm: str) -> ArmIdentity:
        return ArmIdentity(self.name, self.arm(arm).path)

    def _value(self, arm: str, text: str) -> float:
        return self.bad if arm == self.broken_arm and self.context in text else -1.0

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        return [LoglikelihoodResult(self._value(arm, r.context), True, 1) for r in requests]

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        return [RollingLoglikelihoodResult(self._value(arm, r.text), 3) for r in requests]


def _arms():
    return build_config({"base": "b", "tasks": ["t"], "adapters": {"lora": "a"}}).arms()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_choice_log_likelihood_names_the_arm_task_and_item(task_file, tmp_path, bad):
    backend = BrokenArm(_arms(), arm="lora", context="#4\n", bad=bad)
    with pytest.raises(BackendError) as caught:
        evaluate("b", tasks=[str(task_file)], adapters={"lora": "a"}, backend=backend,
                 out=tmp_path / "run", progress=False)  # fmt: skip
    message = str(caught.value)
    assert "arm 'lora'" in message and "task 'intents'" in message and "item 'r4'" in message
    assert f"log-likelihood of {bad}" in message and "choice 0" in message
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed"  # base answered first: a failed run, not complete
    assert not (tmp_path / "run" / "results.json").exists()


def test_a_non_finite_document_log_likelihood_is_refused_too(tmp_path):
    data = write_jsonl(tmp_path / "docs.jsonl", [{"id": i, "text": f"doc {i}"} for i in range(4)])
    task = tmp_path / "ppl.yaml"
    task.write_text(
        f"name: ppl\ntype: perplexity\ndata: {data.name}\nid_field: id\ntext_field: text\n"
        "metrics: [perplexity]\n"
    )
    backend = BrokenArm(_arms(), arm="base", context="doc 2", bad=math.nan)
    with pytest.raises(BackendError, match=r"arm 'base' .* task 'ppl', item '2'"):
        evaluate("b", tasks=[str(task)], adapters={"lora": "a"}, backend=backend,
                 out=tmp_path / "run", progress=False)  # fmt: skip
    assert not (tmp_path / "run").exists()  # refused before any sample was written


class ScriptedJudge:
    """Verdicts from a script: None (unreadable) for prompts holding ``unreadable``."""

    def __init__(self, unreadable: str) -> None:
        self.unreadable = unreadable

    def identity(self):
        return {"kind": "test"}

    def prefer(self, prompts):
        return [None if self.unreadable in p else (-0.1, -2.0) for p in prompts]

    def close(self):
        pass


def _judged(tmp_path: Path, judge: ScriptedJudge):
    rows = [
        {"instruction": f"say {word}", "output": word, "generator": "ref", "dataset": "t"}
        for word in ("alpha", "beta", "gamma", "delta")
    ]
    data = write_jsonl(tmp_path / "alpaca.jsonl", rows)
    backend = FakeBackend(_arms())
    return evaluate(
        "b", tasks=["alpaca_eval"], adapters={"lora": "a"}, backend=backend,
        out=tmp_path / "run", progress=False, data={"alpaca_eval": str(data)},
        task_options={"alpaca_eval": {"max_new_tokens": 4}}, judge=judge,
        bootstrap_resamples=100, permutations=100,
    )  # fmt: skip


def test_a_judge_with_no_finite_verdict_is_an_error_not_an_empty_result(tmp_path):
    with pytest.raises(BackendError, match="no finite log-likelihood for any of the 16"):
        _judged(tmp_path, ScriptedJudge(unreadable="Instruction"))


def test_some_unreadable_verdicts_are_counted_in_a_warning(tmp_path):
    results = _judged(tmp_path, ScriptedJudge(unreadable="say beta"))
    manifest = json.loads((Path(results.run_dir) / "manifest.json").read_text())
    assert any("4 of 16 judgments unreadable" in w for w in manifest["warnings"])


@pytest.mark.real_model
def test_a_refusal_only_a_model_load_finds_leaves_no_run_directory(
    tmp_path, task_file, tiny_models
):
    """An adapter that changes nothing passes every file check; loading it proves it
    (the probe), and the directory the run had made, parents included, is removed."""
    out = tmp_path / "deep" / "er" / "run"
    with pytest.raises(AdapterError, match="does not change the model's outputs"):
        evaluate(str(tiny_models["base"]), tasks=[str(task_file)],
                 adapters={"zero": str(tiny_models["zero_lora"])}, out=out, progress=False,
                 cache_dir="off")  # fmt: skip
    assert not (tmp_path / "deep").exists()


def test_an_architecture_transformers_does_not_know_is_refused_by_name(tmp_path, task_file):
    pytest.importorskip("transformers")
    model = gpt2_folder(tmp_path / "m", config={"model_type": "no-such-architecture"})
    with pytest.raises(BackendError, match=r"m: could not (load|read)"):
        evaluate(str(model), tasks=[str(task_file)], out=tmp_path / "run", progress=False,
                 cache_dir="off")  # fmt: skip
    assert not (tmp_path / "run").exists()


def test_a_refused_resume_keeps_the_earlier_run(tmp_path, task_file):
    out = tmp_path / "run"
    evaluate("b", tasks=[str(task_file)], backend="fake", out=out, progress=False,
             bootstrap_resamples=100, permutations=100)  # fmt: skip
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ConfigError):
        evaluate("b", tasks=[str(task_file)], backend="fake", out=out, progress=False,
                 bootstrap_resamples=100, permutations=100, judge=str(tmp_path))  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == before


def test_perplexity_across_different_tokenizers_is_warned_about(tmp_path, caplog):
    from fteval.pipeline.preflight import check_arm_files, tokenizer_warnings
    from fteval.pipeline.run import load_tasks

    base = gpt2_folder(tmp_path / "base")
    full = gpt2_folder(tmp_path / "full", tokenizer_tokens=48)
    data = write_jsonl(tmp_path / "docs.jsonl", [{"id": i, "text": f"doc {i}"} for i in range(3)])
    ppl = tmp_path / "ppl.yaml"
    ppl.write_text(
        f"name: ppl\ntype: perplexity\ndata: {data.name}\nid_field: id\ntext_field: text\n"
        "metrics: [perplexity, cross_entropy]\n"
    )
    config = build_config({"base": str(base), "full": str(full), "tasks": [str(ppl)]})
    warnings = tokenizer_warnings(load_tasks(config), check_arm_files(config))
    assert len(warnings) == 1 and "base vs full" in warnings[0]
    assert "task 'ppl': cross_entropy, perplexity are per token" in warnings[0]
    choice = write_task(tmp_path, [{"id": "r0", "text": "x", "label": "login"}])
    other = build_config({"base": str(base), "full": str(full), "tasks": [str(choice)]})
    assert tokenizer_warnings(load_tasks(other), check_arm_files(other)) == []  # per item
    shutil.copy(base / "tokenizer.json", full / "tokenizer.json")  # one tokenizer: quiet
    assert tokenizer_warnings(load_tasks(config), check_arm_files(config)) == []


def test_a_run_is_complete_only_once_its_reports_are_written(tmp_path, task_file, monkeypatch):
    import fteval.pipeline.run as run_module
    from fteval.errors import OutputError

    def fail(*args, **kwargs):
        raise OutputError("cannot write report.html: No space left on device")

    monkeypatch.setattr(run_module, "write_reports", fail)
    with pytest.raises(OutputError):
        evaluate("b", tasks=[str(task_file)], backend="fake", out=tmp_path / "run",
                 progress=False, bootstrap_resamples=100, permutations=100)  # fmt: skip
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "No space left" in manifest["error"]
