"""Pre-flight: every arm's model files checked before any file is written or weight loaded.

Only small files and headers are read, never a tensor: ``config.json``, each
``*.safetensors`` file's header (its 8-byte length and JSON table of names, dtypes,
shapes and byte ranges), ``model.safetensors.index.json``, ``adapter_config.json`` and the
tokenizer files. No library is imported, so a run served from the response cache stays
fast. What is refused, each with the folder and the file named:

* a folder of the wrong kind: an adapter given as ``--base``/``--full`` ("this is an
  adapter; pass it with --adapter"), a full model given as ``--adapter``, a file or a
  missing path given as a model folder;
* an unreadable or malformed ``config.json``, or one without ``model_type``;
* a safetensors file that is truncated, padded or not safetensors at all (the header's
  byte ranges must cover the data exactly, each tensor's size must match its shape), a
  sharded checkpoint whose index names a shard that is not there;
* weights that disagree with the config: the embedding's rows with ``vocab_size``, its
  width with the hidden size, fewer numbered layers than the config's layer count (the
  missing ones would be initialised at random, silently);
* a missing tokenizer (a model folder without tokenizer files), a trivial one (fewer
  than ``MIN_TOKENIZER_TOKENS`` tokens), or one whose ids exceed the embedding's rows;
* an adapter whose ``adapter_config.json`` is not an object, whose LoRA rank is not a
  positive integer, whose ``target_modules`` name no module of the base, or whose LoRA
  matrices do not fit the base's weights (trained on another base shape).

A hub id (not a local folder) is checked when it loads; offline, it must at least be in
the local Hugging Face cache. ``check_endpoint`` checks what is not a file: that a
server's address answers.
"""

from __future__ import annotations

import json
import math
import re
import socket
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fteval._util.model_refs import check_hub_model, local_model_folder
from fteval.errors import AdapterError, BackendError, ConfigError

CONFIG = "config.json"
ADAPTER_CONFIG = "adapter_config.json"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
)
MIN_TOKENIZER_TOKENS = 8  # fewer cannot tell texts apart: every text encodes alike
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit
DTYPE_BYTES = {
    "F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2,
    "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "F8_E8M0": 1,
}  # fmt: skip
VOCAB_KEYS = ("vocab_size", "n_vocab", "padded_vocab_size")
HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model", "dim")
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
# checkpoint names of the token embedding (rows = vocabulary, columns = hidden size)
EMBEDDING_SUFFIXES = (
    "embed_tokens.weight", "wte.weight", "word_embeddings.weight", "embed_in.weight",
    "tok_embeddings.weight",
)  # fmt: skip
LAYER_INDEX = re.compile(r"^(.*?\.(?:h|layers|layer|blocks))\.(\d+)\.")


@dataclass(frozen=True)
class Tensor:
    """One tensor's entry in a safetensors header: dtype and shape."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelFiles:
    """What the pre-flight learned of a local model folder (for later checks).

    Attributes:
        path: the folder.
        config: its config.json.
        weights: tensor name -> its header entry (empty for pickled weights).
        tokenizer: the folder whose tokenizer files the arm uses (None: not local).
        tokenizer_sha256: sha256 over those files' bytes, to tell tokenizers apart.
    """

    path: str
    config: Mapping[str, Any]
    weights: Mapping[str, Tensor] = field(default_factory=dict)
    tokenizer: str | None = None
    tokenizer_sha256: str | None = None

    def positions(self) -> int | None:
        """The model's position limit from its config (None when it declares none)."""
        return _first_int(self.config, POSITION_KEYS)


# ----------------------------------------------------------------- safetensors headers


