"""Whole runs against an OpenAI-compatible endpoint: the API key never reaches a file or a
log, and the response cache keys endpoint arms by what the server serves."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fteval.cli import main
from tests.backends.openai_stub import BigramModel, Fault, StubServer

KEY = "sk-test-" + "9f3a" * 8
PROBE_REQUESTS = 2  # per arm without a tokenizer: a greedy generation, then its echo


def argv(server: StubServer, task: Path, out: Path, cache: Path) -> list[str]:
    return [
        "run", "--backend", "openai", "--base-url", server.url,
        "--api-key-env", "FTEVAL_TEST_API_KEY", "--base", "openai:base",
        "--adapter", "support=openai:support-lora", "--task", str(task), "--out", str(out),
        "--cache-dir", str(cache), "--quiet", "--verbose", "--max-retries", "3",
        "--bootstrap", "200", "--permutations", "200",
    ]  # fmt: skip


def test_an_endpoint_run_caches_by_served_model_and_never_writes_the_api_key(
    tmp_path, task_file, monkeypatch, caplog, capsys
):
    monkeypatch.setenv("FTEVAL_TEST_API_KEY", KEY)
    cache = tmp_path / "cache"
    caplog.set_level(logging.DEBUG)
    with StubServer(["base", "support-lora"], api_key=KEY) as server:
        server.state.faults.append(Fault("status", 500))  # one retry, logged
        assert main(argv(server, task_file, tmp_path / "first", cache)) == 0
        first = len(server.completions())
        assert main(argv(server, task_file, tmp_path / "again", cache)) == 0
        again = len(server.completions()) - first
        # the adapter retrained and served again under the same name and path
        server.state.models["support-lora"] = BigramModel("support-lora", salt="retrained")
        assert main(argv(server, task_file, tmp_path / "retrained", cache)) == 0
        retrained = len(server.completions()) - first - again
    assert all(h.get("Authorization") == f"Bearer {KEY}" for h in server.state.headers)

    probes = 2 * PROBE_REQUESTS  # two arms
    assert again == probes  # every answer from the cache
    per_arm = (first - probes) // 2
    assert retrained == probes + per_arm  # the base hits, the retrained adapter misses

    written = [p for p in tmp_path.rglob("*") if p.is_file() and "tokenizer" not in p.parts]
    assert any(p.name == "responses.sqlite" for p in written)
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path
    captured = capsys.readouterr()
    assert "retry 1" in caplog.text
    assert KEY not in caplog.text + captured.out + captured.err

    manifest = json.loads((tmp_path / "again" / "manifest.json").read_text())
    endpoint = manifest["arms"][1]["identity"]["endpoint"]
    assert endpoint["model"] == "support-lora" and endpoint["base_url"] == server.url
    assert "created" not in endpoint["server_model"]
    assert manifest["response_cache"]["support"]["misses"] == 0
    first_samples = (tmp_path / "first" / "samples.jsonl").read_bytes()
    assert (tmp_path / "again" / "samples.jsonl").read_bytes() == first_samples


def test_a_served_model_name_with_another_backend_is_refused(tmp_path, task_file, capsys):
    code = main(
        ["run", "--backend", "fake", "--base", "openai:base", "--task", str(task_file),
         "--out", str(tmp_path / "run"), "--quiet"]
    )  # fmt: skip
    assert code == 2
    assert "use --backend openai" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [[], ["--base-url", "ftp://x"]])
def test_an_endpoint_run_without_a_usable_server_address_fails_before_any_request(
    tmp_path, task_file, capsys, extra
):
    code = main(
        ["run", "--backend", "openai", "--base", "openai:base", "--task", str(task_file),
         "--out", str(tmp_path / "run"), "--quiet", *extra]
    )  # fmt: skip
    assert code == 2
    assert "base-url" in capsys.readouterr().err.replace("base URL", "base-url")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("window", [8192, 900])
def test_a_served_judge_decides_judged_tasks_through_the_endpoint(tmp_path, monkeypatch, window):
    from fteval.api import evaluate, load_run, rescore
    from fteval.backends.fake import FakeBackend
    from fteval.config import build_config

    data = Path("/work/shared/data/alpaca_eval/alpaca_eval.jsonl")
    if not data.exists():
        pytest.skip("shared benchmark data not present")
    monkeypatch.setenv("FTEVAL_TEST_API_KEY", KEY)
    options = {"adapters": {"lora": "a"}, "full": "f"}
    arms = build_config({"base": "b", "tasks": ["alpaca_eval"], **options}).arms()
    with StubServer(["judge-model"], api_key=KEY, max_model_len=window) as server:
        results = evaluate(
            "b", tasks=["alpaca_eval"], backend=FakeBackend(arms), out=tmp_path / "run",
            progress=False, data={"alpaca_eval": str(data)}, limit=4,
            bootstrap_resamples=100, permutations=100, judge="openai:judge-model",
            base_url=server.url, api_key_env="FTEVAL_TEST_API_KEY", **options,
        )  # fmt: skip
        judged = [c for c in server.completions() if c.get("model") == "judge-model"]
    # every arm x item x order, two verdict tokens each (plus the server's probe)
    rows = {r["arm"]: r for r in results["judge"]}
    assert set(rows) == {"base", "lora", "full"}
    assert len(judged) >= 3 * 4 * 2
    if window == 8192:
        assert all(r["n"] == 4 and r["unreadable"] == 0 for r in rows.values())
        assert all(r["wins"] + r["ties"] + r["losses"] == 4 for r in rows.values())
    else:  # prompts over the server's window are refused: unreadable, counted, never scored
        assert sum(r["unreadable"] for r in rows.values()) > 0
        assert all(r["wins"] + r["ties"] + r["losses"] == r["n"] < 4 for r in rows.values())
    manifest = load_run(results["run_dir"]).manifest
    assert manifest["judge"]["endpoint"]["model"] == "judge-model"
    assert rescore(results["run_dir"])["judge"] == results["judge"]
    for path in Path(results["run_dir"]).rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_served_judge_that_is_an_evaluated_arm_is_refused(tmp_path):
    from fteval.api import evaluate
    from fteval.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot judge its own answers"):
        evaluate(
            "openai:base", tasks=["alpaca_eval"], backend="openai", out=tmp_path / "run",
            progress=False, judge="openai:base", base_url="http://127.0.0.1:9/v1",
            data={"alpaca_eval": "/work/shared/data/alpaca_eval/alpaca_eval.jsonl"}, limit=2,
        )  # fmt: skip
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def byte_tokenizer(tmp_path_factory):
    from transformers import ByT5Tokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    ByT5Tokenizer().save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize(
    ("server", "tokenizer", "said"),
    [
        ({"shift_echo": True}, False, "echoed log-probabilities look shifted by one token"),
        ({"logprobs_ignored": True}, False, "returns no echoed log-probabilities"),
        ({"append_eos": True, "token_id_status": 400}, True, "after every text prompt"),
    ],
)
def test_a_server_the_probe_refuses_fails_the_run_before_its_directory_exists(
    tmp_path, task_file, capsys, monkeypatch, byte_tokenizer, server, tokenizer, said
):
    monkeypatch.setenv("FTEVAL_TEST_API_KEY", KEY)
    out = tmp_path / "run"
    with StubServer(["base", "support-lora"], **server) as stub:
        args = argv(stub, task_file, out, tmp_path / "cache")
        code = main([*args, "--tokenizer", byte_tokenizer] if tokenizer else args)
        scored = [r for r in stub.completions() if "Message" in str(r.get("prompt"))]
    assert code == 2
    assert said in capsys.readouterr().err
    assert not out.exists()
    assert scored == []  # refused at the probe, before any item was sent


def test_request_options_reach_every_request_and_are_recorded(tmp_path, task_file, monkeypatch):
    monkeypatch.setenv("FTEVAL_TEST_API_KEY", KEY)
    out = tmp_path / "run"
    options = ["--request-option", "repeat_penalty=1.0", "--request-option", "top_k=1"]
    with StubServer(["base", "support-lora"], api_key=KEY) as server:
        assert main([*argv(server, task_file, out, tmp_path / "cache"), *options]) == 0
        sent = server.state.requests
    assert sent and all(r["repeat_penalty"] == 1.0 and r["top_k"] == 1 for r in sent)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["request_options"] == {"repeat_penalty": 1.0, "top_k": 1}
    for arm in manifest["arms"]:
        endpoint = arm["identity"]["endpoint"]
        assert endpoint["request_options"] == {"repeat_penalty": 1.0, "top_k": 1}
        assert endpoint["echo_check"]["status"] == "ok"


def test_request_options_in_a_config_file_are_checked_like_the_flag(tmp_path, task_file, capsys):
    from fteval.config import build_config
    from fteval.errors import ConfigError

    config = build_config(
        {"base": "openai:b", "tasks": ["t.yaml"], "request_options": {"repeat_penalty": 1.0}}
    )
    assert config.request_options == {"repeat_penalty": 1.0}
    with pytest.raises(ConfigError, match=r"request_options.*set by fteval itself"):
        build_config({"base": "openai:b", "tasks": ["t.yaml"], "request_options": {"seed": 1}})
    out = tmp_path / "run"
    code = main(
        ["run", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--base",
         "openai:b", "--task", str(task_file), "--out", str(out), "--request-option", "top_k"]
    )  # fmt: skip
    assert code == 2 and "--request-option expects KEY=VALUE" in capsys.readouterr().err
    assert not out.exists()
