"""The OpenAI-compatible backend against a real server: ``transformers serve`` on
127.0.0.1 (the ``serving`` extra of transformers plus ``openai``), serving tiny models this
file writes.

What a real server shows that the stub cannot be trusted to: greedy generation equal to
the HF backend's item by item when the tokenizer adds no special tokens; the probe's
refusal of log-likelihood tasks (the server accepts ``echo`` and ``logprobs`` and ignores
them) before a run directory exists; and the tokenization-parity refusal of a tokenizer
that appends EOS to every prompt (ByT5's), which otherwise empties every generation.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fteval.backends import Backend, make_backend
from fteval.backends.base import GENERATE
from fteval.errors import BackendError
from fteval.records import ArmSpec, GenerateRequest

pytestmark = pytest.mark.real_model

START_TIMEOUT_S = 120.0  # a cold start on two busy cores
WORDS = "fox dog cat cow pig hen owl bee ant elk yak emu gnu ram eel cod jay bat rat asp"


def byte_level_model(folder: Path) -> Path:
    """A 2-layer GPT-2 with a byte-level BPE tokenizer (no merges) that adds no special
    tokens to a prompt: the server and the HF backend then feed the same ids."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    vocab["<|endoftext|>"] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2,
        initializer_range=0.2,  # outputs that vary with the prompt (0.02 repeats one byte)
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``transformers serve`` on 127.0.0.1 (models load on first request); its /v1 URL."""
    pytest.importorskip("openai")  # transformers serve's own requirements
    pytest.importorskip("fastapi")
    pytest.importorskip("transformers.cli.transformers")  # the CLI of transformers 5
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "transformers.cli.transformers", "serve", "--host", "127.0.0.1",
        "--port", str(port), "--device", "cpu", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("w") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/health", process, log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"transformers serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"transformers serve did not answer {url} in {START_TIMEOUT_S:g} s")


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return byte_level_model(tmp_path_factory.mktemp("byte-level-gpt2"))


REQUESTS = [
    GenerateRequest(f"Item {i}: the quick brown {word}", ("\n",), 12)
    for i, word in enumerate(WORDS.split() * 2)
]  # 40 items


@pytest.fixture(scope="module")
def reference(plain_model: Path) -> list[tuple[str, ...]]:
    """The HF backend's greedy texts for REQUESTS."""
    local = make_backend(
        "hf", [ArmSpec("base", "base", str(plain_model), "base")], progress=False,
        device="cpu", dtype="float32",
    )  # fmt: skip
    local.prepare()
    return [r.texts for r in local.generate("base", REQUESTS)]


def served(url: str, model: Path, **settings) -> Backend:
    arm = ArmSpec("base", "base", f"openai:{model}@{url}", "base")
    return make_backend("openai", [arm], progress=False, api_key_env=None, **settings)


def test_transformers_serve_generates_what_the_hf_backend_generates_item_by_item(
    serve, plain_model, reference
):
    server = served(serve, plain_model, tokenizer=str(plain_model), concurrency=4)
    server.check_servers([GENERATE])
    assert [r.texts for r in server.generate("base", REQUESTS)] == reference
    assert len({texts[0] for texts in reference}) > len(REQUESTS) // 2  # outputs vary
    facts = server.identity("base").facts
    # the server takes text only; its count of the probe equals the local tokenizer's
    assert facts["endpoint"]["token_ids"] is False
    assert facts["tokenization"]["verdict"] == "same"


def test_request_options_reach_transformers_serve(serve, plain_model, reference):
    penalty = {"generation_config": '{"repetition_penalty": 1.5}'}  # its own field
    server = served(serve, plain_model, request_options=penalty, concurrency=4)
    server.check_servers([GENERATE])
    penalised = [r.texts for r in server.generate("base", REQUESTS)]
    assert sum(a != b for a, b in zip(penalised, reference)) > len(REQUESTS) // 4
    assert server.identity("base").facts["endpoint"]["request_options"] == penalty


def test_transformers_serve_is_refused_for_loglikelihood_before_any_run_directory(
    serve, plain_model, tmp_path, task_file, capsys
):
    from fteval.cli import main

    out = tmp_path / "run"
    code = main(
        ["run", "--backend", "openai", "--base", f"openai:{plain_model}@{serve}",
         "--task", str(task_file), "--out", str(out), "--quiet",
         "--cache-dir", "off"]
    )  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "returns no echoed log-probabilities" in error
    assert "Generation tasks can still run" in error
    assert not out.exists()


def test_transformers_serve_with_a_tokenizer_that_appends_eos_is_refused_by_parity(
    serve, tiny_models
):
    model = tiny_models["base"]  # ByT5's tokenizer: EOS after every text
    with pytest.raises(BackendError, match=r"puts \['</s>'\] after every text prompt"):
        served(serve, model, tokenizer=str(model)).check_servers([GENERATE])
    # without the tokenizer nothing can be compared: the run facts say so
    blind = served(serve, model)
    blind.check_servers([GENERATE])
    tokenization = blind.identity("base").facts["tokenization"]
    assert tokenization["applies"] == "server" and tokenization["checked"] is False
