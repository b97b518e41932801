"""Calibration: a model whose confidences are known gives exact ECE, Brier and NLL; Brier
and NLL equal scikit-learn's; a temperature fitted on validation fixes a known
overconfidence."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from fteval.api import evaluate
from fteval.config import build_config
from fteval.robustness.calibration import (
    brier_items,
    confidence_and_correct,
    ece,
    ece_equal_mass,
    nll_items,
)
from tests.conftest import write_jsonl
from tests.robustness.backends import TableBackend

LABELS = ["yes", "no"]
FAST = {"bootstrap_resamples": 200, "permutations": 200}


def known_run(tmp_path, table, rows, validation=None):
    data = {"test": "test.jsonl"}
    write_jsonl(tmp_path / "test.jsonl", rows)
    if validation:
        write_jsonl(tmp_path / "validation.jsonl", validation)
        data["validation"] = "validation.jsonl"
    import yaml

    spec = {"name": "known", "data": data, "id_field": "id", "template": "Message: {text}\nA:",
            "choices": LABELS, "label_field": "label", "metrics": ["acc"]}  # fmt: skip
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    config = build_config({"base": "b", "adapters": {"sharp": "a"}, "tasks": ["x"]})
    return evaluate(
        "b", adapters={"sharp": "a"}, tasks=[str(tmp_path / "task.yaml")], out=tmp_path / "run",
        backend=TableBackend(config.arms(), table, LABELS), progress=False, **FAST,
    )  # fmt: skip


def test_known_confidences_give_exact_ece_brier_and_nll(tmp_path):
    # base: 10 items at p(yes)=0.75, 6 right -> one bin (0.733, 0.8]: |7.5 - 6| / 10
    # sharp: 10 items at p(yes)=0.95, 6 right -> |9.5 - 6| / 10
    rows = [{"id": f"i{i}", "text": f"m{i}", "label": "yes" if i < 6 else "no"} for i in range(10)]
    table = {
        "base": {f"m{i}": [0.75, 0.25] for i in range(10)},
        "sharp": {f"m{i}": [0.95, 0.05] for i in range(10)},
    }
    results = known_run(tmp_path, table, rows)
    by = {r["arm"]: r for r in results["calibration"]}
    base, sharp = by["base"], by["sharp"]
    assert base["ece"] == pytest.approx(0.15, abs=1e-12)
    assert sharp["ece"] == pytest.approx(0.35, abs=1e-12)
    # two choices: Brier is the binary one, (p - y)^2 on "yes"
    assert base["brier"] == pytest.approx((6 * 0.25**2 + 4 * 0.75**2) / 10, abs=1e-12)
    assert sharp["nll"] == pytest.approx(-(6 * math.log(0.95) + 4 * math.log(0.05)) / 10, abs=1e-12)
    assert sharp["mean_confidence"] == pytest.approx(0.95) and sharp["accuracy"] == 0.6
    assert sharp["overconfidence"] == pytest.approx(0.35) and sharp["overconfident"] is True
    assert sharp["vs_base"]["ece"]["delta"] == pytest.approx(0.2, abs=1e-12)
    assert sharp["vs_base"]["brier"]["delta"] == pytest.approx(
        sharp["brier"] - base["brier"], abs=1e-12
    )
    assert "overconfident" in sharp["message"]
    reliability = sharp["reliability"]
    assert len(reliability["count"]) == 15 and sum(reliability["count"]) == 10
    assert reliability["count"][14] == 10 and reliability["accuracy"][14] == 0.6
    assert base["temperature"] is None and base["ece_after_temperature"] is None


def random_distributions(n: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    gold = rng.integers(0, k, size=n)
    return list(probs), gold


@pytest.mark.parametrize("k", [2, 4])
def test_brier_and_nll_equal_scikit_learn(k):
    probs, gold = random_distributions(300, k, seed=k)
    matrix = np.array(probs)
    if k == 2:
        expected = brier_score_loss(gold == 1, matrix[:, 1])
    else:
        expected = brier_score_loss(gold, matrix, labels=list(range(k)))
    assert brier_items(probs, gold).mean() == pytest.approx(expected, rel=1e-12)
    assert nll_items(probs, gold).mean() == pytest.approx(
        log_loss(gold, matrix, labels=list(range(k))), rel=1e-12
    )


def test_ece_matches_a_direct_computation_and_equal_mass_uses_equal_bins():
    probs, gold = random_distributions(450, 4, seed=1)
    confidence, correct = confidence_and_correct(probs, gold)
    edges = np.linspace(0, 1, 16)
    direct = 0.0
    for low, high in itertools.pairwise(edges):
        members = (confidence > low) & (confidence <= high)
        direct += abs(confidence[members].sum() - correct[members].sum())
    assert ece(confidence, correct) == pytest.approx(direct / 450, rel=1e-12)
    order = np.argsort(confidence, kind="stable")
    direct_mass = sum(
        abs(confidence[part].sum() - correct[part].sum()) for part in np.split(order, 15)
    )
    assert ece_equal_mass(confidence, correct) == pytest.approx(direct_mass / 450, rel=1e-12)


def test_a_temperature_fitted_on_validation_fixes_a_known_overconfidence(tmp_path):
    # items are right with probability 0.7 but the model says 0.97: T > 1 fixes it
    rng = random.Random(0)

    def rows(prefix, n):
        out = []
        for i in range(n):
            label = "yes" if rng.random() < 0.7 else "no"
            out.append({"id": f"{prefix}{i}", "text": f"{prefix}{i}", "label": label})
        return out

    test, validation = rows("t", 200), rows("v", 200)
    table = {arm: {r["text"]: [0.97, 0.03] for r in test + validation} for arm in ("base", "sharp")}
    results = known_run(tmp_path, table, test, validation)
    sharp = next(r for r in results["calibration"] if r["arm"] == "sharp")
    share = sum(r["label"] == "yes" for r in validation) / 200
    # softmax(log p / T) puts p(yes) at the validation's share of "yes": the NLL optimum
    p_yes = 1 / (1 + (0.03 / 0.97) ** (1 / sharp["temperature"]))
    assert p_yes == pytest.approx(share, abs=1e-4)
    assert sharp["n_validation"] == 200
    assert sharp["ece_after_temperature"] < 0.1 < sharp["ece"]


def test_a_task_scoring_one_continuation_gets_no_calibration_rows():
    # lm-evaluation-harness "loglikelihood" tasks score one continuation per item: its
    # softmax is 1.0, so a calibration block would report acc 100 and ECE 0 beside acc 0
    from fteval.engine import StatsOptions
    from fteval.records import SampleResult
    from fteval.robustness.calibration import calibration_rows

    def sample(arm: str, i: int, logprob: float) -> SampleResult:
        return SampleResult("lm", f"i{i}", arm, "h", "0", "0", [logprob], meta={"choices": ["0"]})

    test = {arm: [sample(arm, i, -3.0 - i) for i in range(40)] for arm in ("base", "lora")}
    assert calibration_rows("lm", test, {}, "base", StatsOptions(**FAST)) == []
    two = {arm: [SampleResult("mc", f"i{i}", arm, "h", "a", "a", [-1.0, -2.0],
                              meta={"choices": ["a", "b"]}) for i in range(40)]
           for arm in ("base", "lora")}  # fmt: skip
    assert len(calibration_rows("mc", two, {}, "base", StatsOptions(**FAST))) == 2
