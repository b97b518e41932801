"""Neutral distractor sentences for the ``long`` perturbation.

They are plain statements about nothing a task is likely to ask: no sentiment, no
support request, no question, no instruction, no answer letter, no number a math
problem could pick up. Long input should test whether a model finds the item in a longer
context, not give it a reason to change its answer. A user's own pool comes from
``long:source=FILE`` (one sentence or paragraph per non-empty line, UTF-8).
"""

from __future__ import annotations

from pathlib import Path

from fteval.errors import ConfigError

DISTRACTORS: tuple[str, ...] = (
    "The river runs east of the old mill before it turns toward the hills.",
    "A line of poplar trees stands along the edge of the field.",
    "The library on the corner keeps its atlases on the lowest shelf.",
    "Most of the houses on the street have green doors.",
    "The morning train usually stops at the small station by the lake.",
    "Gulls gather on the harbour wall when the tide goes out.",
    "The town hall clock was repaired in the spring.",
    "A narrow path leads from the bridge to the top of the ridge.",
    "The bakery opens early and closes in the middle of the afternoon.",
    "In autumn the leaves in the park turn yellow and then brown.",
    "The museum has a room of old maps and another of pottery.",
    "Fog often covers the valley until the sun rises above the hills.",
    "The market square is paved with grey stones.",
    "A small boat is tied to the wooden pier near the boathouse.",
    "The school building has tall windows facing the courtyard.",
    "Sheep graze on the slopes above the village.",
    "The road to the coast passes through two small towns.",
    "The garden behind the house has a pond and a stone bench.",
    "Snow rarely stays on the ground for long in this region.",
    "The old lighthouse is painted white with a red stripe.",
    "Bicycles are parked in a long row outside the station.",
    "The forest trail is marked with small blue signs.",
    "A weather vane shaped like a rooster sits on the barn roof.",
    "The canal was dug to carry timber to the city.",
    "The café on the square serves tea in tall glasses.",
    "Wild flowers grow along the railway embankment in summer.",
    "The hills to the north are covered with heather.",
    "An iron fence surrounds the old cemetery by the church.",
    "The ferry crosses the bay several times a day in good weather.",
    "The farmhouse kitchen has a large wooden table.",
    "A stone wall runs along the lane between the two farms.",
    "Swallows nest under the eaves of the old post office.",
    "The pier lamps are lit as soon as it gets dark.",
    "The orchard behind the inn is full of apple trees.",
    "A wide staircase leads up to the gallery on the first floor.",
    "The river is shallow enough to wade across in late summer.",
    "Most visitors arrive by the coastal road.",
    "The chapel on the hill can be seen from the harbour.",
    "The fields beyond the village are divided by hedges.",
    "The museum garden has a sundial in the middle of the lawn.",
)


def read_distractors(path: str | Path) -> tuple[str, ...]:
    """The non-empty lines of a UTF-8 text file, stripped (a user's distractor pool).

    Raises:
        ConfigError: the file is missing, not UTF-8, or has no non-empty line.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"long:source={path}: file not found") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"long:source={path}: not UTF-8 text ({error})") from None
    lines = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not lines:
        raise ConfigError(f"long:source={path}: no non-empty line to use as distractor text")
    return lines
