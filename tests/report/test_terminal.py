"""The terminal summary: 80 columns, colour only on colour terminals, --quiet, --json."""

from __future__ import annotations

import io
import json
import re

from fteval.cli import main
from fteval.report import render_terminal
from fteval.report.terminal import use_color
from tests.report.fixtures import full_results

ANSI = re.compile(r"\033\[[0-9;]*m")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_every_line_fits_80_columns_with_four_arms_and_long_names():
    results = full_results()
    for row in results["scores"] + results["comparisons"]:
        row["task"] = row["task"].replace("intents", "customer_support_intents_2024_holdout")
    run_dir = "runs/2026-11-29-a-very-long-run-directory-name-indeed"
    headline = render_terminal(results, run_dir)
    text = render_terminal(results, run_dir, details=True)
    assert text.startswith(headline.rstrip())  # the details come after the headline
    widest = max(len(line) for line in text.splitlines())
    assert widest <= 80, [line for line in text.splitlines() if len(line) > 80][:3]
    assert len(headline.splitlines()) <= 25
    # nothing is lost by splitting: every delta of the table is still there
    assert "Δ qlora-r64 vs base" in text and "qlora-r64 − full" in text


def test_colour_marks_significant_deltas_only_on_colour_terminals():
    results = full_results()
    coloured = render_terminal(results, color=True, details=True)
    plain = render_terminal(results, color=False, details=True)
    assert "\033[1;32m" in coloured and "\033[1;31m" in coloured  # improved and regressed
    assert ANSI.search(plain) is None
    assert ANSI.sub("", coloured) == plain  # colour adds nothing but colour


def test_colour_follows_tty_no_color_and_force_color():
    assert use_color(_Tty(), {}) is True
    assert use_color(io.StringIO(), {}) is False  # piped
    assert use_color(_Tty(), {"NO_COLOR": "1"}) is False
    assert use_color(_Tty(), {"NO_COLOR": ""}) is True  # empty NO_COLOR does not count
    assert use_color(io.StringIO(), {"FORCE_COLOR": "1"}) is True
    assert use_color(_Tty(), {"TERM": "dumb"}) is False


def test_quiet_details_print_only_the_tables_and_loud_warnings():
    results = full_results()
    quiet = render_terminal(results, "runs/x", quiet=True, details=True)
    full = render_terminal(results, "runs/x", details=True)
    assert "verdicts:" in full and "verdicts:" not in quiet.split("─── details")[1]
    assert "Δ lora vs base" in quiet
    assert "WARNING: base hit max_new_tokens on 90% of summaries outputs" in " ".join(quiet.split())


def test_cli_json_goes_to_stdout_and_the_summary_to_stderr(
    tmp_path, task_file, capsys, monkeypatch
):
    monkeypatch.setenv("NO_COLOR", "1")
    args = [
        "run",
        "--base",
        "b",
        "--adapter",
        "lora=a",
        "--task",
        str(task_file),
        "--backend",
        "fake",
        "--out",
        str(tmp_path / "run"),
        "--bootstrap",
        "200",
        "--permutations",
        "200",
        "--json",
        "--quiet",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["arms"][1]["name"] == "lora"
    assert captured.err.startswith("Did the fine-tune help?") and "verdicts:" not in captured.err
    assert main([*args[:-2], "--details", "--out", str(tmp_path / "run2")]) == 0
    plain = capsys.readouterr().out
    assert "verdicts:" in plain and ANSI.search(plain) is None
