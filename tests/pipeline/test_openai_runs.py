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

    assert again == 2  # the two probes; every answer from the cache
    per_arm = (first - 2) // 2
    assert retrained == 2 + per_arm  # the base hits, the retrained adapter misses

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
