"""The one option checker: typed values and ranges, for every option a user names."""

from __future__ import annotations

import math
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fteval._util.options import (
    Choices,
    OptionError,
    Range,
    check_settings,
    coerce,
    parse_bool,
)
from fteval.errors import ConfigError
from fteval.tasks.builtin import catalogue
from fteval.tasks.options import SETTING_RULES

TRUE_WORDS = ["true", "TRUE", " yes ", "Yes", "1", True, 1]
FALSE_WORDS = ["false", "False", "no", " NO", "0", False, 0]


@pytest.mark.parametrize("word", TRUE_WORDS)
def test_true_comes_only_from_true_yes_1(word):
    assert parse_bool(word) is True


@pytest.mark.parametrize("word", FALSE_WORDS)
def test_false_comes_only_from_false_no_0(word):
    assert parse_bool(word) is False


@given(st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.none(), st.lists(st.text())))
def test_nothing_else_is_a_boolean(value):
    documented = {"true", "yes", "1", "false", "no", "0"}
    if isinstance(value, str) and value.strip().lower() in documented:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return
    with pytest.raises(OptionError, match="expected a boolean"):
        parse_bool(value)


def test_ranges_are_checked_after_the_type():
    hint = typing.Annotated[int, Range(ge=1, le=10)]
    assert coerce("3", hint) == 3
    with pytest.raises(OptionError, match="must be >= 1 and <= 10"):
        coerce("0", hint)
    with pytest.raises(OptionError, match="expected an integer"):
        coerce("three", hint)
    choice = typing.Annotated[str, Choices(("a", "b"))]
    with pytest.raises(OptionError, match="must be one of 'a', 'b'"):
        coerce("c", choice)
    optional = typing.Annotated[int, Range(ge=0)] | None
    assert coerce("none", optional) is None
    with pytest.raises(OptionError, match="must be >= 0"):
        coerce("-1", optional)


def test_settings_take_their_defaults_types_and_name_the_bad_one():
    defaults = {"n": 1, "t": 0.5, "flag": False, "mode": "x"}
    out = check_settings("task 'demo'", {"n": "4", "t": "0.25", "flag": "yes"}, defaults)
    assert out == {"n": 4, "t": 0.25, "flag": True, "mode": "x"}
    with pytest.raises(ConfigError, match=r"task 'demo': setting flag='maybe': expected a boolean"):
        check_settings("task 'demo'", {"flag": "maybe"}, defaults)
    with pytest.raises(ConfigError, match=r"task 'demo' has no setting 'nn' \(settings: flag, "):
        check_settings("task 'demo'", {"nn": 1}, defaults)
    with pytest.raises(ConfigError, match="t='nan': expected a finite number"):
        check_settings("task 'demo'", {"t": "nan"}, defaults)


@pytest.mark.parametrize("word", ["true", "yes", "1", "TRUE"])
def test_allow_unsafe_opts_in_only_with_a_true_word(word):
    entry = catalogue()["humaneval"]
    assert (
        check_settings("humaneval", {"allow_unsafe": word}, entry.settings)["allow_unsafe"] is True
    )


@pytest.mark.parametrize(
    "word", ["false", "maybe", "on", "off", "", " ", "2", "none", "null", "t", "y", "no way"]
)
def test_allow_unsafe_is_false_or_refused_for_every_other_word(word):
    entry = catalogue()["humaneval"]
    try:
        parsed = check_settings("humaneval", {"allow_unsafe": word}, entry.settings)
    except ConfigError as error:
        assert "allow_unsafe" in str(error) and "expected a boolean" in str(error)
        return
    assert parsed["allow_unsafe"] is False and word.strip().lower() in ("false", "no", "0")


# every built-in's settings, fuzzed: typed and in range, or refused naming the setting
_SETTINGS = sorted(
    (name, key) for name, entry in catalogue().items() for key in entry.settings
)  # fmt: skip
VALUES = st.one_of(
    st.integers(-(10**13), 10**13).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "-inf", "1e400", "true", "no", "maybe", "reference", "base"]),
    st.text(max_size=6),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)


@pytest.mark.skipif(not _SETTINGS, reason="no built-in declares settings")
@given(which=st.sampled_from(_SETTINGS or [("", "")]), value=VALUES)
def test_task_settings_are_typed_and_in_range_or_refused_by_name(which, value):
    name, key = which
    defaults = catalogue()[name].settings
    try:
        parsed = check_settings(name, {key: value}, defaults, SETTING_RULES)[key]
    except ConfigError as error:
        assert key in str(error) and name in str(error)
        return
    assert type(parsed) is type(defaults[key])
    if isinstance(parsed, float):
        assert math.isfinite(parsed)
    rule = SETTING_RULES.get(key)
    if rule is not None:
        rule.check(parsed)  # raises if the checker let an out-of-range value through
