"""The vLLM backend against a stand-in ``vllm`` module (tests/backends/fake_vllm.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fteval.backends import make_backend
from fteval.errors import AdapterError, BackendError, MissingDependencyError
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    LoglikelihoodRequest,
    RollingLoglikelihoodRequest,
    SamplingParams,
)
from tests.backends import fake_vllm
from tests.backends.checkpoints import write_safetensors
from tests.backends.openai_stub import expected_loglikelihood, to_ids

PAIRS = [
    ("Message: I cannot sign in\nIntent:", " login"),
    ("Message: I cannot sign in\nIntent: ", "billing"),
    ("Q: 2+2=", "4"),
]


def folders(root: Path, *, noop: bool = False) -> dict[str, str]:
    """base/ and full/ with a config and (tiny, distinct) safetensors; lora/ and lora2/
    adapter folders. Real enough for the run's pre-flight; the fake vllm loads nothing."""
    paths = {name: root / name for name in ("base", "full", "lora", "lora2")}
    for number, name in enumerate(("base", "full")):
        paths[name].mkdir()
        (paths[name] / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
        write_safetensors(paths[name] / "model.safetensors", {"w": np.full(2, number)})
    from transformers import ByT5Tokenizer

    ByT5Tokenizer().save_pretrained(paths["base"])
    for number, (name, rank) in enumerate((("lora", 4), ("lora2", 12))):
        paths[name].mkdir()
        write_safetensors(paths[name] / "adapter_model.safetensors", {"w": np.full(2, number)})
        config = {"r": rank, "base_model_name_or_path": str(paths["base"])}
        (paths[name] / "adapter_config.json").write_text(json.dumps(config))
    if noop:
        (paths["lora2"] / "NOOP").write_text("")
    return {k: str(v) for k, v in paths.items()}


def arms(paths: dict[str, str], *names: str) -> list[ArmSpec]:
    kinds = {"base": "base", "full": "full"}
    return [ArmSpec(n, kinds.get(n, "adapter"), paths[n], n) for n in names]


@pytest.fixture
def llm(monkeypatch):
    return fake_vllm.install(monkeypatch)


def make(paths, *names, **settings):
    backend = make_backend("vllm", arms(paths, *names), progress=False, **settings)
    backend.prepare()
    return backend


def test_one_engine_serves_the_base_and_every_adapter_with_its_own_lora_request(llm, tmp_path):
    paths = folders(tmp_path)
    backend = make(paths, "base", "lora", "lora2", "full", max_length=256)
    requests = [LoglikelihoodRequest(*p) for p in PAIRS]
    for arm in ("base", "lora", "lora2"):
        results = backend.loglikelihood(arm, requests)
        model = fake_vllm.bigram_factory(paths["base"], paths[arm] if arm != "base" else None)
        for (context, continuation), result in zip(PAIRS, results):
            logprob, greedy = expected_loglikelihood(model, context, continuation)
            assert result.logprob == pytest.approx(logprob, abs=1e-9)
            assert result.is_greedy == greedy
            assert result.n_tokens == len(to_ids(context + continuation)) - len(
                to_ids(context.rstrip())
            )
    assert len(llm.created) == 1
    engine = llm.created[0]
    assert engine["enable_lora"] and engine["max_loras"] == 2 and engine["max_lora_rank"] == 16
    loras = [c["lora"] for c in llm.calls if c["lora"] is not None]
    assert {(r.lora_name, r.lora_int_id, r.lora_path) for r in loras} == {
        ("lora", 1, paths["lora"]),
        ("lora2", 2, paths["lora2"]),
    }


def test_the_full_fine_tune_gets_its_own_engine_after_the_first_is_released(llm, tmp_path):
    paths = folders(tmp_path)
    backend = make(paths, "base", "lora", "full")
    request = [LoglikelihoodRequest(*PAIRS[0])]
    backend.loglikelihood("base", request)
    backend.release("base")
    backend.loglikelihood("lora", request)
    backend.release("lora")
    assert len(llm.alive) == 0  # the first engine is gone before the second starts
    [full] = backend.loglikelihood("full", request)
    assert [c["model"] for c in llm.created] == [paths["base"], paths["full"]]
    assert "enable_lora" not in llm.created[1]
    model = fake_vllm.bigram_factory(paths["full"], None)
    assert full.logprob == pytest.approx(expected_loglikelihood(model, *PAIRS[0])[0], abs=1e-9)
    backend.close()
    assert len(llm.alive) == 0


def test_long_inputs_lose_their_oldest_context_tokens(llm, tmp_path):
    backend = make(folders(tmp_path), "base", max_length=32)
    context = "y" * 50 + " answer:"
    [result] = backend.loglikelihood("base", [LoglikelihoodRequest(context, " no")])
    assert result.truncated_tokens == len(to_ids(context + " no")) - 31
    assert result.truncation_side == "left"
    model = fake_vllm.bigram_factory(str(tmp_path / "base"), None)
    assert result.logprob == pytest.approx(expected_loglikelihood(model, context, " no")[0])


def test_rolling_windows_score_each_token_once(llm, tmp_path):
    backend = make(folders(tmp_path), "base", max_length=24)
    text = "0123456789" * 7
    [result] = backend.loglikelihood_rolling("base", [RollingLoglikelihoodRequest(text)])
    model = fake_vllm.bigram_factory(str(tmp_path / "base"), None)
    ids = [1, *to_ids(text)]
    assert result.n_tokens == len(text)
    reference = sum(model.next_logprobs(ids[:i])[ids[i]] for i in range(1, len(ids)))
    assert result.logprob == pytest.approx(reference, abs=1e-9)


def test_generation_seeds_every_sample_and_maps_finish_reasons(llm, tmp_path):
    backend = make(folders(tmp_path), "base", "lora")
    sampled = GenerateRequest("Hello", ("e",), 10, SamplingParams(temperature=1.0, n=3, seed=5))
    greedy = GenerateRequest("Hi", (), 6, SamplingParams(n=2))
    first = backend.generate("lora", [sampled, greedy])
    again = backend.generate("lora", [sampled, greedy])
    assert first == again
    seeds = [p.seed for p in llm.calls[-1]["params"]]
    assert len(seeds) == 4 and len(set(seeds[:3])) == 3  # 3 samples + 1 greedy request
    assert all("e" not in text for text in first[0].texts)
    assert set(first[0].finish_reasons) <= {"stop", "eos", "length"}
    assert first[1].texts[0] == first[1].texts[1]
    assert llm.calls[-1]["lora"].lora_name == "lora"
    with pytest.raises(BackendError, match="chat template"):
        backend.generate("base", [GenerateRequest("Hi", chat=True)])


def test_an_adapter_that_changes_nothing_is_an_error(llm, tmp_path):
    with pytest.raises(AdapterError, match=r"'lora2'.*does not change"):
        make(folders(tmp_path, noop=True), "base", "lora", "lora2")


def test_a_missing_vllm_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "vllm", None)
    with pytest.raises(MissingDependencyError, match=r"fteval\[vllm\]"):
        make_backend("vllm", arms(folders(tmp_path), "base"))


