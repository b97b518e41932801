"""Reaching the Hugging Face Hub: a load that cannot reach it fails within seconds.

Without network, ``huggingface_hub`` retries each request with back-off: half a minute
before an error. Before a Hub load, ``hub_access`` opens one connection to the Hub's host
(``HF_ENDPOINT``, with a verified TLS handshake for https; or a plain connection to the
HTTPS proxy when one is set) for at most ``PROBE_TIMEOUT_S``; when that fails, the load
runs in the libraries' own offline mode (``HF_HUB_OFFLINE``): a copy in the local cache
still loads, anything else fails at once and the caller's message says how to use a
local copy instead.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 1.5
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = ("1", "on", "yes", "true")
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@dataclass(frozen=True)
class HubAccess:
    """How a Hub load is being made.

    Attributes:
        switched_off: the user set ``HF_HUB_OFFLINE`` (or ``HF_DATASETS_OFFLINE``).
        unreachable: the probe could not connect to ``target`` (``host:port``).
        target: what was probed.
    """

    switched_off: bool
    unreachable: bool
    target: str

    def why_offline(self) -> str | None:
        """Why the load ran offline, in words (None: it ran online)."""
        if self.switched_off:
            return "the Hub is switched off (HF_HUB_OFFLINE)"
        if self.unreachable:
            return f"no connection to {self.target} within {PROBE_TIMEOUT_S} s; no network?"
        return None


@contextmanager
def hub_access() -> Iterator[HubAccess]:
    """Run the enclosed Hub load online when the Hub answers, else in offline mode."""
    switched_off = _env_true("HF_HUB_OFFLINE") or _env_true("HF_DATASETS_OFFLINE")
    host, port, tls = probe_target()
    unreachable = not switched_off and not reachable(host, port, tls=tls)
    access = HubAccess(switched_off, unreachable, f"{host}:{port}")
    if not unreachable:
        yield access
        return
    with _offline_mode():
        yield access


def probe_target() -> tuple[str, int, bool]:
    """(host, port, whether to shake hands in TLS) of the first hop of a Hub request:
    the proxy when one is set (a plain connection), else the endpoint."""
    for variable in _PROXY_VARIABLES:
        proxy = os.environ.get(variable)
        if proxy:
            host, port, _ = _host_port(proxy if "://" in proxy else f"http://{proxy}")
            return host, port, False
    return _host_port(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)


def _host_port(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a malformed port: the library will say so when it connects
        port = None
    tls = parts.scheme != "http"
    return parts.hostname or "huggingface.co", port or (443 if tls else 80), tls


@lru_cache(maxsize=8)
def reachable(
    host: str, port: int, *, tls: bool = True, timeout_s: float = PROBE_TIMEOUT_S
) -> bool:
    """Whether ``host:port`` answers within ``timeout_s`` seconds, name resolution
    included: a TCP connection, then (``tls``) a verified TLS handshake, so a network that
    accepts every connection but cannot reach the Hub counts as unreachable. The probe
    runs in a thread that is not waited for longer."""
    outcome: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s) as sock:
                if tls:
                    context = ssl.create_default_context()
                    with context.wrap_socket(sock, server_hostname=host):
                        pass
                outcome.append(True)
        except (OSError, ValueError):  # ssl.SSLError is an OSError
            outcome.append(False)

    thread = threading.Thread(target=connect, name="fteval-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(outcome and outcome[0])


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


@contextmanager
def _offline_mode() -> Iterator[None]:
    """The Hub libraries' offline switches on, for the enclosed calls only."""
    switches: list[tuple[Any, str]] = []
    for module_name, attributes in (
        ("huggingface_hub.constants", ("HF_HUB_OFFLINE",)),
        ("datasets.config", ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")),
    ):
        module = _imported(module_name)
        switches += [(module, a) for a in attributes if module is not None and hasattr(module, a)]
    saved = [(module, name, getattr(module, name)) for module, name in switches]
    saved_env = os.environ.get("HF_HUB_OFFLINE")
    try:
        for module, name in switches:
            setattr(module, name, True)
        os.environ["HF_HUB_OFFLINE"] = "1"
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env


def _imported(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None
