"""Statistical options: one level for tests and intervals, one name for each option."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fteval.cli import main
from fteval.compare import StatsOptions, resolve_levels
from fteval.config import RunConfig, build_config
from fteval.errors import ConfigError
from tests.conftest import write_jsonl


def test_the_interval_level_follows_alpha_and_a_contradicting_pair_is_refused():
    assert resolve_levels(None, None) == (0.05, 0.95)
    assert resolve_levels(0.01, None) == (0.01, 0.99)
    assert resolve_levels(None, 0.9) == (0.1, 0.9)
    assert resolve_levels(0.1, 0.9) == (0.1, 0.9)
    with pytest.raises(ValueError, match=r"confidence 0\.95 contradicts alpha 0\.1"):
        resolve_levels(0.1, 0.95)
    with pytest.raises(ValueError, match="contradicts"):
        StatsOptions(alpha=0.01)  # the default confidence 0.95 does not fit; give one of them
    assert StatsOptions.with_levels(alpha=0.01).confidence == 0.99


def test_a_run_config_gets_the_same_rule():
    config = build_config({"base": "b", "tasks": ["t"], "alpha": 0.01})
    assert (config.alpha, config.confidence) == (0.01, 0.99)
    with pytest.raises(ConfigError, match=r"confidence 0\.9 contradicts alpha 0\.05"):
        build_config({"base": "b", "tasks": ["t"], "alpha": 0.05, "confidence": 0.9})


def test_stats_options_use_the_run_configs_option_names():
    names = [f.name for f in dataclasses.fields(StatsOptions)]
    assert set(names) <= set(RunConfig.model_fields)
    config = build_config(
        {"base": "b", "tasks": ["t"], "bootstrap_resamples": 500, "permutations": 700,
         "correction_scope": "run", "confidence": 0.9, "non_inferiority": {"t": 2.0}}
    )  # fmt: skip
    options = StatsOptions.from_settings(config)
    assert all(getattr(options, name) == getattr(config, name) for name in names)
    assert StatsOptions.from_json(json.loads(json.dumps(options.to_json()))) == options


def test_fteval_score_intervals_follow_alpha(tmp_path, capsys):
    rows = [{"id": i, "prediction": "a" if i % 3 else "b", "reference": "a"} for i in range(60)]
    file = write_jsonl(tmp_path / "p.jsonl", rows)
    other = write_jsonl(tmp_path / "q.jsonl", [{**r, "prediction": "a"} for r in rows])
    args = ["score", str(file), str(other), "--metric", "exact_match", "--json"]
    assert main([*args, "--alpha", "0.2", "--out", str(tmp_path / "a")]) == 0
    narrow = json.loads(capsys.readouterr().out)
    assert narrow["statistics"]["confidence"] == 0.8
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    wide = json.loads(capsys.readouterr().out)
    width = [s["ci_high"] - s["ci_low"] for s in (narrow["scores"][0], wide["scores"][0])]
    assert width[0] < width[1]
    assert (
        main([*args, "--alpha", "0.2", "--confidence", "0.95", "--out", str(tmp_path / "c")]) == 2
    )
    assert "contradicts" in capsys.readouterr().err
