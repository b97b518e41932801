"""Selecting work as lm-evaluation-harness users do: values per task, and limited items.

``--limit`` and ``--num-fewshot`` take ``N`` (every task) or ``TASK=N``, where TASK is a
task's name, one of its groups (``mmlu``, ``mmlu_stem``), the name or file it was asked
by, or a glob over those (``mmlu_*``). A bare ``N`` is the glob ``*``. The most specific
key wins: an exact name (the task's own, then its groups from the innermost, then the
name it was asked by), else the glob with the most literal characters; two equally
specific globs that disagree are an error, as is a key that matches no task of the run.

A limit keeps the first N items (``first``) or N items drawn at random (``random``):
the N whose sha256 of (seed, task, example id) is smallest, in the task's order. So the
same seed gives the same items, whatever else the run holds, and a larger N keeps every
item of a smaller one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

from fteval.errors import ConfigError
from fteval.records import Example

LimitSampling = Literal["first", "random"]
SAMPLINGS: tuple[str, ...] = ("first", "random")
EVERY_TASK = "*"
_GLOB = frozenset("*?[")


def is_glob(text: str) -> bool:
    """Whether ``text`` holds a glob character (``*``, ``?``, ``[``)."""
    return any(char in _GLOB for char in text)


def _literal_chars(pattern: str) -> int:
    return sum(1 for char in pattern if char not in _GLOB and char != "]")


@dataclass(frozen=True)
class PerTask:
    """One integer per task, by task name, group, the name asked by, or a glob of those.

    Attributes:
        table: pattern -> value (``*`` stands for every task).
        flag: the option's name, for messages (``--limit``).
    """

    table: Mapping[str, int] = field(default_factory=dict)
    flag: str = "value"

    @classmethod
    def of(cls, value: int | Mapping[str, int] | None, flag: str) -> PerTask:
        """A bare number (every task), a mapping of patterns, or None (no value)."""
        if value is None:
            return cls({}, flag)
        if isinstance(value, int):
            return cls({EVERY_TASK: value}, flag)
        return cls(dict(value), flag)

    def value(self, names: Sequence[str]) -> int | None:
        """The value for a task known by ``names`` (most specific first), or None.

        Raises:
            ConfigError: two equally specific globs match with different values.
        """
        for name in names:
            if name in self.table and not is_glob(name):
                return self.table[name]
        matches = [
            (_literal_chars(key), key)
            for key in self.table
            if is_glob(key) and any(fnmatchcase(name, key) for name in names)
        ]
        if not matches:
            return None
        best = max(count for count, _ in matches)
        keys = [key for count, key in matches if count == best]
        values = {self.table[key] for key in keys}
        if len(values) > 1:
            first, second = keys[:2]
            raise ConfigError(
                f"{self.flag} {first}={self.table[first]} and {second}={self.table[second]} "
                f"both match task {names[0]!r} equally; give its name: {self.flag} "
                f"{names[0]}=N"
            )
        return self.table[keys[0]]

    def unmatched(self, known: Iterable[Sequence[str]]) -> list[str]:
        """Keys that match none of the tasks (each known by a sequence of names)."""
        everything = [name for names in known for name in names]
        return [
            key
            for key in self.table
            if key != EVERY_TASK
            and not any(
                (fnmatchcase(name, key) if is_glob(key) else name == key) for name in everything
            )
        ]


def parse_per_task(values: Sequence[str], flag: str) -> int | dict[str, int] | None:
    """``["5"]`` -> 5; ``["5", "mmlu_*=2"]`` -> ``{"*": 5, "mmlu_*": 2}`` (flag values).

    Ranges are checked with the config (``check_per_task``), as for a config file.

    Raises:
        ConfigError: a value that is not ``N`` or ``TASK=N`` with a whole number N, or a
            task given twice.
    """
    table: dict[str, int] = {}
    for value in values:
        key, sep, number = value.rpartition("=")
        key = key.strip() if sep else EVERY_TASK
        try:
            count = int(number.strip())
        except ValueError:
            count = None
        if count is None or not key:
            raise ConfigError(f"{flag} expects N or TASK=N with a whole number N, got {value!r}")
        if key in table:
            what = "a bare number" if key == EVERY_TASK else f"task {key!r}"
            raise ConfigError(f"{flag}: {what} is given twice")
        table[key] = count
    if not table:
        return None
    if list(table) == [EVERY_TASK]:
        return table[EVERY_TASK]
    return table


def check_per_task(value: Any, what: str, *, minimum: int) -> int | dict[str, int] | None:
    """A config value of a per-task key: None, an integer or a mapping of task -> integer,
    every integer >= ``minimum``.

    Raises:
        ValueError: naming the key (``what``), the task and the value.
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        for key, count in value.items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"{what}: a task name must be non-empty text, got {key!r}")
            _check_count(count, f"{what}[{key!r}]", minimum)
        return {str(k): int(v) for k, v in value.items()}
    _check_count(value, what, minimum)
    return int(value)


def _check_count(value: Any, what: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be a whole number >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class Selection:
    """Which items of a task are evaluated.

    Attributes:
        limit: at most this many items (None: all).
        sampling: ``first`` (file order) or ``random`` (seeded, see the module docstring).
        seed: the seed of ``random`` sampling.
    """

    limit: int | None = None
    sampling: LimitSampling = "first"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise ConfigError(f"limit sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"a limit must be >= 1, got {self.limit}")

    def apply(self, task_name: str, examples: Sequence[Example]) -> tuple[Example, ...]:
        """The selected examples, in their original order."""
        if self.limit is None or self.limit >= len(examples):
            return tuple(examples)
        if self.sampling == "first":
            return tuple(examples[: self.limit])
        ranks = sorted(
            range(len(examples)),
            key=lambda i: (self._rank(task_name, examples[i].example_id), i),
        )
        keep = sorted(ranks[: self.limit])
        return tuple(examples[i] for i in keep)

    def _rank(self, task_name: str, example_id: str) -> str:
        key = f"{self.seed}\x00{task_name}\x00{example_id}".encode()
        return hashlib.sha256(key).hexdigest()

    def record(self, available: int) -> dict[str, Any]:
        """The manifest's record of the selection (``available``: items before it)."""
        out: dict[str, Any] = {"limit": self.limit, "n_available": available}
        if self.limit is not None:
            out["limit_sampling"] = self.sampling
            if self.sampling == "random":
                out["limit_seed"] = self.seed
        return out


def candidate_names(name: str, groups: Sequence[str], asked_as: str = "") -> tuple[str, ...]:
    """The names a per-task value may use for a task, most specific first: its own name,
    its groups from the innermost, the name or file it was asked by."""
    names = [name, *reversed(groups)]
    if asked_as:
        names.append(asked_as)
    return tuple(dict.fromkeys(names))
