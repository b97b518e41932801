"""Perturbations in real runs (fake backends with known answers): the robustness rows,
pairing, clean scores untouched, samples' tags, re-scoring without a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fteval.api import evaluate, load_run, rescore
from fteval.config import build_config
from fteval.errors import ConfigError
from fteval.records import dumps
from fteval.tasks import load_task
from tests.conftest import write_task
from tests.robustness.backends import KeywordBackend

LABELS = ["login", "billing", "refund"]
KEYWORDS = {"login": "password", "billing": "invoice", "refund": "refund"}
FAST = {"bootstrap_resamples": 200, "permutations": 200}


def keyword_rows(n: int = 60) -> list[dict]:
    text = {
        "login": "I forgot my password again",
        "billing": "the invoice looks wrong to me",
        "refund": "I would like a refund please",
    }
    return [
        {"id": f"k{i}", "text": f"{text[LABELS[i % 3]]} (ticket {i})", "label": LABELS[i % 3],
         "channel": "email" if i % 2 else "chat"}
        for i in range(n)
    ]  # fmt: skip


def run(tmp_path: Path, name: str, **extra):
    task = write_task(tmp_path, keyword_rows(), choices=LABELS)
    config = build_config({"base": "b", "adapters": {"kw": "a"}, "tasks": [str(task)]})
    backend = KeywordBackend(config.arms(), {"kw": KEYWORDS}, fallback="login")
    return evaluate(
        "b", adapters={"kw": "a"}, tasks=[str(task)], out=tmp_path / name, backend=backend,
        progress=False, **FAST, **extra,
    )  # fmt: skip


def row(results, arm, perturbation, metric="acc"):
    (found,) = [
        r for r in results["robustness"]
        if (r["arm"], r["perturbation"], r["metric"]) == (arm, perturbation, metric)
    ]  # fmt: skip
    return found


def test_a_typo_in_every_letter_provably_breaks_a_keyword_model(tmp_path):
    results = run(tmp_path, "run", perturbations=["typo:rate=1.0,ops=sub,label=typo"])
    kw, base = row(results, "kw", "typo"), row(results, "base", "typo")
    # every keyword is destroyed, so kw falls back to "login": right on a third of the items
    change = kw["under_perturbation"]  # every delta is perturbed - clean
    assert (kw["clean"], kw["perturbed"], change["delta"]) == (
        1.0,
        pytest.approx(1 / 3),
        pytest.approx(-2 / 3),
    )
    assert kw["ratio"] == pytest.approx(1 / 3) and kw["brittle"] is True
    assert change["ci_low"] > -0.85 and change["ci_high"] < -0.5
    assert change["verdict"] == "regressed" and change["test"] == "mcnemar_exact"
    # the base always answers "login": perturbations cannot move it
    assert (base["clean"], base["perturbed"]) == (pytest.approx(1 / 3),) * 2
    assert base["under_perturbation"]["delta"] == 0.0
    assert base["vs_base"] is None and base["brittle"] is False
    gap = kw["vs_base"]  # kw's change minus the base's change, item by item
    assert gap["delta"] == pytest.approx(-2 / 3) and gap["ci_high"] < -0.5
    assert gap["p_value"] < 0.01 and gap["verdict"] == "regressed"
    assert gap["reference_arm"] == "base" and gap["subject"]["perturbation"] == "typo"
    assert kw["k"] == 1 and kw["worst_of_k"] is None and kw["n"] == 60


def test_perturbations_never_change_the_clean_scores(tmp_path):
    clean = run(tmp_path, "clean")
    perturbed = run(tmp_path, "perturbed", perturbations=["typo:rate=0.3", "casing:k=2"])
    assert clean["scores"] == perturbed["scores"]
    assert clean["comparisons"] == perturbed["comparisons"]
    assert clean["robustness"] == [] and len(perturbed["robustness"]) == 2 * 2 * 3


def test_worst_of_k_counts_an_item_only_when_every_variant_is_right(tmp_path):
    results = run(tmp_path, "run", perturbations=["typo:rate=0.15,k=3,label=t3"])
    kw = row(results, "kw", "t3")
    samples = load_run(results["run_dir"]).samples
    variants = [s for s in samples if s.task == "intents~t3" and s.arm == "kw"]
    by_parent: dict[str, list[float]] = {}
    for sample in variants:
        by_parent.setdefault(sample.meta["parent_id"], []).append(sample.scores["acc"])
    assert all(len(v) == 3 for v in by_parent.values()) and len(by_parent) == 60
    assert kw["worst_of_k"] == pytest.approx(sum(min(v) for v in by_parent.values()) / 60)
    assert kw["perturbed"] == pytest.approx(sum(sum(v) / 3 for v in by_parent.values()) / 60)
    assert kw["worst_of_k"] < kw["perturbed"] < kw["clean"]


def test_perturbed_samples_carry_their_perturbation_and_parent_and_rescore_rebuilds_all(tmp_path):
    results = run(tmp_path, "run", perturbations=["typo:rate=0.3"], slices=["channel"])
    directory = Path(results["run_dir"])
    lines = [json.loads(x) for x in (directory / "samples.jsonl").read_text().splitlines()]
    perturbed = [x for x in lines if x["task"] == "intents~typo:rate=0.3"]
    assert len(perturbed) == 2 * 60
    for line in perturbed:
        assert line["meta"]["parent_id"] == line["example_id"]
        assert line["meta"]["perturbation"] == "typo:rate=0.3"
        assert line["meta"]["perturbation_signature"].startswith("typo|")
    clean = {(x["arm"], x["example_id"]): x for x in lines if x["task"] == "intents"}
    for line in perturbed:  # pairs with its own clean item: the same target
        assert clean[(line["arm"], line["meta"]["parent_id"])]["target"] == line["target"]
    saved = json.loads((directory / "results.json").read_text())
    again = json.loads(dumps(rescore(directory)))  # as written: NaN becomes null
    assert saved["robustness"] and saved["slices"] and saved["calibration"]
    for section in ("robustness", "slices", "slice_summary", "calibration", "contamination"):
        assert again[section] == saved[section]


def test_a_run_cut_short_resumes_to_the_same_perturbed_samples(tmp_path):
    extra = {"perturbations": ["typo:rate=0.3,k=2"], "slices": ["channel"], "flush_every": 10}
    first = Path(run(tmp_path, "run", **extra)["run_dir"])
    whole = (first / "samples.jsonl").read_bytes()
    kept = whole.splitlines(keepends=True)[:150]  # inside the kw arm's perturbed copies
    (first / "samples.jsonl").write_bytes(b"".join(kept))
    manifest = json.loads((first / "manifest.json").read_text())
    (first / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    again = run(tmp_path, "run", **extra)
    assert (first / "samples.jsonl").read_bytes() == whole
    assert json.loads((first / "manifest.json").read_text())["resumed_at"]
    assert row(again, "kw", "typo:rate=0.3,k=2")["n"] == 60


@pytest.mark.real_model
def test_long_counts_tokens_with_the_base_models_tokenizer(tmp_path, tiny_models):
    task = write_task(tmp_path, keyword_rows(6), choices=LABELS)
    results = evaluate(
        str(tiny_models["base"]), tasks=[str(task)], out=tmp_path / "run", progress=False,
        device="cpu", cache_dir="off", perturbations=["long:tokens=120"], **FAST,
    )  # fmt: skip
    samples = [
        s for s in load_run(results["run_dir"]).samples if s.task.endswith("~long:tokens=120")
    ]
    assert len(samples) == 6
    for sample in samples:
        assert "tok:model" in sample.meta["perturbation_signature"]
        edits = dict(sample.meta["edits"])
        assert edits["distractor_sentences"] >= 1 and edits["prompt_tokens"] <= 120
        prompt = next(e for e in load_task(str(task)).examples if e.example_id == sample.example_id)
        assert edits["prompt_tokens"] > len(prompt.prompt.encode())  # ByT5: a token per byte
    with pytest.raises(ConfigError, match="does not fit the context window of 128 tokens"):
        evaluate(
            str(tiny_models["base"]), tasks=[str(task)], out=tmp_path / "too_long",
            progress=False, device="cpu", cache_dir="off", perturbations=["long:tokens=500"],
        )  # fmt: skip
