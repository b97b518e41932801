"""Perplexity tasks: rolling windows, token-weighted, equal to a direct computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from fteval.api import evaluate
from fteval.metrics.lm import CrossEntropy, Perplexity
from tests.conftest import write_jsonl

TEXTS = [
    "Customers ask about refunds every day.",
    "Shipping takes three days.",
    "Ünïcödé text — and emoji 🙂 count as bytes too.",
    "short",
]


def test_corpus_values_are_token_weighted_and_overflow_safe():
    predictions = [{"logprob": -10.0, "n_tokens": 5}, {"logprob": -2.0, "n_tokens": 1}]
    ce = CrossEntropy().score([None, None], predictions)
    assert ce == pytest.approx(12.0 / 6)
    assert Perplexity().score([None, None], predictions) == pytest.approx(math.exp(2.0))
    huge = [{"logprob": -1e6, "n_tokens": 10}]
    assert Perplexity().score([None], huge) == math.inf
    assert np.isnan(Perplexity().score([None], [{"logprob": 0.0, "n_tokens": 0}]))
    with pytest.raises(ValueError, match="0 tokens"):
        Perplexity().score([None], [{"logprob": -3.0, "n_tokens": 0}])


def perplexity_task(tmp_path, stride=None):
    write_jsonl(tmp_path / "texts.jsonl", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    spec = {"name": "ppl", "type": "perplexity", "data": "texts.jsonl", "id_field": "id",
            "text_field": "text"}  # fmt: skip
    if stride:
        spec["stride"] = stride
    path = tmp_path / "ppl.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.real_model
def test_perplexity_task_equals_direct_computation_from_logits(tmp_path, tiny_models):
    import torch
    from transformers import AutoModelForCausalLM

    results = evaluate(
        str(tiny_models["base"]), full=str(tiny_models["full"]),
        tasks=[str(perplexity_task(tmp_path))], out=tmp_path / "run", device="cpu",
        progress=False,
    )  # fmt: skip
    for arm in ("base", "full"):
        model = AutoModelForCausalLM.from_pretrained(tiny_models[arm]).eval()
        nll, tokens = 0.0, 0
        for text in TEXTS:
            ids = torch.tensor([[1] + [b + 3 for b in text.encode()]])
            with torch.no_grad():
                logprobs = model(input_ids=ids[:, :-1]).logits.float().log_softmax(-1)
            nll -= logprobs[0].gather(-1, ids[0, 1:, None]).sum().item()
            tokens += ids.shape[1] - 1
        got = {r["metric"]: r["value"] for r in results["scores"] if r["arm"] == arm}
        assert got["cross_entropy"] == pytest.approx(nll / tokens, rel=1e-5)
        assert got["perplexity"] == pytest.approx(math.exp(nll / tokens), rel=1e-5)
    comparison = next(c for c in results["comparisons"] if c["metric"] == "perplexity")
    assert comparison["test"] == "paired_permutation"
