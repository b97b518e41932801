"""``fteval demo`` end to end, on a tiny build (the real build is measured in benchmarks/)."""

from __future__ import annotations

import json

import pytest

from fteval.cli import main
from fteval.report.terminal import DETAILS_RULE

pytestmark = pytest.mark.real_model


@pytest.fixture
def tiny_build(monkeypatch):
    """``fteval demo`` builds the tiny demo (``TrainSettings.tiny()``), without progress."""
    import fteval.demo.assets as assets
    from fteval.demo.train import TrainSettings

    real = assets.build_demo_assets
    monkeypatch.setattr(
        assets, "build_demo_assets",
        lambda cache_dir=None, *, progress=True: real(
            cache_dir, progress=False, settings=TrainSettings.tiny()
        ),
    )  # fmt: skip


@pytest.mark.usefixtures("tiny_build")
def test_demo_command_builds_once_and_prints_the_three_way_table(tmp_path, monkeypatch, capsys):
    import fteval.demo.run as demo_run

    monkeypatch.setattr(demo_run, "DEMO_LIMIT", 60)  # 60 test and 60 validation messages
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


@pytest.mark.usefixtures("tiny_build")
def test_demo_deploy_shows_the_adapters_forms_and_their_parity(tmp_path, monkeypatch, capsys):
    pytest.importorskip("bitsandbytes")
    import fteval.demo.run as demo_run

    monkeypatch.setattr(demo_run, "DEMO_LIMIT", 40)
    out = tmp_path / "deploy"
    argv = ["demo", "--deploy", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    headline = capsys.readouterr().out.splitlines()
    results = json.loads((out / "results.json").read_text())
    assert [a["name"] for a in results["arms"]] == [
        "base", "lora", "lora-unmerged", "lora-merged", "lora-int8",
    ]  # fmt: skip
    forms = {r["arm"]: r for r in results["deployment"] if r["metric"] == "acc"}
    assert set(forms) == {"lora-unmerged", "lora-merged", "lora-int8"}
    assert forms["lora-merged"]["parity"]["delta"] == 0.0  # float32: merging changes nothing
    for arm, row in forms.items():
        title = next(i for i, line in enumerate(headline) if line.startswith(f"{arm} ("))
        word = "parity held" if row["held"] else "parity LOST"
        assert headline[title + 1].startswith("  support_intents acc")
        assert word in headline[title + 1] and "margin 1.0 pts" in headline[title + 1]
    memory = {r["arm"]: r["memory_footprint_bytes"] for r in results["cost"]}
    assert memory["lora-int8"] < memory["lora-merged"] < memory["lora"]
