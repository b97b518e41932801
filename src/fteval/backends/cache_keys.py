"""The response cache's key policy: what an arm's and a request's keys are made of.

The store (``fteval.backends.cache``) keeps one row per (arm key, request kind, request
key); this module decides those keys and nothing else, so the policy can be read, tested
and changed without the SQLite code around it.

**Arm key** (``arm_cache_key``): sha256 over a canonical JSON of the arm's identity (as
``Backend.identity`` returns it, plus what ``CachingBackend`` adds), with a short list of
fields removed. Every field not on that list is part of the key, so a field a backend adds
later is keyed by default: a spurious miss costs compute, a spurious hit costs correctness.

* Kept: the content hashes of the weights (``weights_sha256``); for adapters also the
  base's hashes (``base_weights_sha256``) and the adapter config; dtype; device (the same
  weights on another device or kernel give slightly different floats, so a cache filled on
  a GPU is not reused on the CPU); the backend name; settings that change numbers
  (``max_length_override``, ``adapter_serving``, ...); tokenizer facts when present.
  ``CachingBackend`` adds sha256s of the small non-weight files of the arm's folder and
  of the base's folder (config.json, tokenizer files, chat template, model code: a fixed
  chat template at the same path must miss) and the versions of fteval, torch,
  transformers and peft (library upgrades change numerics).
* Removed (``EXCLUDED_FIELDS``): the path and other location facts (a model moved to
  another folder still hits; an adapter rewritten in place misses because its hash
  changed); ``batch_size``, ``batch_tokens`` and ``threads`` (scores do not depend on
  them beyond float rounding, which tests bound at 1e-5); the adapter probe's logit change
  (known only after ``prepare``, and a function of the weights anyway); the measured rule
  that served an arm's adapters in one pass with other arms or alone
  (``adapter_serving_rule``: known only after ``prepare``; the two ways agree within
  1e-4, tested); the base-mismatch and quantization-mismatch warnings (messages; the
  files they are read from are hashed already). Keys naming a
  location (``_name_or_path``, ``base_model_name_or_path``) are removed at any depth, in
  JSON files too.
* No key at all (``arm_cache_key`` returns None, the arm is served uncached) when the
  identity carries no content hash — a hub id without local files, the fake backend — or
  an adapter's base has none, or ``trust_remote_code`` is on (model code may come from
  outside the hashed files). A name is never used as a key on its own.

**Endpoint arms** (the ``openai`` backend) have no weights to hash: the server holds them.
Their identity has an ``endpoint`` object, and the key is built from all of it: the base
URL, the served model name, the server's ``/v1/models`` entry for it (without the fields
that change per call: ``created``, ``permission``, ``object``) and a *fingerprint*: the
sha256 of the tokens and log-probabilities (rounded to 0.01 nats) that the served model
gives a fixed probe text, asked at the start of every run. An endpoint arm without a
fingerprint (a server that does not echo log-probabilities, e.g. a chat-only API) is not
cached. Why this cannot give a stale answer in practice: for a hit, the server at the
same address must serve a model of the same name, described the same way, that gives
the same log-probability to 0.01 nats on every token of the probe. A redeployed model
under the same name (a retrained adapter at the same path) changes the probe. What it
cannot rule out, and a weight hash would: two models that differ so little that no
probe token moves by 0.005 nats. A server whose numbers drift more than that between
calls (batching on a GPU) only misses more often. Where this is not good enough, use
``--cache-dir off``.

**Request key** (``request_key``): sha256 of a canonical JSON of the request dataclass —
its type and every field, sampling params and seed included.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from fteval._util.versions import installed_versions
from fteval.version import __version__

KEY_VERSION = "1"  # bump when the meaning of a cached response changes (scoring semantics)

EXCLUDED_FIELDS = frozenset(
    {
        "path",
        "base_path",
        "local",
        "batch_size",
        "batch_tokens",
        "threads",
        "threads_policy",
        "probe_max_abs_logit_change",
        "base_mismatch",
        "quantization_mismatch",
        "adapter_serving_rule",
    }
)
LOCATION_KEYS = frozenset({"_name_or_path", "name_or_path", "base_model_name_or_path"})
SUPPORT_SUFFIXES = (".json", ".txt", ".model", ".py", ".jinja", ".tiktoken")
SOFTWARE = ("torch", "transformers", "peft")


def canonical_default(value: Any) -> Any:
    """``json.dumps``'s ``default`` for identities: paths, sets and numpy scalars."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    raise TypeError(f"identity value of type {type(value).__name__} has no canonical JSON")


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: sorted keys, no spaces, no NaN (the hashed form)."""
    return json.dumps(
        value,
        default=canonical_default,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _without_locations(value: Any) -> Any:
    """``value`` with every key naming a location removed, at any depth."""
    if isinstance(value, Mapping):
        return {k: _without_locations(v) for k, v in value.items() if k not in LOCATION_KEYS}
    if isinstance(value, (list, tuple)):
        return [_without_locations(v) for v in value]
    return value


def _has_hashes(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(v, str) and v for v in value.values())
    )


def uncacheable_reason(identity: Mapping[str, Any]) -> str | None:
    """Why an arm with this identity must not be cached, or None when it may be.

    Args:
        identity: what ``Backend.identity`` returned for the arm.

    Returns:
        A sentence for the log, or None.
    """
    endpoint = identity.get("endpoint")
    if isinstance(endpoint, Mapping):
        reason = _endpoint_reason(endpoint)
        if reason is not None:
            return reason
    elif not _has_hashes(identity.get("weights_sha256")):
        return "its identity has no content hash of the weights (hub id or fake)"
    else:
        is_adapter = identity.get("kind") == "adapter" or "adapter_config" in identity
        if is_adapter and not _has_hashes(identity.get("base_weights_sha256")):
            return "the adapter's base has no content hash of its weights"
    if identity.get("trust_remote_code"):
        return "trust_remote_code is on, and model code is not content-hashed"
    try:
        canonical_json(_without_locations(identity))
    except (TypeError, ValueError) as error:
        return f"its identity cannot be written as canonical JSON ({error})"
    return None


def _endpoint_reason(endpoint: Mapping[str, Any]) -> str | None:
    """Why an endpoint arm must not be cached, or None (see the module docstring)."""
    for field in ("base_url", "model"):
        if not (isinstance(endpoint.get(field), str) and endpoint[field]):
            return f"its endpoint identity has no {field}"
    fingerprint = endpoint.get("fingerprint")
    if not (isinstance(fingerprint, str) and fingerprint):
        return (
            "the endpoint gave no fingerprint (no echoed log-probabilities of the probe), and "
            "a served model's name alone could hide a redeployed model"
        )
    return None


def arm_cache_key(identity: Mapping[str, Any]) -> str | None:
    """The cache key of an arm: sha256 (64 hex digits) of what determines its outputs.

    See the module docstring for the fields kept and removed.

    Args:
        identity: what ``Backend.identity`` returned for the arm (optionally extended).

    Returns:
        The key, or None when the arm must not be cached (``uncacheable_reason``).
    """
    if uncacheable_reason(identity) is not None:
        return None
    kept = {k: v for k, v in identity.items() if k not in EXCLUDED_FIELDS}
    payload = {"key_version": KEY_VERSION, "identity": _without_locations(kept)}
    return _sha256_text(canonical_json(payload))


def request_key(request: Any) -> str:
    """sha256 (64 hex digits) of the request's type and every field, canonically written.

    Raises:
        TypeError: ``request`` is not a dataclass instance.
    """
    if not is_dataclass(request) or isinstance(request, type):
        raise TypeError(f"a request must be a dataclass instance, got {request!r}")
    return _sha256_text(canonical_json({"type": type(request).__name__, "fields": asdict(request)}))


def support_file_hashes(folder: str | Path) -> dict[str, str]:
    """sha256 of each small non-weight file of a model folder that can change outputs.

    Files with a suffix in ``SUPPORT_SUFFIXES`` (config, tokenizer, chat template, model
    code) at the top of ``folder``; JSON files are hashed after removing location keys, so
    a copied folder whose config records its old path still matches.

    Returns:
        File name -> hex sha256; empty when ``folder`` is not a local directory.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    hashes = {}
    for file in sorted(folder.iterdir()):
        if file.is_file() and file.suffix in SUPPORT_SUFFIXES:
            hashes[file.name] = _support_file_hash(file.read_bytes(), file.suffix == ".json")
    return hashes


