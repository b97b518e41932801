"""Selecting work: values per task (names, groups, globs), limits drawn at random with a
seed, and glob task names."""

from __future__ import annotations

import pytest

from fteval.errors import ConfigError
from fteval.records import Example
from fteval.tasks.registry import expand_task_globs
from fteval.tasks.selection import PerTask, Selection, parse_per_task

SUBJECT = ("mmlu_anatomy", "mmlu_stem", "mmlu")  # name, inner group, outer group


def test_an_exact_name_beats_its_groups_and_any_glob():
    table = PerTask.of({"*": 5, "mmlu": 4, "mmlu_stem": 3, "mmlu_anat*": 2, "mmlu_anatomy": 1}, "f")
    assert table.value(SUBJECT) == 1
    assert PerTask.of({"mmlu": 4, "mmlu_stem": 3}, "f").value(SUBJECT) == 3  # inner group
    assert PerTask.of({"mmlu": 4, "mmlu_*": 2}, "f").value(SUBJECT) == 4
    assert PerTask.of({"*": 5}, "f").value(("sst2",)) == 5
    assert PerTask.of(5, "f").value(("anything",)) == 5
    assert PerTask.of(None, "f").value(SUBJECT) is None


def test_the_glob_with_most_literal_characters_wins_and_equal_ones_must_agree():
    assert PerTask.of({"*": 9, "mmlu_*": 2, "mmlu_anat*": 1}, "f").value(SUBJECT) == 1
    assert PerTask.of({"*": 9, "mmlu_*": 2}, "f").value(("sst2",)) == 9
    assert PerTask.of({"mmlu_a*": 2, "mmlu_*y": 2}, "f").value(SUBJECT) == 2  # they agree
    with pytest.raises(ConfigError, match=r"--limit mmlu_a\*=2 and mmlu_\*y=3 both match"):
        PerTask.of({"mmlu_a*": 2, "mmlu_*y": 3}, "--limit").value(SUBJECT)


def test_keys_that_match_no_task_are_reported():
    table = PerTask.of({"*": 1, "mmlu_*": 2, "sst2": 3, "nosuch": 4, "x*": 5}, "f")
    assert table.unmatched([SUBJECT, ("sst2",)]) == ["nosuch", "x*"]


def test_flag_values_parse_to_a_number_or_a_table():
    assert parse_per_task([], "--limit") is None
    assert parse_per_task(["5"], "--limit") == 5
    assert parse_per_task(["5", "mmlu_*=2", "my.yaml=3"], "--limit") == {
        "*": 5,
        "mmlu_*": 2,
        "my.yaml": 3,
    }
    for bad in ("five", "mmlu=", "=3", "mmlu=1.5", "10^9"):
        with pytest.raises(ConfigError, match="--limit expects N or TASK=N"):
            parse_per_task([bad], "--limit")
    with pytest.raises(ConfigError, match="task 'mmlu' is given twice"):
        parse_per_task(["mmlu=1", "mmlu=2"], "--limit")
    with pytest.raises(ConfigError, match="a bare number is given twice"):
        parse_per_task(["1", "2"], "--num-fewshot")


def _examples(n: int) -> list[Example]:
    return [Example(f"id{i}", f"p{i}", "a") for i in range(n)]


def test_first_sampling_keeps_the_first_items():
    kept = Selection(3).apply("t", _examples(10))
    assert [e.example_id for e in kept] == ["id0", "id1", "id2"]
    assert len(Selection(None).apply("t", _examples(10))) == 10
    assert len(Selection(50).apply("t", _examples(10))) == 10


def test_random_sampling_is_seeded_nested_and_in_task_order():
    items = _examples(200)
    ids = [e.example_id for e in items]
    pick = [e.example_id for e in Selection(20, "random", 7).apply("t", items)]
    assert pick == [e.example_id for e in Selection(20, "random", 7).apply("t", items)]
    assert pick != ids[:20] and len(set(pick)) == 20
    assert pick == sorted(pick, key=ids.index)  # the task's own order
    assert pick != [e.example_id for e in Selection(20, "random", 8).apply("t", items)]
    assert pick != [e.example_id for e in Selection(20, "random", 7).apply("u", items)]
    larger = {e.example_id for e in Selection(40, "random", 7).apply("t", items)}
    assert set(pick) <= larger
    # an item's fate depends on its id, not on which other items the task holds
    reordered = list(reversed(items))
    assert {e.example_id for e in Selection(20, "random", 7).apply("t", reordered)} == set(pick)


def test_a_selection_records_what_it_used():
    assert Selection(5, "random", 3).record(100) == {
        "limit": 5,
        "n_available": 100,
        "limit_sampling": "random",
        "limit_seed": 3,
    }
    assert Selection(None).record(7) == {"limit": None, "n_available": 7}
    with pytest.raises(ConfigError, match="limit sampling"):
        Selection(5, "middle")  # type: ignore[arg-type]


def test_task_globs_expand_to_builtins_once_and_refuse_to_match_nothing(tmp_path):
    assert expand_task_globs(["mmlu_*"]) == [
        "mmlu_humanities",
        "mmlu_other",
        "mmlu_social_sciences",
        "mmlu_stem",
    ]
    assert expand_task_globs(["mmlu*"]) == ["mmlu"]
    high_school = expand_task_globs(["mmlu_high_school_*"])
    assert len(high_school) == 14 and "mmlu_high_school_physics" in high_school
    assert expand_task_globs(["trec*", "sst2", "trec"]) == ["trec", "trec50", "sst2"]
    with pytest.raises(ConfigError, match=r"task 'mmlx_\*': the glob matches no built-in task"):
        expand_task_globs(["mmlx_*"])
    (tmp_path / "a.yaml").write_text("x")
    (tmp_path / "b.yaml").write_text("x")
    assert expand_task_globs([str(tmp_path / "*.yaml")]) == [
        str(tmp_path / "a.yaml"),
        str(tmp_path / "b.yaml"),
    ]
    with pytest.raises(ConfigError, match="the glob matches no task file"):
        expand_task_globs([str(tmp_path / "*_none.yaml")])
