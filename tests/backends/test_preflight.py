"""The pre-flight of model folders: broken files found from headers alone, named by file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fteval.backends import preflight
from fteval.backends.preflight import (
    check_adapter_folder,
    check_model_folder,
    check_tokenizer,
    read_safetensors_header,
)
from fteval.errors import AdapterError, BackendError, ConfigError, FtevalError
from tests.backends.checkpoints import gpt2_folder, lora_folder, write_safetensors


def test_the_hand_written_checkpoints_are_real_safetensors(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    path = write_safetensors(tmp_path / "w.safetensors", {"a": np.ones((2, 3)), "b": np.zeros(5)})
    loaded = safetensors.load_file(str(path))
    assert loaded["a"].shape == (2, 3) and loaded["b"].shape == (5,)
    header = read_safetensors_header(path)
    assert {n: t.shape for n, t in header.items()} == {"a": (2, 3), "b": (5,)}


def test_a_sound_model_folder_passes_and_says_what_it_holds(tmp_path):
    model = check_model_folder(str(gpt2_folder(tmp_path / "m")), "--base")
    assert model is not None and model.positions() == 32
    assert model.weights["transformer.wte.weight"].shape == (64, 8)


@pytest.mark.parametrize("keep", [0, 7, 8, 100, -1, -37])
def test_a_truncated_safetensors_file_is_refused_by_name(tmp_path, keep):
    folder = gpt2_folder(tmp_path / "m")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:keep])
    with pytest.raises(BackendError, match=r"model\.safetensors: .*(truncated|too short)"):
        check_model_folder(str(folder), "--base")


def test_padding_after_the_tensors_is_refused(tmp_path):
    folder = gpt2_folder(tmp_path / "m")
    with open(folder / "model.safetensors", "ab") as handle:
        handle.write(b"\0" * 16)
    with pytest.raises(BackendError, match="truncated or padded"):
        check_model_folder(str(folder), "--base")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "too short"),
        (b"garbage!" * 100, "not a safetensors file"),
        ((20).to_bytes(8, "little") + b"[1, 2, 3]           ", "not a JSON object"),
        ((20).to_bytes(8, "little") + b"{not json at all}   ", "not JSON"),
        ((10**15).to_bytes(8, "little") + b"{}", "header claims"),
    ],
)
def test_garbage_in_a_weight_file_is_refused(tmp_path, content, problem):
    folder = gpt2_folder(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(content)
    with pytest.raises(BackendError, match=problem):
        check_model_folder(str(folder), "--base")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vocab_size": 500}, "vocab_size is 500 but the token embedding has 64 rows"),
        ({"n_embd": 16}, "hidden size is 16 but the token embedding is 8 wide"),
        ({"n_layer": 3}, "3 layers in the config, 2 in the weights"),
    ],
)
def test_a_config_that_disagrees_with_the_weights_is_refused(tmp_path, overrides, message):
    folder = gpt2_folder(tmp_path / "m", config=overrides)
    with pytest.raises(BackendError, match=message):
        check_model_folder(str(folder), "--base")


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ("{broken", "config.json: malformed JSON"),
        ("[1, 2]", "config.json: expected a JSON object, got list"),
        ('{"vocab_size": 64}', "no 'model_type'"),
    ],
)
def test_an_unreadable_config_is_refused(tmp_path, config_text, message):
    folder = gpt2_folder(tmp_path / "m")
    (folder / "config.json").write_text(config_text)
    with pytest.raises(BackendError, match=message):
        check_model_folder(str(folder), "--base")


def test_folders_of_the_wrong_kind_are_named_as_such(tmp_path):
    adapter = lora_folder(tmp_path / "lora")
    with pytest.raises(ConfigError, match=r"this is an adapter.*pass it with --adapter"):
        check_model_folder(str(adapter), "--full")
    full = gpt2_folder(tmp_path / "full")
    with pytest.raises(ConfigError, match=r"this is a full model.*pass it with --full"):
        check_adapter_folder("x", str(full), None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a model folder"):
        check_model_folder(str(tmp_path / "file"), "--base")
    with pytest.raises(ConfigError, match="no such folder"):
        check_model_folder(str(tmp_path / "nope"), "--base")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"not a model folder \(no config.json\)"):
        check_model_folder(str(tmp_path / "empty"), "--base")


def test_a_hub_id_is_left_to_loading_online_and_must_be_cached_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert check_model_folder("some-org/some-model", "--base") is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="not in the local Hugging Face cache"):
        check_model_folder("some-org/some-model-not-cached", "--base")


def test_a_sharded_checkpoint_missing_a_shard_is_refused(tmp_path):
    folder = gpt2_folder(tmp_path / "m")
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"transformer.wte.weight": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(BackendError, match=r"names the shard 'model-00002-of-00002\.safetensors'"):
        check_model_folder(str(folder), "--base")


@pytest.mark.parametrize(
    ("tokens", "message"),
    [(None, "no tokenizer files"), (1, "has 1 token"), (100, "ids go up to 99.*64 rows")],
)
def test_tokenizers_that_cannot_serve_the_model_are_refused(tmp_path, tokens, message):
    folder = gpt2_folder(tmp_path / "m", tokenizer_tokens=tokens)
    model = check_model_folder(str(folder), "--base")
    with pytest.raises(BackendError, match=message):
        check_tokenizer(folder, model, "--base")


def test_a_malformed_tokenizer_file_is_refused(tmp_path):
    folder = gpt2_folder(tmp_path / "m")
    (folder / "tokenizer_config.json").write_text("{")
    with pytest.raises(BackendError, match=r"tokenizer_config\.json: malformed JSON"):
        check_tokenizer(folder, None, "--base")


def test_an_adapter_that_fits_its_base_passes(tmp_path):
    base = check_model_folder(str(gpt2_folder(tmp_path / "m")), "--base")
    config = check_adapter_folder("lora", str(lora_folder(tmp_path / "lora")), base)
    assert config is not None and config["r"] == 2


def test_an_adapter_for_another_base_shape_is_refused(tmp_path):
    base = check_model_folder(str(gpt2_folder(tmp_path / "m")), "--base")
    wider = lora_folder(tmp_path / "lora", hidden=12)
    with pytest.raises(AdapterError, match=r"map 12 -> 36.*\[8, 24\].*another shape"):
        check_adapter_folder("lora", str(wider), base)


def test_an_adapter_whose_target_modules_the_base_lacks_is_refused(tmp_path):
    base = check_model_folder(str(gpt2_folder(tmp_path / "m")), "--base")
    other = lora_folder(tmp_path / "lora", targets=["q_proj", "v_proj"])
    with pytest.raises(AdapterError, match=r"\['q_proj', 'v_proj'\] name no module of the base"):
        check_adapter_folder("lora", str(other), base)


@pytest.mark.parametrize(
    ("config", "message"),
    [({"r": 0}, "'r' .* got 0"), ({"r": "4"}, "'r' .* got '4'"), ({"target_modules": 3}, "target")],
)
def test_a_malformed_adapter_config_is_refused(tmp_path, config, message):
    adapter = lora_folder(tmp_path / "lora", config=config)
    with pytest.raises(AdapterError, match=message):
        check_adapter_folder("lora", str(adapter), None)


def test_an_adapter_config_that_is_not_an_object_is_refused(tmp_path):
    adapter = lora_folder(tmp_path / "lora")
    (adapter / "adapter_config.json").write_text("[]")
    with pytest.raises(AdapterError, match="expected a JSON object, got list"):
        check_adapter_folder("lora", str(adapter), None)


def test_an_unreachable_endpoint_is_refused_quickly():
    with pytest.raises(ConfigError, match=r"--base-url http://127.0.0.1:1/v1: cannot connect"):
        preflight.check_endpoint("http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match=r"cannot resolve the host 'no-such-host\.invalid'"):
        preflight.check_endpoint("http://no-such-host.invalid:8000/v1")


# ------------------------------------------------------------- broken files, generated


@given(data=st.data())
def test_any_damage_to_a_weight_file_is_refused_or_leaves_a_sound_file(data):
    """Random byte edits, cuts and appends: the pre-flight refuses with the file named,
    or the file is still one whose every tensor lies inside it (never another error)."""
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        folder = gpt2_folder(Path(root) / "m")
        weights = folder / "model.safetensors"
        original = bytearray(weights.read_bytes())
        damaged = bytearray(original)
        for _ in range(data.draw(st.integers(1, 3))):
            kind = data.draw(st.sampled_from(["flip", "cut", "append", "header"]))
            if kind == "cut":
                damaged = damaged[: data.draw(st.integers(0, max(0, len(damaged) - 1)))]
            elif kind == "append":
                damaged += data.draw(st.binary(min_size=1, max_size=32))
            elif damaged:
                limit = min(len(damaged), 8 + 200) if kind == "header" else len(damaged)
                at = data.draw(st.integers(0, limit - 1))
                damaged[at] = data.draw(st.integers(0, 255))
        weights.write_bytes(bytes(damaged))
        try:
            check_model_folder(str(folder), "--base")
        except FtevalError as error:
            assert "model.safetensors" in str(error) or "config.json" in str(error)
            return
        assert len(damaged) == len(original)  # a cut or an append is always caught


@given(
    overrides=st.dictionaries(
        st.sampled_from(["vocab_size", "n_embd", "n_layer", "n_positions", "model_type"]),
        st.one_of(st.integers(-3, 200), st.text(max_size=4), st.none(), st.booleans()),
        max_size=3,
    )
)
def test_random_config_edits_are_refused_by_name_or_agree_with_the_weights(overrides):
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        folder = gpt2_folder(Path(root) / "m", config=overrides)
        try:
            model = check_model_folder(str(folder), "--base")
        except FtevalError as error:
            assert str(folder) in str(error)
            return
        assert model is not None
        config = model.config
        assert isinstance(config["model_type"], str) and config["model_type"]
        for key, size in (("vocab_size", 64), ("n_embd", 8)):
            value = config.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                assert value == size
        layers = config.get("n_layer")
        if isinstance(layers, int) and not isinstance(layers, bool) and layers > 0:
            assert layers <= 2


def test_the_checker_reads_headers_only(tmp_path, monkeypatch):
    """A multi-gigabyte weight file costs one small read: never its tensor data."""
    folder = gpt2_folder(tmp_path / "m")
    reads: list[int] = []
    real_open = open

    def counting_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "b" in mode and str(path).endswith(".safetensors"):
            real_read = handle.read

            def read(size=-1):
                reads.append(size)
                return real_read(size)

            handle.read = read
        return handle

    monkeypatch.setattr("builtins.open", counting_open)
    check_model_folder(str(folder), "--base")
    size = os.path.getsize(folder / "model.safetensors")
    assert reads and all(0 < n < size for n in reads) and sum(reads) < size


def test_a_server_that_accepts_but_never_replies_is_refused_in_seconds():
    import contextlib
    import socket
    import threading
    import time

    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    began = time.monotonic()
    try:
        with pytest.raises(ConfigError, match="accepts connections but sends no HTTP reply"):
            preflight.check_endpoint(url, timeout_s=1.0)
    finally:
        server.close()
        for connection in held:
            connection.close()
    assert time.monotonic() - began < 5


def test_any_http_reply_passes_the_reachability_check():
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(401)  # no key: still a server that answers
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        preflight.check_endpoint(f"http://127.0.0.1:{server.server_address[1]}/v1")
    finally:
        server.shutdown()
        server.server_close()