# sha256 of a support file's bytes -> its hash as support_file_hashes defines it; a run
# asks for each folder's hashes several times (key, manifest, every adapter's base), and
# a 50k-token tokenizer.json takes about half a second to canonicalise
_SUPPORT_HASHES: dict[str, str] = {}


def _support_file_hash(data: bytes, is_json: bool) -> str:
    """sha256 of one support file: JSON canonically written without location keys."""
    raw = hashlib.sha256(data).hexdigest()
    if not is_json:
        return raw
    known = _SUPPORT_HASHES.get(raw)
    if known is not None:
        return known
    with contextlib.suppress(ValueError, TypeError):  # invalid JSON: hash the bytes
        value = json.loads(data)
        if any(f'"{key}"'.encode() in data for key in LOCATION_KEYS):
            value = _without_locations(value)
        data = canonical_json(value).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    if len(_SUPPORT_HASHES) < 4096:
        _SUPPORT_HASHES[raw] = digest
    return digest


def software_versions() -> dict[str, str | None]:
    """Versions of fteval and the libraries whose upgrades can change numerics."""
    return {"fteval": __version__, **installed_versions(SOFTWARE)}


__all__ = [
    "EXCLUDED_FIELDS",
    "KEY_VERSION",
    "arm_cache_key",
    "canonical_json",
    "request_key",
    "software_versions",
    "support_file_hashes",
    "uncacheable_reason",
]
