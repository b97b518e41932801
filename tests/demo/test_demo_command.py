"""``fteval demo`` end to end, on a tiny build (the real build is measured in benchmarks/)."""

from __future__ import annotations

import json

import pytest

from fteval.cli import main

pytestmark = pytest.mark.real_model


def test_demo_command_builds_once_and_prints_the_three_way_table(tmp_path, monkeypatch, capsys):
    import fteval.demo.assets as assets
    from fteval.demo.train import TrainSettings

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
    assert (tmp_path / "a" / "results.json").exists()

    again = ["demo", "--cache-dir", str(cache), "--out", str(tmp_path / "b"), "--quiet"]
    assert main(again) == 0
    table = capsys.readouterr().out
    assert "Δ lora vs base" in table and "lora − full" in table
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
