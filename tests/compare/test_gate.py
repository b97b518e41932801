"""The CI gate says what the numbers say: a misspelt requirement is a usage error, every
failing comparison is one line, a non-inferiority requirement explains itself."""

from __future__ import annotations

import pytest

from fteval.cli import main
from fteval.compare.gate import check
from fteval.errors import ConfigError

ARMS = [{"name": "base", "kind": "base"}, {"name": "lora", "kind": "adapter"}]


def row(metric="acc", verdict="no significant difference", **extra):
    return {
        "task": "t", "metric": metric, "arm": "lora", "reference_arm": "base",
        "verdict": verdict, "significant": verdict in ("improved", "regressed"),
        "delta": -0.03, "ci_low": -0.05, "ci_high": -0.01, "p_adjusted": 0.01, "scale": 100.0,
        "higher_is_better": True, **extra,
    }  # fmt: skip


def results(*rows):
    return {"arms": ARMS, "comparisons": list(rows)}


def test_a_require_that_matches_nothing_is_a_usage_error_listing_the_names():
    data = results(row("acc"), row("f1_macro"))
    for text in ("t/accuracy=improved", "tt=improved", "t/acc@qlora=improved"):
        with pytest.raises(ConfigError) as caught:
            check(data, require=[text])
        message = str(caught.value)
        assert f"--require {text}: matches no comparison" in message
        assert "tasks: t; metrics: acc, f1_macro; arms: lora" in message


def test_a_require_without_an_arm_applies_to_every_non_base_arm():
    data = {
        "arms": [*ARMS, {"name": "full", "kind": "full"}],
        "comparisons": [
            row(verdict="improved"),
            {**row(verdict="no significant difference"), "arm": "full"},
            {**row(verdict="no significant difference"), "reference_arm": "full"},  # not vs base
        ],
    }
    (line,) = check(data, fail_on="none", require=["t/acc=improved"])
    assert line.startswith("t/acc@full vs base: not improved")


def test_non_inferior_without_a_margin_is_a_usage_error():
    with pytest.raises(ConfigError, match="no non-inferiority margin was set for t/acc"):
        check(results(row()), require=["t/acc=non-inferior"])


def test_a_loss_within_the_margin_passes_even_when_it_is_a_significant_regression():
    tolerable = row(verdict="regressed", non_inferiority=True, non_inferiority_margin=0.02)
    assert check(results(tolerable)) == []
    assert check(results(tolerable), require=["t=non-inferior"]) == []
    assert check(results(row(verdict="regressed"))) == [
        "t/acc@lora vs base: regressed (Δ -3.00 pts, adjusted p 0.01)"
    ]


def test_non_inferiority_not_shown_is_one_line_that_explains_itself():
    short = row(non_inferiority=False, non_inferiority_margin=0.02, ci_low=-0.05)
    lines = check(results(short), require=["t/acc=non-inferior", "t=no-regression"])
    assert lines == [
        "t/acc@lora vs base: non-inferiority within 2.00 pts not shown: the CI's low end "
        "-5.00 pts is at or below -2.00 pts (--require t/acc=non-inferior)"
    ]


def test_a_requirement_with_an_unknown_arm_fails_before_the_run(tmp_path, capsys):
    from tests.conftest import intent_rows, write_task

    task = write_task(tmp_path, intent_rows(10))
    code = main(["run", "--backend", "fake", "--base", "b", "--adapter", "lora=a",
                 "--task", str(task), "--out", str(tmp_path / "run"),
                 "--require", "intents@qlora=improved"])  # fmt: skip
    assert code == 2
    assert "no arm 'qlora' is compared with the base (arms: lora)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_help_shows_the_default_fail_on_and_what_a_require_without_arm_means(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "regression (default)" in text
    assert "without @ARM every non-base arm" in text
