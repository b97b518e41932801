"""``fteval demo`` end to end, on a tiny build (the real build is measured in benchmarks/)."""

from __future__ import annotations

import json

import pytest

from fteval.cli import main
from fteval.report.terminal import DETAILS_RULE

pytestmark = pytest.mark.real_model


def test_demo_command_builds_once_and_prints_the_three_way_table(tmp_path, monkeypatch, capsys):
    import fteval.demo.assets as assets
    import fteval.demo.run as demo_run
    from fteval.demo.train import TrainSettings

    monkeypatch.setattr(demo_run, "DEMO_LIMIT", 60)  # 60 test and 60 validation messages
    real = assets.build_demo_assets
    monkeypatch.setattr(
        assets, "build_demo_assets",
        lambda cache_dir=None, *, progress=True: real(
            cache_dir, progress=False, settings=TrainSettings.tiny()
        ),
    )  # fmt: skip
    cache = tmp_path / "cache"
    first = ["demo", "--cache-dir", str(cache), "--out", str(tmp_path / "a"), "--quiet", "--json"]
    assert main(first) == 0
    results = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in results["arms"]] == ["base", "lora", "full"]
    assert {r["metric"] for r in results["scores"]} >= {"acc", "acc_norm", "f1_macro"}
    assert results["demo"]["cached_models"] is False
    assert {(r["arm"], r["perturbation"]) for r in results["robustness"]} >= {("lora", "typo")}
    assert {r["slice"] for r in results["slices"]} == {"email", "chat"}
    assert [r["arm"] for r in results["calibration"]] == ["base", "lora", "full"]
    assert all(r["temperature"] is not None for r in results["calibration"])
    assert (tmp_path / "a" / "results.json").exists()

    again = ["demo", "--cache-dir", str(cache), "--out", str(tmp_path / "b"), "--quiet"]
    assert main([*again, "--details"]) == 0
    table = capsys.readouterr().out
    headline = table.split(DETAILS_RULE)[0].rstrip().splitlines()
    assert headline[0].startswith("Did the fine-tune help?") and len(headline) <= 25
    assert "Δ lora vs base" in table and "lora − full" in table
    assert "under typo" in table and "by channel" in table and "calibration:" in table
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
