"""fteval compare: saved runs paired item by item give what one run holding every arm gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fteval.api import evaluate, load_run, rescore
from fteval.backends.fake import FakeBackend
from fteval.cli import main
from fteval.config import build_config
from fteval.errors import ConfigError
from fteval.pipeline.compare_runs import compare_runs
from fteval.records import dumps
from fteval.tasks import load_task
from tests.conftest import intent_rows, write_task

FAST = {"bootstrap_resamples": 300, "permutations": 300}
PAIR_FIELDS = (
    "value",
    "reference_value",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "test",
    "verdict",
    "mde",
)


def fake_run(out: Path, task_file: Path, adapters: dict[str, tuple[str, float]], **extra) -> Path:
    """A run with the fake backend: adapters name -> (path, skill); base knows nothing."""
    config = build_config(
        {
            "base": "b",
            "adapters": {n: p for n, (p, _) in adapters.items()},
            "tasks": [str(task_file)],
            "backend": "fake",
            "out": str(out),
            **FAST,
            **extra,
        }
    )
    task = load_task(str(task_file))
    knowledge = {ex.prompt: ex.continuations[ex.choices.index(ex.target)] for ex in task.examples}
    # the fake backend draws per arm name; name each arm's draws after its path, so that the
    # same adapter answers the same way whatever it is called in a run
    backend = FakeBackend(
        config.arms(), knowledge=knowledge, skill={n: s for n, (_, s) in adapters.items()}
    )
    results = evaluate(
        "b",
        adapters={n: p for n, (p, _) in adapters.items()},
        tasks=[str(task_file)],
        out=out,
        backend=backend,
        progress=False,
        **FAST,
        **extra,
    )
    return Path(results["run_dir"])


def _pairs(results: dict) -> dict:
    return {
        (c["task"], c["metric"], c["arm"], c["reference_arm"]): tuple(c[f] for f in PAIR_FIELDS)
        for c in results["comparisons"]
    }


@pytest.fixture
def task_150(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    return write_task(folder, intent_rows(150))


def test_two_runs_compare_exactly_like_one_run_with_both_adapters(tmp_path, task_150):
    a = fake_run(tmp_path / "a", task_150, {"lora": ("x", 0.8)})
    b = fake_run(tmp_path / "b", task_150, {"lora2": ("y", 0.5)})
    both = fake_run(tmp_path / "both", task_150, {"lora": ("x", 0.8), "lora2": ("y", 0.5)})
    results, out = compare_runs([a, b], out=tmp_path / "cmp")
    single = json.loads((both / "results.json").read_text())
    assert [a["name"] for a in results["arms"]] == ["base", "lora", "lora2"]
    assert _pairs(results) == _pairs(single)
    assert {(r["task"], r["arm"], r["metric"]): r["value"] for r in results["scores"]} == {
        (r["task"], r["arm"], r["metric"]): r["value"] for r in single["scores"]
    }
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "compare" and [s["label"] for s in manifest["sources"]] == ["a", "b"]
    assert {p.name for p in out.iterdir()} >= {
        "results.json",
        "samples.jsonl",
        "items.jsonl",
        "report.md",
        "report.html",
    }
    assert json.loads(dumps(rescore(out))) == json.loads((out / "results.json").read_text())


def test_clashing_arm_names_become_run_colon_arm(tmp_path, task_150):
    a = fake_run(tmp_path / "a", task_150, {"lora": ("x", 0.8)})
    b = fake_run(tmp_path / "b", task_150, {"lora": ("y", 0.3)})
    results, _ = compare_runs([a, b], out=tmp_path / "cmp")
    assert [arm["name"] for arm in results["arms"]] == ["base", "a:lora", "b:lora"]
    pairs = {(c["arm"], c["reference_arm"]) for c in results["comparisons"]}
    assert pairs == {("a:lora", "base"), ("b:lora", "base"), ("a:lora", "b:lora")}
    delta = {
        c["arm"]: c["delta"]
        for c in results["comparisons"]
        if c["metric"] == "acc" and c["reference_arm"] == "base"
    }
    run_a = json.loads((a / "results.json").read_text())
    assert delta["a:lora"] == next(c["delta"] for c in run_a["comparisons"] if c["metric"] == "acc")


def test_runs_with_other_prompts_or_items_are_refused_naming_them(tmp_path, task_150):
    a = fake_run(tmp_path / "a", task_150, {"lora": ("x", 0.8)})
    other = tmp_path / "other"
    other.mkdir()
    reworded = write_task(other, intent_rows(150), template="Text: {text}\nIntent:")
    b = fake_run(tmp_path / "b", reworded, {"lora2": ("y", 0.5)})
    with pytest.raises(ConfigError, match=r"different prompts for id\(s\) r0 \("):
        compare_runs([a, b], out=tmp_path / "cmp")
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    c = fake_run(tmp_path / "c", write_task(fewer, intent_rows(140)), {"lora2": ("y", 0.5)})
    with pytest.raises(ConfigError, match=r"ids \['r140', 'r141', 'r142'\] only in a"):
        compare_runs([a, c], out=tmp_path / "cmp2")
    assert not (tmp_path / "cmp").exists() and not (tmp_path / "cmp2").exists()


def test_an_unfinished_run_is_refused(tmp_path, task_150):
    a = fake_run(tmp_path / "a", task_150, {"lora": ("x", 0.8)})
    b = tmp_path / "b"
    shutil.copytree(a, b)
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["status"] = "running"
    (b / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="running, not complete"):
        compare_runs([a, b])


def test_cli_compare_writes_a_run_directory_and_prints_the_table(tmp_path, task_150, capsys):
    a = fake_run(tmp_path / "a", task_150, {"lora": ("x", 0.8)})
    b = fake_run(tmp_path / "b", task_150, {"lora": ("y", 0.3)})
    code = main(
        [
            "compare",
            str(a),
            str(b),
            "--out",
            str(tmp_path / "cmp"),
            "--json",
            "--details",
            "--bootstrap",
            "200",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    results = json.loads(captured.out)
    assert results["statistics"]["bootstrap_resamples"] == 200
    assert "Δ a:lora vs base" in captured.err
    assert main(["compare", str(a), "--out", str(tmp_path / "x")]) == 2
    assert "at least two run directories" in capsys.readouterr().err


@pytest.mark.real_model
def test_compare_of_two_real_runs_equals_one_run_with_both_adapters(
    tmp_path, task_file, tiny_models
):
    """Two adapters evaluated on different days (two runs) vs together (one run)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    second = tmp_path / "lora2"
    torch.manual_seed(7)
    model = AutoModelForCausalLM.from_pretrained(tiny_models["base"])
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["c_attn"],
        fan_in_fan_out=True,
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    get_peft_model(model, config).save_pretrained(second)
    adapter_config = json.loads((second / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = str(tiny_models["base"])
    (second / "adapter_config.json").write_text(json.dumps(adapter_config))

    def run(name: str, adapters: dict) -> dict:
        return evaluate(
            str(tiny_models["base"]),
            adapters=adapters,
            full=str(tiny_models["full"]),
            tasks=[str(task_file)],
            out=tmp_path / name,
            device="cpu",
            progress=False,
            **FAST,
        )

    first = run("a", {"lora": str(tiny_models["lora"])})
    run("b", {"lora2": str(second)})
    single = run("both", {"lora": str(tiny_models["lora"]), "lora2": str(second)})
    results, _ = compare_runs([tmp_path / "a", tmp_path / "b"], out=tmp_path / "cmp")
    assert [a["name"] for a in results["arms"]] == ["base", "lora", "lora2", "full"]
    # evaluate returns the results as written (an undefined number is null, not NaN)
    assert _pairs(json.loads(dumps(results))) == _pairs(single)

    # what it cost, counted from the weight files' headers, equals what torch and peft count
    from peft import PeftModel

    cost = {row["arm"]: row for row in first["cost"]}
    base = AutoModelForCausalLM.from_pretrained(tiny_models["base"])
    n_base = sum(p.numel() for p in base.parameters())
    n_lora = sum(
        p.numel()
        for n, p in PeftModel.from_pretrained(base, tiny_models["lora"]).named_parameters()
        if "lora_" in n
    )
    assert cost["base"]["total_params"] == n_base and cost["base"]["trainable_params"] is None
    assert (cost["lora"]["trainable_params"], cost["lora"]["total_params"]) == (
        n_lora,
        n_base + n_lora,
    )
    assert cost["full"]["trainable_params"] == cost["full"]["total_params"] == n_base
    size = (tiny_models["lora"] / "adapter_model.safetensors").stat().st_size
    assert cost["lora"]["size_on_disk_bytes"] == size
    assert (
        load_run(tmp_path / "cmp").manifest["arms"][1]["cost"]
        == load_run(tmp_path / "a").manifest["arms"][1]["cost"]
    )


def test_a_renamed_arm_keeps_its_section_intervals(tmp_path, task_150):
    # every section seeds from the content it resamples: RUN:ARM renames move nothing
    extra = {"perturbations": ["typo:rate=0.3"]}
    a = fake_run(tmp_path / "a", task_150, {"lora": ("x", 0.8)}, **extra)
    b = fake_run(tmp_path / "b", task_150, {"lora": ("y", 0.3)}, **extra)
    results, _ = compare_runs([a, b], out=tmp_path / "cmp")
    alone = json.loads((a / "results.json").read_text())

    def change(rows, arm):
        found = next(r for r in rows if r["arm"] == arm and r["metric"] == "acc")
        part = found["under_perturbation"]
        return part["delta"], part["ci_low"], part["ci_high"], part["p_value"]

    assert change(results["robustness"], "a:lora") == change(alone["robustness"], "lora")
