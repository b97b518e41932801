"""Shared fixtures: task files on disk, and tiny real models (GPT-2 + PEFT LoRA) built
by the tests themselves and reloaded with ``from_pretrained``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# every test session gets its own response cache, demo cache and nltk_data copy
os.environ.setdefault("FTEVAL_CACHE_DIR", tempfile.mkdtemp(prefix="fteval-test-cache-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# every results.json fteval writes, in this process or a child, is checked against the
# published schema before it is written (fteval.records.schema.check_before_write)
os.environ["FTEVAL_CHECK_RECORDS"] = "1"

# Property tests: small and reproducible in CI (derandomized, no example database);
# HYPOTHESIS_PROFILE=explore searches longer and randomly.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile("explore", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

INTENTS = ["login", "billing", "refund"]

# Under `make test` (and so in CI) every reference library and data set the tests compare
# fteval's numbers with is installed, so a missing one is a failure, not a silent skip.
REQUIRE_REFERENCES = os.environ.get("FTEVAL_REQUIRE_REFERENCES") == "1"


def skip_unless_required(reason: str) -> None:
    """Skip a test whose reference is missing, or fail it when references are required."""
    if REQUIRE_REFERENCES:
        pytest.fail(f"{reason} (FTEVAL_REQUIRE_REFERENCES=1: references must be installed)")
    pytest.skip(reason)


def _import_or_fail(modname: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return _importorskip(modname, *args, **kwargs)
    except pytest.skip.Exception as skipped:
        pytest.fail(
            f"{skipped.msg} (FTEVAL_REQUIRE_REFERENCES=1: reference libraries must be installed)",
            pytrace=False,
        )


_importorskip = pytest.importorskip
if REQUIRE_REFERENCES:  # test modules call pytest.importorskip when they run
    pytest.importorskip = _import_or_fail  # type: ignore[assignment]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_task(folder: Path, rows: list[dict], **overrides) -> Path:
    """A choice-task YAML over ``rows`` in folder/data.jsonl; keys overridable."""
    write_jsonl(folder / "data.jsonl", rows)
    spec = {
        "name": "intents",
        "data": "data.jsonl",
        "id_field": "id",
        "template": "Message: {text}\nIntent:",
        "choices": INTENTS,
        "label_field": "label",
        "metrics": ["acc", "acc_norm", "f1_macro"],
    }
    spec.update(overrides)
    spec = {k: v for k, v in spec.items() if v is not None}
    import yaml

    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def intent_rows(n: int = 24) -> list[dict]:
    phrases = {
        "login": "I cannot sign in to my account",
        "billing": "why was my card charged twice",
        "refund": "please return my money for order",
    }
    return [
        {"id": f"r{i}", "text": f"{phrases[INTENTS[i % 3]]} #{i}", "label": INTENTS[i % 3]}
        for i in range(n)
    ]


@pytest.fixture(autouse=True)
def _results_files_follow_the_schema(request: pytest.FixtureRequest):
    """After each test with a tmp_path, every results.json under it must be valid.

    The environment variable above checks writes made through the run directory; this
    also catches a results.json written any other way. Tests that write broken results
    on purpose (to test ``fteval check``) carry the ``invalid_results`` mark.
    """
    wanted = "tmp_path" in request.fixturenames
    if not wanted or request.node.get_closest_marker("invalid_results"):
        yield
        return
    root = request.getfixturevalue("tmp_path")  # set up first, so torn down after this
    yield
    from fteval.records.schema import results_problems

    for path in sorted(root.rglob("results.json")):
        if not path.is_file():
            continue
        problems = results_problems(json.loads(path.read_text(encoding="utf-8")))
        assert not problems, f"{path} breaks docs/results.schema.json: {problems[:3]}"


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    return write_task(tmp_path, intent_rows())


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """base/ (2-layer GPT-2, byte tokenizer), lora/ (non-zero LoRA), full/ (perturbed copy),
    zero_lora/ (LoRA with B = 0: changes nothing), all saved with save_pretrained."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import ByT5Tokenizer, GPT2Config, GPT2LMHeadModel

    root = tmp_path_factory.mktemp("models")
    tokenizer = ByT5Tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    base = GPT2LMHeadModel(config)
    paths = {name: root / name for name in ("base", "lora", "full", "zero_lora")}
    base.save_pretrained(paths["base"])
    tokenizer.save_pretrained(paths["base"])

    full = GPT2LMHeadModel(config)
    full.load_state_dict(base.state_dict())
    with torch.no_grad():
        for param in full.parameters():
            param.add_(0.05 * torch.randn_like(param))
    full.save_pretrained(paths["full"])
    tokenizer.save_pretrained(paths["full"])

    for name, init in (("lora", False), ("zero_lora", True)):
        model = GPT2LMHeadModel.from_pretrained(paths["base"])
        lora = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["c_attn", "c_proj"],
            fan_in_fan_out=True,
            init_lora_weights=init,
            task_type="CAUSAL_LM",
        )
        peft_model = get_peft_model(model, lora)
        peft_model.save_pretrained(paths[name])
        # the recorded base must be the base directory
        cfg_path = paths[name] / "adapter_config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["base_model_name_or_path"] = str(paths["base"])
        cfg_path.write_text(json.dumps(cfg))
    return paths


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """base/ (a 2-layer Llama, byte tokenizer) and lora/ (non-zero LoRA on q_proj and
    v_proj): the shape bitsandbytes quantizes and PEFT attaches LoRA to on a quantized
    base (GPT-2's Conv1D layers with LoRA fail there)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import ByT5Tokenizer, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("llama")
    tokenizer = ByT5Tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    paths = {name: root / name for name in ("base", "lora")}
    LlamaForCausalLM(config).save_pretrained(paths["base"])
    tokenizer.save_pretrained(paths["base"])
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
        task_type="CAUSAL_LM",
    )  # fmt: skip
    model = get_peft_model(LlamaForCausalLM.from_pretrained(paths["base"]), lora)
    model.save_pretrained(paths["lora"])
    cfg_path = paths["lora"] / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = str(paths["base"])
    cfg_path.write_text(json.dumps(cfg))
    return paths
