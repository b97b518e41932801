"""The run's pre-flight of what is not a file: Ray addresses, extras, devices."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import threading
import time

import pytest

from fteval._util.model_refs import check_device
from fteval.errors import ConfigError, MissingDependencyError
from fteval.pipeline import preflight


def _without(monkeypatch: pytest.MonkeyPatch, *missing: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args, **kwargs):
        return None if name in missing else real(name, *args, **kwargs)

    monkeypatch.setattr(preflight.importlib.util, "find_spec", find_spec)


def test_ray_missing_is_exit_2_with_the_install_line(monkeypatch):
    _without(monkeypatch, "ray")
    with pytest.raises(MissingDependencyError, match=r"pip install 'fteval\[ray\]'"):
        preflight.check_ray("local")


def test_the_ray_client_missing_is_named_with_its_install_line(monkeypatch):
    _without(monkeypatch, "grpc")
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed")
    with pytest.raises(MissingDependencyError, match=r"pip install 'ray\[client\]'"):
        preflight.check_ray("ray://127.0.0.1:10001")


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never says a word (not Ray)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in accepted:
        connection.close()


def test_an_address_that_is_not_ray_fails_well_within_30_seconds(silent_server):
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed")
    began = time.monotonic()
    with pytest.raises(ConfigError, match="accepts connections but does not answer as a Ray"):
        preflight.check_ray(f"127.0.0.1:{silent_server}")
    assert time.monotonic() - began < 2 * preflight.RAY_CONNECT_TIMEOUT_S + 2 < 30
    began = time.monotonic()
    with pytest.raises(ConfigError, match=r"--ray 127\.0\.0\.1:1: cannot connect"):
        preflight.check_ray("127.0.0.1:1")
    assert time.monotonic() - began < 30


class _Cuda:
    def __init__(self, available: bool, count: int) -> None:
        self.available, self.count = available, count

    def is_available(self) -> bool:
        return self.available

    def device_count(self) -> int:
        return self.count


@pytest.mark.parametrize(
    ("device", "available", "count", "message"),
    [
        ("cuda", False, 0, "--device cuda: CUDA is not available"),
        ("cuda:1", True, 1, "this machine has 1 CUDA device"),
        ("gpu", True, 1, "expected cpu, cuda, cuda:N or mps"),
    ],
)
def test_devices_that_are_not_there_are_refused(monkeypatch, device, available, count, message):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch, "cuda", _Cuda(available, count))
    with pytest.raises(ConfigError, match=message):
        check_device(device)


def test_present_devices_pass(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch, "cuda", _Cuda(True, 2))
    for device in ("auto", "cpu", "cuda", "cuda:1"):
        check_device(device)