class _TorchRows:
    """A real model behind the fake engine: log-softmax rows from one forward pass."""

    def __init__(self, model) -> None:
        self.model = model

    def _logprobs(self, ids):
        import torch

        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([list(ids)])).logits[0]
        return logits.float().log_softmax(-1)

    def rows(self, ids):
        return self._logprobs(ids)[:-1].tolist()

    def next_logprobs(self, ids):
        return self._logprobs(ids)[-1].tolist()


@pytest.mark.real_model
def test_vllm_and_hf_backends_agree_per_item_on_a_real_model(llm, tiny_models):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    def factory(model_path, lora_path):
        model = AutoModelForCausalLM.from_pretrained(model_path).eval()
        if lora_path:
            model = PeftModel.from_pretrained(model, lora_path).eval()
        return _TorchRows(model)

    llm.model_factory = staticmethod(factory)
    paths = {k: str(v) for k, v in tiny_models.items()}
    specs = arms(paths, "base", "lora", "full")
    vllm_backend = make_backend("vllm", specs, progress=False)
    hf_backend = make_backend("hf", specs, device="cpu", dtype="float32", progress=False)
    vllm_backend.prepare()
    hf_backend.prepare()
    requests = [LoglikelihoodRequest(*p) for p in [*PAIRS, ("", "hello"), ("über ", "naïve")]]
    generate = [GenerateRequest(p[0], ("\n",), 8) for p in PAIRS]
    for arm in ("base", "lora", "full"):
        ours = vllm_backend.loglikelihood(arm, requests)
        theirs = hf_backend.loglikelihood(arm, requests)
        for a, b in zip(ours, theirs):
            assert a.logprob == pytest.approx(b.logprob, abs=1e-5)
            assert (a.is_greedy, a.n_tokens) == (b.is_greedy, b.n_tokens)
        ours_generated = vllm_backend.generate(arm, generate)
        theirs_generated = hf_backend.generate(arm, generate)
        for a, b in zip(ours_generated, theirs_generated):
            assert (a.texts, a.n_tokens, a.finish_reasons) == (
                b.texts,
                b.n_tokens,
                b.finish_reasons,
            )
        vllm_backend.release(arm)


def test_a_cli_run_passes_engine_args_and_records_lora_serving(llm, tmp_path, task_file, capsys):
    from fteval.cli import main

    paths = folders(tmp_path)
    common = [
        "run", "--backend", "vllm", "--base", paths["base"], "--adapter", f"lora={paths['lora']}",
        "--full", paths["full"], "--task", str(task_file), "--quiet", "--bootstrap", "200",
        "--permutations", "200", "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    args = ["--engine-arg", "gpu_memory_utilization=0.5", "--engine-arg", "enforce_eager=true"]
    assert main([*common, "--out", str(tmp_path / "run"), *args]) == 0
    assert [e["gpu_memory_utilization"] for e in llm.created] == [0.5, 0.5]
    assert all(e["enforce_eager"] is True for e in llm.created)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    identity = {a["name"]: a["identity"] for a in results["arms"]}
    assert identity["lora"]["adapter_serving"] == "vllm_lora"
    assert identity["lora"]["probe_max_abs_logprob_change"] > 0
    assert identity["lora"]["engine_args"] == {"gpu_memory_utilization": 0.5, "enforce_eager": True}
    assert {r["arm"] for r in results["scores"]} == {"base", "lora", "full"}
    assert main([*common, "--out", str(tmp_path / "bad"), "--engine-arg", "eager"]) == 2
    assert "--engine-arg expects KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("enforce_eager=maybe", "--engine-arg enforce_eager='maybe': expected a boolean"),
        ("gpu_memory_utilization=lots", "gpu_memory_utilization='lots': expected a finite"),
        ("gpu_memory_utilization=.nan", "gpu_memory_utilization=nan: expected a finite number"),
    ],
)
def test_engine_args_are_typed_by_vllms_declaration(llm, tmp_path, task_file, capsys, arg, message):
    from fteval.cli import main

    paths = folders(tmp_path)
    out = tmp_path / "run"
    argv = ["run", "--backend", "vllm", "--base", paths["base"], "--task", str(task_file),
            "--engine-arg", arg, "--out", str(out), "--quiet", "--cache-dir", "off"]  # fmt: skip
    code = main(argv)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not llm.created