def read_safetensors_header(path: str | Path) -> dict[str, Tensor]:
    """The tensors a safetensors file declares, checked against the file's size.

    Reads the header only (at most ``MAX_HEADER_BYTES``), never tensor data.

    Raises:
        BackendError: the file is too short, its header length or JSON is not
            safetensors', a tensor's byte range is outside the data or does not match its
            shape, or the ranges do not cover the data exactly (a truncated or padded file).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise _bad(path, f"{size} bytes: too short for a safetensors file (truncated?)")
            (length,) = struct.unpack("<Q", head)
            if length > MAX_HEADER_BYTES or 8 + length > size:
                raise _bad(
                    path,
                    f"its header claims {length:,} bytes but the file has {size:,}: "
                    "not a safetensors file, or truncated",
                )
            text = handle.read(length)
    except OSError as error:
        raise BackendError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad(path, "its header is not JSON: not a safetensors file") from None
    if not isinstance(header, dict):
        raise _bad(path, "its header is not a JSON object: not a safetensors file")
    return _tensors(path, header, size - 8 - length)


def _tensors(path: Path, header: Mapping[str, Any], data_bytes: int) -> dict[str, Tensor]:
    tensors: dict[str, Tensor] = {}
    end_max = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, offsets = _entry(path, name, entry)
        begin, end = offsets
        if end > data_bytes:
            raise _bad(
                path,
                f"tensor {name!r} ends at byte {end:,} of {data_bytes:,} data bytes: "
                "the file is truncated",
            )
        width = DTYPE_BYTES.get(dtype)
        if width is not None and (end - begin) != math.prod(shape) * width:
            raise _bad(path, f"tensor {name!r}: {end - begin} bytes for shape {list(shape)}")
        end_max = max(end_max, end)
        tensors[name] = Tensor(dtype, shape)
    if end_max != data_bytes:
        raise _bad(
            path,
            f"its tensors cover {end_max:,} of its {data_bytes:,} data bytes (truncated or padded)",
        )
    return tensors


def _entry(path: Path, name: str, entry: Any) -> tuple[str, tuple[int, ...], tuple[int, int]]:
    ok = (
        isinstance(entry, dict)
        and isinstance(entry.get("dtype"), str)
        and isinstance(entry.get("shape"), list)
        and all(_count(d) for d in entry["shape"])
        and isinstance(entry.get("data_offsets"), list)
        and len(entry["data_offsets"]) == 2
        and all(_count(d) for d in entry["data_offsets"])
        and entry["data_offsets"][0] <= entry["data_offsets"][1]
    )
    if not ok:
        raise _bad(path, f"tensor {name!r} has a malformed header entry: not a safetensors file")
    begin, end = entry["data_offsets"]
    return entry["dtype"], tuple(entry["shape"]), (begin, end)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bad(path: Path, problem: str) -> BackendError:
    return BackendError(f"{path}: {problem}")


def checkpoint_tensors(folder: str | Path) -> dict[str, Tensor]:
    """Every tensor of a folder's safetensors weights (all shards), from headers only.

    Raises:
        BackendError: a shard the index names is missing, or a file is not safetensors.
    """
    folder = Path(folder)
    index = folder / SAFETENSORS_INDEX
    if index.is_file():
        data = _json_object(index, BackendError)
        weight_map = data.get("weight_map")
        if not isinstance(weight_map, dict) or not all(
            isinstance(v, str) for v in weight_map.values()
        ):
            raise BackendError(f"{index}: no 'weight_map' of tensor names to shard files")
        files = []
        for shard in sorted(set(weight_map.values())):
            if not (folder / shard).is_file():
                raise BackendError(
                    f"{index}: names the shard {shard!r}, which is not in {folder} "
                    "(an incomplete download?)"
                )
            files.append(folder / shard)
    else:
        files = sorted(folder.glob("*.safetensors"))
    tensors: dict[str, Tensor] = {}
    for file in files:
        tensors.update(read_safetensors_header(file))
    return tensors


# ---------------------------------------------------------------------- model folders


def check_model_folder(path: str, flag: str) -> ModelFiles | None:
    """Pre-flight of a model folder given with ``flag`` (``--base``, ``--full``, ``--judge``).

    Returns:
        What was learned, or None for a hub id (checked when it loads).

    Raises:
        ConfigError: not a folder of a model (a file, a missing path, an adapter).
        BackendError: unreadable config, broken weights, or weights and config disagree.
    """
    folder = _local_folder(path, flag)
    if folder is None:
        return None
    has_config = (folder / CONFIG).is_file()
    if not has_config and (folder / ADAPTER_CONFIG).is_file():
        raise ConfigError(
            f"{flag} {path}: this is an adapter (it has {ADAPTER_CONFIG} and no {CONFIG}); "
            "pass it with --adapter NAME=PATH, and its base model with --base"
        )
    if not has_config:
        raise ConfigError(f"{flag} {path}: not a model folder (no {CONFIG})")
    config = _json_object(folder / CONFIG, BackendError)
    if not isinstance(config.get("model_type"), str) or not config["model_type"]:
        raise BackendError(f"{folder / CONFIG}: no 'model_type' (which architecture is it?)")
    weights = checkpoint_tensors(folder)
    check_weights_fit_config(folder, config, weights)
    return ModelFiles(str(folder), config, weights)


def _local_folder(path: str, flag: str) -> Path | None:
    """The folder ``path`` names; None for a hub id (offline: it must be cached)."""
    folder = local_model_folder(path, flag)
    if folder is None:
        check_hub_model(path, flag)
    return folder


def check_weights_fit_config(
    folder: Path, config: Mapping[str, Any], weights: Mapping[str, Tensor]
) -> None:
    """The embedding's shape and the numbered layers agree with ``config``.

    Raises:
        BackendError: naming the config key, its value and what the weights hold.
    """
    where = f"{folder}: {CONFIG} and the weights disagree"
    embedding = next(
        (t for name, t in sorted(weights.items()) if name.endswith(EMBEDDING_SUFFIXES)), None
    )
    vocab = _first_int(config, VOCAB_KEYS)
    if embedding is not None and len(embedding.shape) == 2:
        rows, width = embedding.shape
        if vocab is not None and rows != vocab:
            raise BackendError(
                f"{where}: vocab_size is {vocab} but the token embedding has {rows} rows"
            )
        hidden = _first_int(config, HIDDEN_KEYS)
        if hidden is not None and width != hidden and "text_config" not in config:
            raise BackendError(
                f"{where}: the hidden size is {hidden} but the token embedding is {width} wide"
            )
    layers = _first_int(config, LAYER_KEYS)
    found = _layer_count(weights)
    if layers is not None and found is not None and found < layers:
        raise BackendError(
            f"{where}: {layers} layers in the config, {found} in the weights (the missing "
            "ones would be initialised at random)"
        )


def _layer_count(weights: Iterable[str]) -> int | None:
    """Distinct layer indices of the most populated layer stack (None: no numbered stack)."""
    stacks: dict[str, set[int]] = {}
    for name in weights:
        match = LAYER_INDEX.match(name)
        if match:
            stacks.setdefault(match.group(1), set()).add(int(match.group(2)))
    if not stacks:
        return None
    return max(len(indices) for indices in stacks.values())


def _first_int(config: Mapping[str, Any], keys: Sequence[str]) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _json_object(path: Path, error: type[Exception]) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"{path}: cannot read: {problem}") from None
    except ValueError as problem:
        raise error(f"{path}: malformed JSON: {problem}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


# --------------------------------------------------------------------------- tokenizers


def check_tokenizer(folder: str | Path, model: ModelFiles | None, flag: str) -> str:
    """The tokenizer files in ``folder`` are there, non-trivial and fit ``model``'s vocabulary.

    Returns:
        sha256 over the tokenizer files (tells two tokenizers apart).

    Raises:
        BackendError: no tokenizer files, a malformed one, fewer than
            ``MIN_TOKENIZER_TOKENS`` tokens, or ids beyond the model's embedding rows.
    """
    import hashlib

    folder = Path(folder)
    present = [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]
    if not present:
        raise BackendError(
            f"{flag} {folder}: no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}...): save "
            "the tokenizer beside the weights (tokenizer.save_pretrained)"
        )
    for file in present:
        if file.suffix == ".json":
            _json_object(file, BackendError)
    size = tokenizer_size(folder)
    if size is not None and size < MIN_TOKENIZER_TOKENS:
        raise BackendError(
            f"{flag} {folder}: the tokenizer has {size} token(s): every text would encode "
            "alike (a placeholder tokenizer?)"
        )
    vocab = _first_int(model.config, VOCAB_KEYS) if model is not None else None
    if size is not None and vocab is not None and size > vocab:
        raise BackendError(
            f"{flag} {folder}: the tokenizer's ids go up to {size - 1}, but the model's "
            f"embedding has {vocab} rows (vocab_size): a tokenizer of another model?"
        )
    digest = hashlib.sha256()
    for file in present:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def tokenizer_size(folder: Path) -> int | None:
    """Highest token id + 1 declared by ``tokenizer.json`` or ``vocab.json`` (None: unknown,
    e.g. a byte-level or SentencePiece tokenizer with no vocabulary file here).

    Raises:
        BackendError: a tokenizer file that is not readable JSON.
    """
    ids: list[int] = []
    tokenizer_json = folder / "tokenizer.json"
    if tokenizer_json.is_file():
        data = _json_object(tokenizer_json, BackendError)
        model = data.get("model")
        vocab = model.get("vocab") if isinstance(model, dict) else None
        if isinstance(vocab, dict):
            ids += [v for v in vocab.values() if isinstance(v, int)]
        elif isinstance(vocab, list):
            ids.append(len(vocab) - 1)
        added = data.get("added_tokens")
        if isinstance(added, list):
            ids += [t["id"] for t in added if isinstance(t, dict) and isinstance(t.get("id"), int)]
    elif (folder / "vocab.json").is_file():
        vocab_json = _json_object(folder / "vocab.json", BackendError)
        ids += [v for v in vocab_json.values() if isinstance(v, int)]
    return max(ids) + 1 if ids else None


# ---------------------------------------------------------------------------- adapters


def check_adapter_folder(name: str, path: str, base: ModelFiles | None) -> Mapping[str, Any] | None:
    """Pre-flight of adapter ``name``: its config, its weights, and its fit to ``base``.

    Returns:
        The adapter config, or None for a hub id.

    Raises:
        ConfigError: not an adapter folder (a full model: pass it with --full).
        AdapterError: a malformed config, broken weights, target modules the base lacks,
            or LoRA matrices that do not fit the base's weights.
    """
    flag = f"--adapter {name}={path}"
    folder = _local_folder(path, f"--adapter {name}=")
    if folder is None:
        return None
    if not (folder / ADAPTER_CONFIG).is_file():
        if (folder / CONFIG).is_file():
            raise ConfigError(
                f"{flag}: this is a full model ({CONFIG}, no {ADAPTER_CONFIG}); pass it with --full"
            )
        raise ConfigError(f"{flag}: not a PEFT adapter folder (no {ADAPTER_CONFIG})")
    config = _json_object(folder / ADAPTER_CONFIG, AdapterError)
    _check_adapter_config(folder / ADAPTER_CONFIG, config)
    try:
        tensors = checkpoint_tensors(folder)
    except BackendError as error:
        raise AdapterError(str(error)) from None
    if base is not None and base.weights:
        check_adapter_fits(name, folder, config, tensors, base)
    return config


def _check_adapter_config(path: Path, config: Mapping[str, Any]) -> None:
    if config.get("peft_type", "LORA") != "LORA":
        return  # other PEFT methods: peft checks them when they load
    rank = config.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise AdapterError(f"{path}: 'r' (the LoRA rank) must be an integer >= 1, got {rank!r}")
    targets = config.get("target_modules")
    if targets is not None and not (
        isinstance(targets, str)
        or (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets))
    ):
        raise AdapterError(
            f"{path}: 'target_modules' must be a list of module names or a pattern, got {targets!r}"
        )


def check_adapter_fits(
    name: str,
    folder: Path,
    config: Mapping[str, Any],
    tensors: Mapping[str, Tensor],
    base: ModelFiles,
) -> None:
    """The adapter's target modules exist in ``base`` and its LoRA matrices fit them.

    Raises:
        AdapterError: naming the adapter, the module and both shapes.
    """
    modules = {n.rsplit(".", 1)[0]: t for n, t in base.weights.items() if n.endswith(".weight")}
    targets = config.get("target_modules")
    if isinstance(targets, list) and not _any_target_found(targets, modules):
        endings = sorted({m.rsplit(".", 1)[-1] for m in modules if not m[-1].isdigit()})
        raise AdapterError(
            f"adapter {name!r} ({folder}): its target_modules {targets} name no module of the "
            f"base {base.path} (its modules end in: {', '.join(endings[:12])}): an adapter "
            "for another architecture?"
        )
    for module, (a, b) in _lora_pairs(tensors).items():
        weight = _find_module(module, modules)
        if weight is None or len(weight.shape) != 2 or len(a.shape) != 2 or len(b.shape) != 2:
            continue
        if sorted((a.shape[1], b.shape[0])) != sorted(weight.shape):
            raise AdapterError(
                f"adapter {name!r} ({folder}): its LoRA matrices for {module} map "
                f"{a.shape[1]} -> {b.shape[0]}, but the base's weight there is "
                f"{list(weight.shape)}: an adapter trained on a base of another shape"
            )


def _any_target_found(targets: Sequence[str], modules: Mapping[str, Tensor]) -> bool:
    if "all-linear" in targets:
        return True
    return any(m == t or m.endswith("." + t) for t in targets for m in modules)


def _lora_pairs(tensors: Mapping[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
    """Module -> (A, B) of every LoRA pair in an adapter checkpoint."""
    halves: dict[str, dict[str, Tensor]] = {}
    pattern = re.compile(r"^(?:base_model\.model\.)?(.+?)\.lora_(?:embedding_)?([AB])(?:\.\w+)*$")
    for tensor_name, tensor in tensors.items():
        match = pattern.match(tensor_name)
        if match:
            halves.setdefault(match.group(1), {})[match.group(2)] = tensor
    return {m: (h["A"], h["B"]) for m, h in halves.items() if {"A", "B"} <= set(h)}


def _find_module(module: str, modules: Mapping[str, Tensor]) -> Tensor | None:
    """The base weight of ``module``, allowing a differing leading prefix (``transformer.``).

    None when no module or more than one matches (then the shape is not checked).
    """
    parts = module.split(".")
    for start in range(len(parts) - 2):
        suffix = ".".join(parts[start:])
        if suffix in modules:
            return modules[suffix]
        found = [t for m, t in modules.items() if m.endswith("." + suffix)]
        if len(found) == 1:
            return found[0]
        if found:
            return None
    return None


# ----------------------------------------------------------------------------- endpoints


def check_endpoint(url: str, *, flag: str = "--base-url", timeout_s: float = 5.0) -> None:
    """An HTTP server answers at ``url``'s host and port within ``timeout_s`` seconds.

    Only reachability: any HTTP reply will do (whether it serves the model, and with
    which key, is the backend's own probe). A server that accepts the connection and
    never replies would otherwise hold every request for its full timeout and retries.

    Raises:
        ConfigError: the host does not resolve, refuses, or sends no HTTP reply in time.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    what = f"{flag} {url}"
    check_reachable(host, port, what=what, timeout_s=timeout_s)
    if not _http_reply(host, port, tls=parts.scheme == "https", timeout_s=timeout_s):
        raise ConfigError(
            f"{what}: {host}:{port} accepts connections but sends no HTTP reply within "
            f"{timeout_s:g} s; is it the server's address (and http vs https) right?"
        )


def _http_reply(host: str, port: int, *, tls: bool, timeout_s: float) -> bool:
    """Whether ``host:port`` answers a bare HTTP request with anything, in time."""
    import ssl

    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            raw.settimeout(timeout_s)
            connection = raw
            if tls:  # only "does it speak": certificates are the backend's to check
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                connection = context.wrap_socket(raw, server_hostname=host)
            connection.sendall(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            return bool(connection.recv(1))
    except OSError:  # a timeout, a reset, a failed TLS handshake
        return False


# the HTTP/2 client connection preface and an empty SETTINGS frame: a gRPC server (Ray's
# GCS, the Ray Client server) answers with its own SETTINGS frame (frame type 4)
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_HTTP2_SETTINGS = 4


def check_grpc_server(host: str, port: int, *, what: str, timeout_s: float = 5.0) -> None:
    """A gRPC (HTTP/2) server answers at ``host:port`` within ``timeout_s`` seconds.

    Ray's cluster address and its client address are gRPC servers. Anything else that
    accepts the connection (another service, a proxy) would keep a Ray connection
    retrying for minutes; this asks the HTTP/2 question and waits ``timeout_s`` at most.

    Raises:
        ConfigError: no connection, or no HTTP/2 SETTINGS frame in reply.
    """
    check_reachable(host, port, what=what, timeout_s=timeout_s)
    reply = b""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            connection.settimeout(timeout_s)
            connection.sendall(_HTTP2_PREFACE)
            while len(reply) < 9:
                chunk = connection.recv(9 - len(reply))
                if not chunk:
                    break
                reply += chunk
    except OSError:  # a timeout, a reset
        pass
    if len(reply) < 9 or reply[3] != _HTTP2_SETTINGS:
        raise ConfigError(
            f"{what}: {host}:{port} accepts connections but does not answer as a Ray cluster "
            f"(no gRPC reply within {timeout_s:g} s); is the address and port right?"
        )


def check_reachable(host: str, port: int, *, what: str, timeout_s: float = 5.0) -> None:
    """A TCP connection to ``host:port`` opens within ``timeout_s`` seconds.

    Raises:
        ConfigError: naming ``what`` and why (unknown host, refused, timed out).
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OverflowError:
        problem = f"port {port} is not in 1..65535"
    except socket.gaierror as error:
        problem = f"cannot resolve the host {host!r} ({error.strerror or error})"
    except TimeoutError:
        problem = f"no answer from {host}:{port} within {timeout_s:g} s"
    except OSError as error:
        problem = f"cannot connect to {host}:{port} ({error.strerror or error})"
    raise ConfigError(f"{what}: {problem}; is the server running, and is the address right?")
