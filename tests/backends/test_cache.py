"""The response cache and the caching backend: hits, misses, keys, concurrency, damage."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fteval.backends.base import ArmIdentity
from fteval.backends.cache import CacheError, ResponseCache
from fteval.backends.cache_keys import arm_cache_key, request_key, support_file_hashes
from fteval.backends.caching import CachingBackend
from fteval.backends.fake import FakeBackend
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
    SamplingParams,
)

LL = [LoglikelihoodRequest(f"Message: case {i}\nIntent:", f" {c}") for i in range(5) for c in "ab"]
GEN = [GenerateRequest(f"Prompt {i}", stop=("\n",), max_new_tokens=8) for i in range(4)]
ROLL = [RollingLoglikelihoodRequest(f"text number {i}") for i in range(3)]


# ---- a fake backend whose identity carries content hashes ----


def write_weights(folder: Path, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(content)
    (folder / "config.json").write_text(json.dumps({"n_layer": 2, "_name_or_path": str(folder)}))
    return folder


def _hashes(folder: str) -> dict[str, str]:
    data = (Path(folder) / "model.safetensors").read_bytes()
    return {"model.safetensors": hashlib.sha256(data).hexdigest()}


class HashedFake(FakeBackend):
    """FakeBackend with an HF-like identity: weight hashes read from the arm's folder."""

    def __init__(self, arms: list[ArmSpec], **kwargs: Any) -> None:
        super().__init__(arms, **kwargs)
        self.log: list[tuple[str, str, tuple[Any, ...]]] = []

    def identity(self, arm: str) -> ArmIdentity:
        spec = self.arm(arm)
        facts = {**super().identity(arm).facts, "dtype": "float32", "device": "cpu"}
        facts["batch_size"] = 8
        if spec.kind == "adapter":
            facts["adapter_config"] = {"r": 4, "base_model_name_or_path": "/somewhere"}
            facts["base_weights_sha256"] = _hashes(self.arm("base").path)
        return ArmIdentity(self.name, spec.path, _hashes(spec.path), facts)

    def loglikelihood(self, arm, requests):
        self.log.append(("loglikelihood", arm, tuple(requests)))
        return super().loglikelihood(arm, requests)

    def loglikelihood_rolling(self, arm, requests):
        self.log.append(("loglikelihood_rolling", arm, tuple(requests)))
        return super().loglikelihood_rolling(arm, requests)

    def generate(self, arm, requests):
        self.log.append(("generate", arm, tuple(requests)))
        return super().generate(arm, requests)


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    return {
        "base": write_weights(tmp_path / "base", b"base weights"),
        "lora": write_weights(tmp_path / "lora", b"lora weights"),
        "lora2": write_weights(tmp_path / "lora2", b"second adapter"),
    }


def make_arms(folders: dict[str, Path], *names: str) -> list[ArmSpec]:
    return [
        ArmSpec(n, "base" if n == "base" else "adapter", str(folders[n]), n)
        for n in ("base", *names)
    ]


def cached(folders, cache_path, *names, inner_cls=HashedFake) -> CachingBackend:
    return CachingBackend(inner_cls(make_arms(folders, *names)), ResponseCache(cache_path))


def serve_all(backend) -> dict[str, list]:
    return {
        arm.name: [
            backend.loglikelihood(arm.name, LL),
            backend.generate(arm.name, GEN),
            backend.loglikelihood_rolling(arm.name, ROLL),
        ]
        for arm in backend.arms
    }


# ---- the caching backend ----


def test_second_pass_is_served_entirely_from_cache(folders, tmp_path):
    first = cached(folders, tmp_path / "c.sqlite", "lora")
    served = serve_all(first)
    assert len(first.inner.log) == 6
    first.close()

    second = cached(folders, tmp_path / "c.sqlite", "lora")
    assert serve_all(second) == served
    assert second.inner.log == []
    assert second.hits == {"base": 17, "lora": 17}
    assert second.misses == {"base": 0, "lora": 0}
    second.close()


def test_cached_results_equal_uncached_results(folders, tmp_path):
    plain = HashedFake(make_arms(folders, "lora"))
    expected = serve_all(plain)
    backend = cached(folders, tmp_path / "c.sqlite", "lora")
    assert serve_all(backend) == expected  # first pass: computed
    assert serve_all(backend) == expected  # second pass: read back from SQLite
    assert isinstance(backend.generate("lora", GEN)[0].texts, tuple)


