"""AlpacaEval-style judged win rate: the AlpacaEval set's 805 instructions.

Each arm answers every instruction (greedy, at most 512 tokens by default), prompted::

    ### Instruction:
    {instruction}

    ### Response:

(or, with ``--task-option alpaca_eval:chat_template=true``, the instruction as one user
turn of the model's chat template). A judge model named with ``--judge`` then compares
each answer with the opponent's, in both orders, by the log-likelihood of the verdict
tokens (``pipeline.judge``); results hold ``win_rate`` and ``lc_win_rate`` per arm with
paired comparisons, and the ``judge`` section (``compare.judged``). Settings:
``opponent`` (``reference``: the set's reference answers, text-davinci-003's; or
``base``: the base arm's answers), ``max_new_tokens`` (512), ``chat_template`` (false).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from fteval.data.readers import Row, read_rows
from fteval.tasks.builtin._base import (
    Builtin,
    HubSource,
    Loaded,
    builtin_source,
    check_settings,
    hash_files,
    register,
    shots_for,
)
from fteval.tasks.loader import build_task
from fteval.tasks.options import TaskOptions
from fteval.tasks.spec import TaskSpec
from fteval.tasks.task import Task

# the set is a loading script on the Hub, which datasets >= 4 no longer runs; the Hub's
# Parquet conversion of it loads everywhere
HUB = HubSource("tatsu-lab/alpaca_eval", "alpaca_eval", "refs/convert/parquet")
FORMATS = (
    "the AlpacaEval set as JSON or JSON Lines (instruction, output, generator, dataset), or "
    "the Hub's Parquet/save_to_disk copy of tatsu-lab/alpaca_eval"
)
SETTINGS = {"opponent": "reference", "max_new_tokens": 512, "chat_template": False}
TEMPLATE = "### Instruction:\n{instruction}\n\n### Response:\n"


def _original(path: Path, splits: Sequence[str]) -> Loaded | None:
    if not (path.is_file() and path.suffix in (".json", ".jsonl")):
        return None
    rows = [_row(r) for r in read_rows(path)]
    return Loaded({"eval": rows}, {"eval": str(path)}, hash_files([path]))


def _row(row: Row) -> Row:
    return Row(row.number, {**row.fields, "id": str(row.number - 1)})


def _hub(source: str, row: Row, names: Mapping[str, list[str]]) -> Row:
    return _row(row)


def load_alpaca_eval(options: TaskOptions) -> Task:
    """The judged instruction-following task."""
    settings = check_settings("alpaca_eval", options.settings, SETTINGS)
    source = builtin_source(
        "alpaca_eval", options, {"eval": "eval"}, hub=HUB, formats=FORMATS,
        read_original=_original, convert=_hub,
    )  # fmt: skip
    shots_for("alpaca_eval", options, 0, source, "train")
    spec = TaskSpec(
        name="alpaca_eval",
        type="generate",
        split="eval",
        id_field="id",
        template="{instruction}" if settings["chat_template"] else TEMPLATE,
        reference_field="output",
        stop=["\n### Instruction:"],
        max_new_tokens=settings["max_new_tokens"],
        chat_template=settings["chat_template"],
    )
    task = build_task(
        spec, source, origin="builtin:alpaca_eval", judge={"opponent": settings["opponent"]}
    )
    rows = {str(r.fields["id"]): r for r in source.rows("eval")}
    examples = tuple(
        dataclasses.replace(
            ex, meta={**ex.meta, "instruction": rows[ex.example_id].fields["instruction"]}
        )
        for ex in task.examples
    )
    return dataclasses.replace(task, examples=examples, metrics=())


register(
    Builtin(
        name="alpaca_eval", kind="judged", metrics=("win_rate", "lc_win_rate"),
        scoring="a judge model (--judge) prefers one of two answers by the log-likelihood "
        "of ' 1'/' 2', both orders; ties half",
        default_shots=0, source=f"hf:{HUB.describe()}", formats=FORMATS,
        summary="AlpacaEval-style win rate vs the reference (or base) answers, 805 instructions",
        load=load_alpaca_eval, settings=SETTINGS,
    )
)  # fmt: skip
