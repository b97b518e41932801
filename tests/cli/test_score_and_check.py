"""``fteval score`` (prediction files, no model) and the CI gate (``--fail-on``, ``check``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fteval.cli import main
from tests.conftest import intent_rows, write_jsonl, write_task

REFERENCES = [
    "the cat sat on the mat",
    "a quick brown fox jumps over the lazy dog",
    "refunds take five business days",
    "your parcel ships tomorrow",
    "",
    "Bonjour à tous, ça va très bien",
]


def prediction_files(tmp_path: Path) -> tuple[Path, Path]:
    base = [
        {"id": i, "prediction": p, "reference": [r, r.upper()]}
        for i, (p, r) in enumerate(
            zip(["the cat", "a fox", "refund soon", "", "", "bonjour"], REFERENCES)
        )
    ]
    tuned = [
        {"id": i, "prediction": r.replace("the ", "a "), "reference": [r, r.upper()]}
        for i, r in enumerate(REFERENCES)
    ]
    return write_jsonl(tmp_path / "base.jsonl", base), write_jsonl(tmp_path / "tuned.jsonl", tuned)


def test_score_files_compares_arms_and_matches_sacrebleu(tmp_path, capsys):
    sacrebleu = pytest.importorskip("sacrebleu")
    base, tuned = prediction_files(tmp_path)
    code = main(
        [
            "score",
            str(base),
            str(tuned),
            "--metric",
            "bleu",
            "--metric",
            "exact_match",
            "--out",
            str(tmp_path / "run"),
            "--json",
        ]
    )
    results = json.loads(capsys.readouterr().out)
    assert code == 0
    bleu = {r["arm"]: r["value"] for r in results["scores"] if r["metric"] == "bleu"}
    expected = sacrebleu.corpus_bleu(
        ["the cat", "a fox", "refund soon", "", "", "bonjour"],
        [REFERENCES, [r.upper() for r in REFERENCES]],
    ).score
    assert bleu["base"] == pytest.approx(expected)
    assert {(c["arm"], c["reference_arm"]) for c in results["comparisons"]} == {("tuned", "base")}
    assert results["empty_predictions"] == {"base": 2, "tuned": 1}
    assert (tmp_path / "run" / "samples.jsonl").exists()


def test_score_classification_predictions_equal_sklearn(tmp_path, capsys):
    metrics = pytest.importorskip("sklearn.metrics")
    rows = [
        {"id": i, "prediction": p, "reference": t}
        for i, (p, t) in enumerate(zip("aabbcab", "abbbcca"))
    ]
    path = write_jsonl(tmp_path / "preds.jsonl", rows)
    main(
        [
            "score",
            str(path),
            "--metric",
            "acc",
            "--metric",
            "f1_macro",
            "--json",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    results = json.loads(capsys.readouterr().out)
    values = {r["metric"]: r["value"] for r in results["scores"]}
    assert values["acc"] == pytest.approx(metrics.accuracy_score(list("abbbcca"), list("aabbcab")))
    assert values["f1_macro"] == pytest.approx(
        metrics.f1_score(list("abbbcca"), list("aabbcab"), average="macro")
    )


def test_score_refuses_unpaired_files(tmp_path, capsys):
    base, tuned = prediction_files(tmp_path)
    rows = [json.loads(line) for line in tuned.read_text().splitlines()][:-1]
    write_jsonl(tuned, rows)
    assert main(["score", str(base), str(tuned), "--metric", "bleu"]) == 2
    assert "does not have the same ids" in capsys.readouterr().err


def test_score_names_file_row_and_field_of_a_bad_reference(tmp_path, capsys):
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "prediction": "x", "reference": {"a": 1}}])
    assert main(["score", str(path), "--metric", "bleu"]) == 2
    err = capsys.readouterr().err
    assert "p.jsonl, row 1, field 'reference'" in err


def fake_run(tmp_path: Path, skills: dict[str, float], *extra: str) -> int:
    from tests.pipeline.test_end_to_end import knowing_backend

    task = write_task(tmp_path, intent_rows(150))
    import fteval.pipeline.run as runner

    original = runner.make_backend
    runner.make_backend = lambda name, arms, **_: knowing_backend(task, skills, arms)
    try:
        return main(
            [
                "run",
                "--backend",
                "fake",
                "--base",
                "b",
                "--adapter",
                "lora=a",
                "--task",
                str(task),
                "--out",
                str(tmp_path / "run"),
                "--quiet",
                *extra,
            ]
        )
    finally:
        runner.make_backend = original


def test_fail_on_regression_exits_3_and_check_agrees(tmp_path, capsys):
    code = fake_run(tmp_path, {"base": 0.9, "lora": 0.1}, "--fail-on", "regression")
    assert code == 3
    assert "regressed" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "run")]) == 3
    assert main(["check", str(tmp_path / "run"), "--fail-on", "none"]) == 0


def test_require_improved_passes_only_when_improved(tmp_path, capsys):
    assert fake_run(tmp_path, {"base": 0.0, "lora": 0.9}, "--require", "intents/acc=improved") == 0
    run = str(tmp_path / "run")
    assert main(["check", run, "--require", "intents/acc@lora=improved"]) == 0
    assert main(["check", run, "--require", "intents/f1_macro=improved"]) == 0
    assert main(["check", run, "--require", "intents/acc=better"]) == 2


def test_non_inferiority_margin_is_judged(tmp_path, capsys):
    fake_run(tmp_path, {"base": 0.5, "lora": 0.5}, "--non-inferiority", "intents=30")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    acc = next(c for c in results["comparisons"] if c["metric"] == "acc")
    assert acc["non_inferiority"] is True
    assert main(["check", str(tmp_path / "run"), "--require", "intents/acc=non-inferior"]) == 0


def test_check_takes_a_margin_and_judges_it_from_the_saved_intervals(tmp_path, capsys):
    fake_run(tmp_path, {"base": 0.5, "lora": 0.5})
    run = str(tmp_path / "run")
    want = ["--require", "intents/acc=non-inferior"]
    assert main(["check", run, *want]) == 2  # no margin set: a usage error, not a pass
    assert "set one with --non-inferiority intents[/acc]=POINTS" in capsys.readouterr().err
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    acc = next(c for c in results["comparisons"] if c["metric"] == "acc")
    wide = -100 * acc["ci_low"] + 1  # just beyond the interval's low end, in points
    assert main(["check", run, *want, "--non-inferiority", f"intents={wide}"]) == 0
    narrow = max(0.0, -100 * acc["ci_low"] - 1)
    assert main(["check", run, *want, "--non-inferiority", f"intents/acc={narrow}"]) == 3
    assert "non-inferiority" in capsys.readouterr().err
    assert main(["check", run, "--non-inferiority", "nope=1"]) == 2
    assert "no such task" in capsys.readouterr().err


def test_score_refuses_arms_scored_against_different_references(tmp_path, capsys):
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": 1, "prediction": "cat", "reference": "cat"}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": 1, "prediction": "cat", "reference": "dog"}])
    assert main(["score", str(a), str(b), "--metric", "exact_match"]) == 2
    err = capsys.readouterr().err
    assert "b.jsonl, row 1, field 'reference'" in err and "another reference" in err


def test_bad_require_fails_before_the_run_starts(tmp_path, capsys):
    task = write_task(tmp_path, intent_rows(10))
    code = main(["run", "--backend", "fake", "--base", "b", "--task", str(task),
                 "--out", str(tmp_path / "run"), "--require", "intents=improve"])  # fmt: skip
    assert code == 2
    assert "--require" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
