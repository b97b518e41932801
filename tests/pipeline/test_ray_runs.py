"""Runs on a local Ray cluster of 2 workers on loopback: the run directory equals a
single-process run's, also when a worker is killed mid-run and when a run resumes."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from fteval.config import build_config
from fteval.pipeline.distributed import RayPool
from fteval.pipeline.run import build_backend, execute
from tests.conftest import intent_rows, write_task

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the module (starting one takes seconds)."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="ERROR",
        log_to_driver=False,
    )
    yield
    ray.shutdown()


def config_for(task: Path, out: Path, **extra):
    return build_config(
        {
            "base": "b",
            "adapters": {"lora": "a"},
            "full": "f",
            "tasks": [str(task)],
            "backend": "fake",
            "out": str(out),
            "cache_dir": "off",
            "flush_every": 16,
            "bootstrap_resamples": 200,
            "permutations": 200,
            **extra,
        }
    )


MEASURED = ("eval_wall_s", "tokens_per_s", "peak_memory_bytes", "memory_kind", "note")


def _unmeasured(path: Path) -> str:
    """results.json without what each run measures of itself (the cost section's timings)."""
    text = path.read_text()
    results = json.loads(text)
    for row in results.get("cost", []):
        for key in MEASURED:
            row.pop(key, None)
    return json.dumps(results, indent=2, sort_keys=True)


def same_run(ours: Path, theirs: Path) -> None:
    assert (ours / "samples.jsonl").read_bytes() == (theirs / "samples.jsonl").read_bytes()
    assert _unmeasured(ours / "results.json") == _unmeasured(theirs / "results.json")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray-reference")
    task = write_task(root, intent_rows(48))
    execute(config_for(task, root / "single"), progress=False)
    return task, root / "single"


def test_a_ray_run_writes_the_single_process_run_directory(cluster, reference, tmp_path):
    task, single = reference
    config = config_for(task, tmp_path / "ray", ray="local", ray_workers=2)
    backend = build_backend(config, progress=False)
    assert isinstance(backend, RayPool)
    execute(config, backend=backend, progress=False)
    same_run(tmp_path / "ray", single)
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["ray"] == "local"


def test_a_worker_killed_mid_run_has_its_shard_rerun(cluster, reference, tmp_path, monkeypatch):
    task, single = reference
    monkeypatch.setenv("FTEVAL_FAKE_DELAY_S", "0.002")  # reaches the workers
    config = config_for(task, tmp_path / "ray", ray="local", ray_workers=2)
    backend = build_backend(config, progress=False)
    samples = tmp_path / "ray" / "samples.jsonl"
    killed: list[int] = []

    def kill_one_worker_midway() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = samples.read_text().count("\n") if samples.exists() else 0
            if lines >= 16:
                pid = backend.worker_pids()[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(lines)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_worker_midway)
    killer.start()
    execute(config, backend=backend, progress=False)
    killer.join()
    assert killed and killed[0] < 3 * 48, "the worker was killed before the run ended"
    assert backend.replacements == 1
    same_run(tmp_path / "ray", single)


def test_a_run_cut_short_in_one_process_resumes_on_ray(cluster, reference, tmp_path):
    task, single = reference
    partial = tmp_path / "partial"
    partial.mkdir()
    lines = (single / "samples.jsonl").read_text().splitlines(keepends=True)
    (partial / "samples.jsonl").write_text("".join(lines[:100]))
    manifest = json.loads((single / "manifest.json").read_text())
    manifest["status"] = "running"
    (partial / "manifest.json").write_text(json.dumps(manifest))
    execute(config_for(task, partial, ray="local", ray_workers=2), progress=False)
    same_run(partial, single)
    assert json.loads((partial / "manifest.json").read_text())["resumed_at"]


def test_the_openai_backend_is_refused_on_ray(tmp_path, task_file):
    from fteval.errors import ConfigError

    config = build_config(
        {
            "base": "openai:m",
            "tasks": [str(task_file)],
            "backend": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "ray": "local",
        }
    )
    with pytest.raises(ConfigError, match="raise --concurrency"):
        build_backend(config, progress=False)


def test_a_ray_address_that_is_not_one_is_refused_before_anything_starts(task_file):
    from fteval.errors import ConfigError

    with pytest.raises(ConfigError, match="cluster address host:port"):
        build_config({"base": "b", "tasks": [str(task_file)], "ray": "run.yaml"})
    assert build_config({"base": "b", "tasks": [str(task_file)], "ray": "10.0.0.1:6379"}).ray


def test_a_live_clusters_address_passes_the_preflight_and_a_wrong_port_does_not(cluster):
    from fteval.errors import ConfigError
    from fteval.pipeline.preflight import check_ray

    address = ray.get_runtime_context().gcs_address
    check_ray(address)  # Ray's GCS answers the gRPC question
    host, _, port = address.rpartition(":")
    with pytest.raises(ConfigError, match="--ray"):
        check_ray(f"{host}:{int(port) + 1 if int(port) < 65535 else 1}")