def test_rewritten_adapter_at_the_same_path_misses(folders, tmp_path):
    first = cached(folders, tmp_path / "c.sqlite", "lora")
    serve_all(first)
    first.close()
    write_weights(folders["lora"], b"retrained lora weights")

    second = cached(folders, tmp_path / "c.sqlite", "lora")
    serve_all(second)
    assert {arm for _, arm, _ in second.inner.log} == {"lora"}
    assert second.hits["base"] == 17 and second.misses["lora"] == 17


def test_changed_base_weights_miss_for_the_adapter_too(folders, tmp_path):
    serve_all(cached(folders, tmp_path / "c.sqlite", "lora"))
    write_weights(folders["base"], b"another base")
    second = cached(folders, tmp_path / "c.sqlite", "lora")
    serve_all(second)
    assert second.hits == {"base": 0, "lora": 0}


def test_new_adapter_arm_reuses_cached_responses_of_existing_arms(folders, tmp_path):
    serve_all(cached(folders, tmp_path / "c.sqlite", "lora"))
    grown = cached(folders, tmp_path / "c.sqlite", "lora", "lora2")
    serve_all(grown)
    assert {arm for _, arm, _ in grown.inner.log} == {"lora2"}
    assert grown.hits == {"base": 17, "lora": 17, "lora2": 0}


def test_moved_model_folder_still_hits(folders, tmp_path):
    serve_all(cached(folders, tmp_path / "c.sqlite", "lora"))
    moved = {name: tmp_path / "moved" / name for name in folders}
    for name, folder in folders.items():
        shutil.copytree(folder, moved[name])
    again = cached(moved, tmp_path / "c.sqlite", "lora")
    serve_all(again)
    assert again.inner.log == []


def test_changed_tokenizer_or_config_file_at_the_same_path_misses(folders, tmp_path):
    serve_all(cached(folders, tmp_path / "c.sqlite", "lora"))
    (folders["base"] / "tokenizer_config.json").write_text('{"chat_template": "{{ x }}"}')
    again = cached(folders, tmp_path / "c.sqlite", "lora")
    serve_all(again)
    assert again.hits == {"base": 0, "lora": 0}  # adapters use the base's tokenizer


def test_only_misses_reach_the_inner_backend_in_order_and_once(folders, tmp_path):
    backend = cached(folders, tmp_path / "c.sqlite")
    backend.loglikelihood("base", LL[2:4])
    mixed = [LL[5], LL[2], LL[1], LL[5], LL[3], LL[0]]
    results = backend.loglikelihood("base", mixed)
    assert backend.inner.log[-1] == ("loglikelihood", "base", (LL[5], LL[1], LL[0]))
    assert results == HashedFake(make_arms(folders)).loglikelihood("base", mixed)
    assert backend.hits["base"] == 2 and backend.misses["base"] == 2 + 4


def test_generate_requests_differing_in_seed_or_temperature_are_different_keys(folders, tmp_path):
    backend = cached(folders, tmp_path / "c.sqlite")
    prompt = "Tell me"
    variants = [
        GenerateRequest(prompt, sampling=SamplingParams(temperature=0.7, seed=0)),
        GenerateRequest(prompt, sampling=SamplingParams(temperature=0.7, seed=1)),
        GenerateRequest(prompt, sampling=SamplingParams(temperature=1.0, seed=0)),
        GenerateRequest(prompt, sampling=SamplingParams(temperature=0.7, seed=0, top_p=0.9)),
        GenerateRequest(prompt, sampling=SamplingParams(temperature=0.7, seed=0, n=2)),
        GenerateRequest(prompt, max_new_tokens=5),
        GenerateRequest(prompt, stop=("\n",)),
        GenerateRequest(prompt, chat=True),
    ]
    assert len({request_key(v) for v in variants}) == len(variants)
    for count, variant in enumerate(variants, start=1):
        backend.generate("base", [variant])
        assert len(backend.inner.log) == count, variant
    backend.generate("base", variants)
    assert len(backend.inner.log) == len(variants)


