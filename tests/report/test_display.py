"""What the tables say agrees with the verdicts: display units, stars and words."""

from __future__ import annotations

import copy

from fteval.report import render_markdown, render_terminal
from fteval.report.table import build_tables, verdict_lines
from tests.report.fixtures import full_results


def _results(**changes):
    """Two arms, one proportion metric (acc) and one 0-100 score (bleu)."""

    def row(metric, arm, value, scale):
        return {
            "task": "t",
            "arm": arm,
            "metric": metric,
            "value": value,
            "ci_low": value,
            "ci_high": value,
            "n": 100,
            "scale": scale,
            "higher_is_better": True,
        }

    def comparison(metric, delta, scale, verdict, p=0.2, **extra):
        return {
            "task": "t",
            "metric": metric,
            "arm": "lora",
            "reference_arm": "base",
            "reference_kind": "base",
            "delta": delta,
            "ci_low": delta - 0.01,
            "ci_high": delta + 0.01,
            "p_value": p,
            "p_adjusted": p,
            "test": "mcnemar_exact",
            "verdict": verdict,
            "mde": 0.02 if scale == 100 else 2.0,
            "n": 100,
            "scale": scale,
            "higher_is_better": True,
            **extra,
        }

    results = {
        "arms": [{"name": "base", "kind": "base"}, {"name": "lora", "kind": "adapter"}],
        "scores": [
            row("acc", "base", 0.5, 100.0),
            row("acc", "lora", 0.533, 100.0),
            row("bleu", "base", 20.0, 1.0),
            row("bleu", "lora", 23.3, 1.0),
        ],
        "comparisons": [
            comparison("acc", 0.033, 100.0, "improved", p=0.001),
            comparison("bleu", -0.833, 1.0, "no significant difference"),
        ],
        "statistics": {"alpha": 0.05, "correction": "holm"},
    }
    results.update(changes)
    return results


def test_star_follows_the_verdict_not_the_adjusted_p_value():
    results = _results()
    # significant by p but the CI covers 0: the verdict says no difference, so no star
    results["comparisons"][0].update(
        p_adjusted=0.01, ci_low=-0.01, verdict="no significant difference"
    )
    (table,) = build_tables(results)
    assert not any(cell.endswith("*") for cell in table.rows[0])
    # the row's own boolean decides when present
    results["comparisons"][0]["significant"] = True
    (table,) = build_tables(results)
    assert table.rows[0][-1].endswith("*")


def test_footnote_names_the_correction_family_of_todays_runs():
    text = render_terminal(_results(), details=True)
    assert "Holm-adjusted within each arm pair, over its tasks × metrics" in " ".join(text.split())
    assert "lora vs base: 2" in text


def test_footnote_uses_the_rows_family_and_the_run_scope_when_present():
    results = _results(statistics={"alpha": 0.05, "correction": "bh", "correction_scope": "run"})
    for row in results["comparisons"]:
        row.update(correction_family="run", family_size=7)
    flat = " ".join(render_markdown(results).split())
    assert "Benjamini-Hochberg-adjusted over every comparison of the run together (run: 7" in flat


def test_one_precision_per_scale_in_a_table():
    results = _results()
    results["comparisons"][0].update(delta=-0.00833, ci_low=-0.02, ci_high=0.004)
    results["scores"][1]["value"] = 0.533
    (table,) = build_tables(results)
    acc_row = table.rows[0]
    assert acc_row[1:3] == ("50.0", "53.3")
    assert acc_row[3] in ("-0.8", "-0.8*")  # not -0.833 beside +3.3-style cells
    bleu_row = table.rows[1]
    assert bleu_row[1:4] == ("20.0", "23.3", "-0.8")


def test_percent_only_for_proportions():
    (table,) = build_tables(_results())
    assert table.rows[0][0] == "acc (%)"
    assert table.rows[1][0] == "bleu"
    text = render_terminal(_results(), details=True)
    assert "scores in %" not in text
    assert "bleu (%)" not in text and "bleu (%)" not in render_markdown(_results())


def test_an_adapter_trails_or_leads_the_full_fine_tune():
    results = full_results()
    lines = verdict_lines(results)
    vs_full = [line for line in lines if "vs full:" in line]
    assert vs_full and all(
        " regressed " not in line and " improved " not in line for line in vs_full
    )
    assert any("qlora-r64 vs full: trails" in line for line in vs_full)
    vs_base = [line for line in lines if "vs base:" in line]
    assert any(": improved (" in line for line in vs_base)
    markdown = render_markdown(results)
    assert "▼ trails" in markdown and "▲ improved" in markdown


def test_terminal_quotes_the_mde_beside_no_significant_difference():
    results = _results()
    line = next(line for line in verdict_lines(results) if " bleu:" in line)
    assert "no significant difference" in line and "MDE 2.0" in line


def test_inputs_are_not_modified():
    results = full_results()
    before = copy.deepcopy(results)
    render_markdown(results)
    render_terminal(results, details=True)
    assert results == before


def test_a_score_on_a_0_100_scale_is_not_called_a_percent():
    """ROUGE, METEOR and SQuAD-F1 are stored in [0, 1] with scale 100 like accuracy, but
    their rows say unit "points": the unit decides, not the scale."""
    results = _results()
    for row in results["scores"]:
        if row["metric"] == "acc":
            row["unit"] = "proportion"
        else:
            row.update(metric="rougeL", scale=100.0, unit="points", value=row["value"] / 100)
    for row in results["comparisons"]:
        if row["metric"] == "bleu":
            row.update(metric="rougeL", scale=100.0, unit="points")
    (table,) = build_tables(results)
    assert [r[0] for r in table.rows] == ["acc (%)", "rougeL"]
    assert "rougeL (%)" not in render_markdown(results)
    assert "rougeL (%)" not in render_terminal(results, details=True)
