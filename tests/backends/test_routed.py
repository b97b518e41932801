"""Arms from several backends in one run: every call about an arm reaches its own backend."""

from __future__ import annotations

import pytest

from fteval.backends.fake import FakeBackend
from fteval.backends.routed import RoutedBackend
from fteval.errors import BackendError
from fteval.records import ArmSpec, LoglikelihoodRequest

BASE = ArmSpec("base", "base", "b", "base")
LORA = ArmSpec("lora", "adapter", "a", "lora")
PROD = ArmSpec("prod", "form", "openai:prod", "prod", form="openai:prod", source="lora")
REQUESTS = [LoglikelihoodRequest("Message: hi\nIntent:", " login")]


def test_each_arm_is_answered_by_its_own_backend_in_run_order():
    local, served = FakeBackend([BASE, LORA]), FakeBackend([PROD], skill={"prod": 1.0})
    routed = RoutedBackend([local, served], [BASE, LORA, PROD])
    assert [a.name for a in routed.arms] == ["base", "lora", "prod"]
    assert routed.name == "fake"
    answers = routed.answer_arms("loglikelihood", {"lora": REQUESTS, "prod": REQUESTS})
    assert answers["prod"] == served.loglikelihood("prod", REQUESTS)
    assert answers["lora"] == local.loglikelihood("lora", REQUESTS)
    assert {arm for _, arm, _ in served.calls} == {"prod"}
    assert {arm for _, arm, _ in local.calls} == {"lora"}
    assert routed.arm_groups() == [("base",), ("lora",), ("prod",)]
    assert routed.identity("prod") == served.identity("prod")
    with pytest.raises(KeyError, match="no arm named 'nope'"):
        routed.identity("nope")


def test_an_arm_served_twice_or_by_none_is_refused():
    with pytest.raises(BackendError, match="served by two backends"):
        RoutedBackend([FakeBackend([BASE, LORA]), FakeBackend([LORA])])
    with pytest.raises(BackendError, match=r"no backend serves arms \['prod'\]"):
        RoutedBackend([FakeBackend([BASE, LORA])], [BASE, LORA, PROD])