def test_arm_without_content_hashes_is_never_cached(folders, tmp_path):
    backend = cached(folders, tmp_path / "c.sqlite", "lora", inner_cls=FakeBackend)
    first = serve_all(backend)
    calls = len(backend.inner.calls)
    assert serve_all(backend) == first
    assert len(backend.inner.calls) == 2 * calls
    assert backend.hits == {"base": 0, "lora": 0}
    assert backend.arm_key("base") is None and backend.cache_stats()["lora"]["cached"] is False
    assert len(backend.cache) == 0


def test_arm_keys_are_computed_after_prepare_unless_identity_comes_first(folders, tmp_path):
    class LateIdentity(HashedFake):
        prepared = False

        def prepare(self):
            self.prepared = True

        def identity(self, arm):
            if not self.prepared:
                raise RuntimeError("identity asked before prepare")
            return super().identity(arm)

    backend = cached(folders, tmp_path / "c.sqlite", inner_cls=LateIdentity)
    backend.prepare()
    assert backend.loglikelihood("base", LL) == LateIdentity(make_arms(folders)).loglikelihood(
        "base", LL
    )


def test_prepare_waits_for_the_first_miss_and_never_runs_when_all_hit(folders, tmp_path):
    class CountingPrepare(HashedFake):
        identity_before_prepare = True

        def prepare(self):
            self.log.append(("prepare", "", ()))

    def run() -> CachingBackend:
        backend = cached(folders, tmp_path / "c.sqlite", "lora", inner_cls=CountingPrepare)
        backend.prepare()
        assert backend.inner.log == []  # nothing loaded before a request needs it
        serve_all(backend)
        return backend

    first = run()
    assert [entry[0] for entry in first.inner.log].count("prepare") == 1
    assert first.inner.log[0][0] == "prepare"  # before anything is computed
    assert run().inner.log == []  # every answer cached: no prepare, no compute


def test_tokenizer_facts_are_kept_in_the_cache(folders, tmp_path):
    class WithFacts(HashedFake):
        def tokenizer_facts(self, arm):
            self.log.append(("tokenizer_facts", arm, ()))
            return {"pad_policy": f"pad token of {arm}"}

    first = cached(folders, tmp_path / "c.sqlite", "lora", inner_cls=WithFacts)
    second = cached(folders, tmp_path / "c.sqlite", "lora", inner_cls=WithFacts)
    assert first.tokenizer_facts("lora") == {"pad_policy": "pad token of lora"}
    assert second.tokenizer_facts("lora") == {"pad_policy": "pad token of lora"}
    assert len(first.inner.log) == 1 and second.inner.log == []


def test_weight_hash_memo_rehashes_a_changed_file_and_skips_an_unchanged_one(tmp_path, monkeypatch):
    import os

    import fteval.backends.cache as cache_module

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"first")
    old = os.stat(weights).st_mtime_ns - 10**10
    os.utime(weights, ns=(old, old))
    # a ctime cannot be set back: let this fresh file count as older than the racy window
    monkeypatch.setattr(cache_module, "RACY_WINDOW_S", -1.0)
    cache = ResponseCache(tmp_path / "c.sqlite")
    assert cache.file_sha256(weights) == hashlib.sha256(b"first").hexdigest()
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:  # a forged memo proves it is read
        conn.execute("UPDATE file_hashes SET sha256 = 'memo'")
    assert cache.file_sha256(weights) == "memo"
    monkeypatch.setattr(cache_module, "RACY_WINDOW_S", 2.0)
    weights.write_bytes(b"second")  # new size and mtime: hashed again, not memoised (racy)
    assert cache.file_sha256(weights) == hashlib.sha256(b"second").hexdigest()
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        assert conn.execute("SELECT sha256 FROM file_hashes").fetchall() == [("memo",)]


def test_weights_rewritten_in_place_with_size_inode_and_mtime_kept_are_hashed_again(
    tmp_path, monkeypatch
):
    """Only the ctime tells: it changes with every write and cannot be set back."""
    import os
    import time

    import fteval.backends.cache as cache_module

    monkeypatch.setattr(cache_module, "RACY_WINDOW_S", -1.0)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"trained weights")
    before = os.stat(weights)
    cache = ResponseCache(tmp_path / "c.sqlite")
    assert cache.file_sha256(weights) == hashlib.sha256(b"trained weights").hexdigest()
    time.sleep(0.02)  # past the file system's timestamp granularity
    with open(weights, "r+b") as handle:  # same inode, same size
        handle.write(b"TAMPERED weight")
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back
    after = os.stat(weights)
    assert (after.st_size, after.st_ino, after.st_mtime_ns) == (
        before.st_size, before.st_ino, before.st_mtime_ns,
    )  # fmt: skip
    assert after.st_ctime_ns != before.st_ctime_ns
    assert cache.file_sha256(weights) == hashlib.sha256(b"TAMPERED weight").hexdigest()
    cache.close()


