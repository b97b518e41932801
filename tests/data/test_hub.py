"""Reaching the Hub: an unreachable or silent host is known within the probe's timeout,
and the libraries' offline switches are on only inside ``hub_access``."""

from __future__ import annotations

import socket
import time

import pytest

from fteval.data import hub


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_closed_port_is_unreachable_and_a_listening_one_reachable_without_tls():
    began = time.monotonic()
    assert not hub.reachable("127.0.0.1", _free_port(), tls=False)
    assert time.monotonic() - began < 2
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert hub.reachable("127.0.0.1", server.getsockname()[1], tls=False)


def test_a_host_that_accepts_but_never_shakes_hands_is_given_up_after_the_timeout():
    # what a network that intercepts every connection looks like from here
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        began = time.monotonic()
        assert not hub.reachable("127.0.0.1", server.getsockname()[1], timeout_s=0.5)
        assert time.monotonic() - began < 1.5


def test_the_probe_targets_the_proxy_or_the_endpoint(monkeypatch):
    for variable in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example:8443")
    assert hub.probe_target() == ("hub.example", 8443, True)
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.local")
    assert hub.probe_target() == ("mirror.local", 80, False)
    monkeypatch.delenv("HF_ENDPOINT")
    assert hub.probe_target() == ("huggingface.co", 443, True)
    monkeypatch.setenv("https_proxy", "proxy.local:3128")
    assert hub.probe_target() == ("proxy.local", 3128, False)


def test_offline_mode_is_switched_on_only_inside_and_says_why(monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "reachable", lambda host, port, tls: False)
    with hub.hub_access() as access:
        assert constants.HF_HUB_OFFLINE is True
        assert "no connection to" in (access.why_offline() or "")
    assert constants.HF_HUB_OFFLINE is False
    monkeypatch.setattr(hub, "reachable", lambda host, port, tls: True)
    with hub.hub_access() as access:
        assert constants.HF_HUB_OFFLINE is False and access.why_offline() is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with hub.hub_access() as access:
        assert access.why_offline() == "the Hub is switched off (HF_HUB_OFFLINE)"
