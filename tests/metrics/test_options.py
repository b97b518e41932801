"""Metric options are converted to their declared types by one rule, or refused."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from fteval.metrics import make_metrics
from fteval.metrics.options import OptionError, coerce
from fteval.metrics.registry import parse_metric_flag


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("Yes", True), ("1", True), (" NO ", False), ("false", False),
     ("0", False), (True, True), (0, False), (1, True)],
)  # fmt: skip
def test_booleans_take_true_false_yes_no_1_0(value, expected):
    assert coerce(value, bool) is expected


@pytest.mark.parametrize("value", ["maybe", "on", "", "2", 2, 0.5, None, ["true"]])
def test_anything_else_is_not_a_boolean(value):
    with pytest.raises(OptionError, match="expected a boolean"):
        coerce(value, bool)


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [("3", int, 3), (4.0, int, 4), ("0.25", float, 0.25), (2, float, 2.0),
     ("none", float | None, None), (None, int | None, None), ("none", str | None, "none"),
     ("x", str | Sequence[str] | None, "x"), (["a", "b"], str | Sequence[str] | None, ["a", "b"])],
)  # fmt: skip
def test_numbers_text_and_null_follow_the_declared_type(value, hint, expected):
    assert coerce(value, hint) == expected


@pytest.mark.parametrize(
    ("value", "hint"),
    [("2.5", int), (2.5, int), (True, int), ("nan", float), ("1e400", float), (False, float),
     (3, str), ([1], str | Sequence[str] | None), ("x", int | None)],
)  # fmt: skip
def test_values_of_the_wrong_type_are_refused(value, hint):
    with pytest.raises(OptionError):
        coerce(value, hint)


def test_command_line_values_stay_text_until_the_metric_types_them():
    spec = parse_metric_flag("exact_match:ignore_regex=1,lowercase=yes")
    assert spec == {"name": "exact_match", "ignore_regex": "1", "lowercase": "yes"}
    metric = make_metrics([spec])[0]
    assert metric.ignore_regex == ("1",) and metric.lowercase is True


def test_task_file_values_follow_the_same_rule():
    metric = make_metrics([{"name": "exact_match", "normalize_whitespace": "no"}])[0]
    assert metric.normalize_whitespace is False
    with pytest.raises(ValueError, match=r"option lowercase=2: expected a boolean"):
        make_metrics([{"name": "exact_match", "lowercase": 2}])