def test_a_memo_from_before_ctime_was_kept_is_upgraded_and_hashes_again(tmp_path):
    path = tmp_path / "c.sqlite"
    ResponseCache(path).close()
    with sqlite3.connect(path) as conn:  # the table as older fteval versions made it
        conn.execute("DROP TABLE file_hashes")
        conn.execute(
            "CREATE TABLE file_hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
            " mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, device INTEGER NOT NULL,"
            " sha256 TEXT NOT NULL)"
        )
        weights = tmp_path / "w.safetensors"
        weights.write_bytes(b"x")
        st = weights.stat()
        conn.execute(
            "INSERT INTO file_hashes VALUES (?, ?, ?, ?, ?, 'stale')",
            (str(weights.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev),
        )
    with ResponseCache(path) as cache:
        assert cache.file_sha256(weights) == hashlib.sha256(b"x").hexdigest()


def test_delegates_every_hook_to_the_inner_backend(folders, tmp_path):
    class WithHooks(HashedFake):
        def check_inputs(self):
            self.log.append(("check_inputs", "", ()))

        def tokenizer_facts(self, arm):
            return {"arm": arm}

    backend = cached(folders, tmp_path / "c.sqlite", "lora", inner_cls=WithHooks)
    backend.check_inputs()
    assert backend.tokenizer_facts("lora") == {"arm": "lora"}
    assert backend.identity("lora") == backend.inner.identity("lora")
    assert backend.name == "fake" and backend.supports == backend.inner.supports
    assert backend.counters() is None
    backend.close()
    with pytest.raises(CacheError, match=r"c\.sqlite: the response cache was closed"):
        len(backend.cache)  # the wrapper closed the cache it owns
    with pytest.raises(KeyError, match="no arm named"):
        cached(folders, tmp_path / "e.sqlite").loglikelihood("nope", LL)


def test_a_whole_run_through_the_caching_backend_repeats_from_cache(folders, tmp_path, task_file):
    from fteval.api import evaluate

    folders["full"] = write_weights(tmp_path / "full", b"full weights")

    def run(out: str) -> tuple[dict[str, Any], CachingBackend]:
        arms = [*make_arms(folders, "lora"), ArmSpec("full", "full", str(folders["full"]), "full")]
        backend = CachingBackend(HashedFake(arms), ResponseCache(tmp_path / "c.sqlite"))
        results = evaluate(
            str(folders["base"]),
            adapters={"lora": str(folders["lora"])},
            full=str(folders["full"]),
            tasks=[str(task_file)],
            out=tmp_path / out,
            backend=backend,
            progress=False,
        )
        return results, backend

    first, _ = run("run1")
    second, backend = run("run2")
    assert backend.inner.log == []
    assert second["scores"] == first["scores"]
    assert all(
        stats["hits"] > 0 and stats["misses"] == 0 for stats in backend.cache_stats().values()
    )


# ---- keys ----


def hf_like_identity(**changes: Any) -> dict[str, Any]:
    identity = {
        "backend": "hf",
        "path": "/models/lora",
        "local": True,
        "weights_sha256": {"adapter_model.safetensors": "a" * 64},
        "dtype": "float32",
        "device": "cpu",
        "batch_size": 16,
        "max_length_override": None,
        "trust_remote_code": False,
        "adapter_config": {"r": 4, "base_model_name_or_path": "/models/base"},
        "adapter_serving": "peft_switch",
        "base_path": "/models/base",
        "base_weights_sha256": {"model.safetensors": "b" * 64},
    }
    identity.update(changes)
    return identity


def test_arm_key_ignores_location_batch_size_and_probe():
    key = arm_cache_key(hf_like_identity())
    assert key is not None and len(key) == 64
    assert key == arm_cache_key(
        hf_like_identity(
            path="/elsewhere/lora",
            base_path="/elsewhere/base",
            local=False,
            batch_size=1,
            probe_max_abs_logit_change=0.3,
            adapter_config={"r": 4, "base_model_name_or_path": "/elsewhere/base"},
        )
    )


@pytest.mark.parametrize(
    "change",
    [
        {"weights_sha256": {"adapter_model.safetensors": "c" * 64}},
        {"base_weights_sha256": {"model.safetensors": "c" * 64}},
        {"adapter_config": {"r": 8}},
        {"dtype": "bfloat16"},
        {"device": "cuda"},
        {"backend": "vllm"},
        {"max_length_override": 512},
        {"adapter_serving": "merge"},
        {"tokenizer": {"pad_policy": "eos"}},
        {"a_new_field_a_backend_adds": 1},
    ],
)
def test_arm_key_changes_with_what_determines_outputs(change):
    assert arm_cache_key(hf_like_identity(**change)) != arm_cache_key(hf_like_identity())


@pytest.mark.parametrize(
    "change",
    [
        {"weights_sha256": {}},
        {"base_weights_sha256": {}},
        {"weights_sha256": None},
        {"trust_remote_code": True},
        {"odd": object()},
    ],
)
def test_arm_without_complete_content_hashes_has_no_key(change):
    assert arm_cache_key(hf_like_identity(**change)) is None
    assert arm_cache_key({"backend": "openai", "path": "gpt-x"}) is None


def test_support_file_hashes_skip_weights_and_recorded_paths(tmp_path):
    a = write_weights(tmp_path / "a", b"w")
    b = write_weights(tmp_path / "b", b"w")
    (a / "README.md").write_text("notes")
    assert support_file_hashes(a) == support_file_hashes(b)
    assert set(support_file_hashes(a)) == {"config.json"}
    (b / "config.json").write_text('{"n_layer": 3}')
    assert support_file_hashes(a) != support_file_hashes(b)
    assert support_file_hashes(tmp_path / "missing") == {}


# ---- the store ----


def test_get_many_returns_none_for_misses_and_roundtrips_special_floats(tmp_path):
    requests = [LoglikelihoodRequest("c", "x"), LoglikelihoodRequest("c", "y")]
    results = [
        LoglikelihoodResult(-math.inf, False, 1),
        LoglikelihoodResult(-1.25, True, 2, truncated_tokens=3, truncation_side="left"),
    ]
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        assert cache.get_many("arm", "loglikelihood", requests) == [None, None]
        cache.put_many("arm", "loglikelihood", requests, results)
        assert cache.get_many("arm", "loglikelihood", requests[::-1]) == results[::-1]
        assert cache.get_many("other-arm", "loglikelihood", requests) == [None, None]
        assert cache.stats() == {"hits": 2, "misses": 4, "writes": 2}
        nan = [RollingLoglikelihoodResult(math.nan, 3)]
        cache.put_many("arm", "loglikelihood_rolling", ROLL[:1], nan)
        assert math.isnan(cache.get_many("arm", "loglikelihood_rolling", ROLL[:1])[0].logprob)


def test_put_many_rejects_mismatched_input(tmp_path):
    result = GenerationResult(("t",), (1,), ("stop",))
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(ValueError, match="2 requests but 1 results"):
            cache.put_many("arm", "generate", GEN[:2], [result])
        with pytest.raises(ValueError, match="unknown request kind 'rolling'"):
            cache.put_many("arm", "rolling", GEN[:1], [result])
        with pytest.raises(TypeError, match="must be a GenerateRequest"):
            cache.put_many("arm", "generate", LL[:1], [result])
        with pytest.raises(TypeError, match="must be a GenerationResult"):
            cache.put_many("arm", "generate", GEN[:1], [LoglikelihoodResult(-1.0, True, 1)])
        assert len(cache) == 0


def test_many_requests_are_looked_up_in_chunks(tmp_path):
    requests = [LoglikelihoodRequest("ctx", f" {i}") for i in range(1200)]
    results = [LoglikelihoodResult(-float(i), False, 1) for i in range(1200)]
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put_many("arm", "loglikelihood", requests, results)
        assert cache.get_many("arm", "loglikelihood", requests) == results


def test_cache_uses_wal_mode(tmp_path):
    with ResponseCache(tmp_path / "c.sqlite"):
        pass
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unreadable_cache_file_names_the_file_and_says_to_delete_it(tmp_path):
    path = tmp_path / "responses.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(CacheError, match=r"responses\.sqlite.*delete"):
        ResponseCache(path)


def test_foreign_database_or_other_schema_version_is_refused(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE things (x)")
    with pytest.raises(CacheError, match=r"foreign\.sqlite: not an fteval response cache"):
        ResponseCache(foreign)
    old = tmp_path / "old.sqlite"
    ResponseCache(old).close()
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(CacheError, match=r"old\.sqlite: response cache schema version '0'"):
        ResponseCache(old)


def _writer(path: str, worker: int, barrier: Any) -> None:
    barrier.wait()
    cache = ResponseCache(path)
    for step in range(40):
        # overlapping keys: both workers write request i with the same (deterministic) value
        requests = [LoglikelihoodRequest("shared", f" {(step * 7 + j) % 100}") for j in range(25)]
        results = [LoglikelihoodResult(-float(r.continuation), False, worker + 1) for r in requests]
        cache.put_many("arm", "loglikelihood", requests, results)
        cache.get_many("arm", "loglikelihood", requests)
        own = [LoglikelihoodRequest(f"worker {worker}", f" {step}")]
        cache.put_many("arm", "loglikelihood", own, [LoglikelihoodResult(-1.0, True, step)])
    cache.close()


def test_two_processes_writing_one_cache_concurrently_do_not_corrupt_it(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_writer, args=(path, w, barrier)) for w in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with ResponseCache(path) as cache:
        assert len(cache) == 100 + 2 * 40
        shared = [LoglikelihoodRequest("shared", f" {i}") for i in range(100)]
        for request, result in zip(shared, cache.get_many("arm", "loglikelihood", shared)):
            assert result is not None and result.logprob == -float(request.continuation)
        for worker in range(2):
            own = [LoglikelihoodRequest(f"worker {worker}", f" {s}") for s in range(40)]
            got = cache.get_many("arm", "loglikelihood", own)
            assert [r.n_tokens for r in got] == list(range(40))


# ---- a real model ----


@pytest.mark.real_model
def test_real_adapter_rewritten_in_place_is_recomputed_while_base_is_reused(tiny_models, tmp_path):
    pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    from fteval.backends.hf import HFBackend

    lora = tmp_path / "lora"
    shutil.copytree(tiny_models["lora"], lora)
    arms = [
        ArmSpec("base", "base", str(tiny_models["base"]), "base"),
        ArmSpec("lora", "adapter", str(lora), "lora"),
    ]
    requests = [
        LoglikelihoodRequest("Message: I cannot log in\nIntent:", " login"),
        LoglikelihoodRequest("Message: charged twice\nIntent:", " billing"),
        LoglikelihoodRequest("short", " x"),
    ]
    path = tmp_path / "responses.sqlite"

    def run() -> tuple[dict[str, list], CachingBackend, list[str]]:
        inner = HFBackend(arms, device="cpu", progress=False)
        served: list[str] = []
        compute = inner.answer_arms

        def spy(kind, work):
            served.extend(work)
            return compute(kind, work)

        inner.answer_arms = spy
        backend = CachingBackend(inner, ResponseCache(path))
        backend.prepare()
        out = {arm.name: backend.loglikelihood(arm.name, requests) for arm in arms}
        backend.close()
        return out, backend, served

    first, _, served = run()
    assert served == ["base", "lora"]
    assert first["base"] != first["lora"]

    weights = lora / "adapter_model.safetensors"
    tensors = load_file(weights)
    save_file({k: v * 3 if "lora_B" in k else v for k, v in tensors.items()}, weights)

    second, backend, served = run()
    assert served == ["lora"]  # the base came from the cache
    assert backend.hits == {"base": 3, "lora": 0}
    assert second["base"] == first["base"]
    for old, new in zip(first["lora"], second["lora"]):
        assert new.logprob != pytest.approx(old.logprob, abs=1e-6)

    moved = tmp_path / "moved-base"
    shutil.copytree(tiny_models["base"], moved)
    arms[:] = [ArmSpec("base", "base", str(moved), "base")]
    third, backend, served = run()
    assert served == [] and third["base"] == first["base"]  # same content, new folder
