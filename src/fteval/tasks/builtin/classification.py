"""SST-2 (GLUE validation) and TREC question classification (TREC-6 and TREC-50).

SST-2 is lm-evaluation-harness's ``sst2`` task::

    {sentence}
    Question: Is this sentence positive or negative?
    Answer:

scored by log P(" negative") vs log P(" positive"). Shots (default 0) come from the
train split with lm-evaluation-harness's default sampler (``random.Random(1234)``, drawn
in example order), when the data has a train split.

TREC has no lm-evaluation-harness task; fteval's prompt is::

    Question: {text}
    Answer type:

with each class written as words (``abbreviation``, ``description``, ``entity``,
``human``, ``location``, ``number`` for TREC-6; ``trec50`` names the 50 fine classes,
e.g. ``NUM:dist`` as ``distance``), scored by log-likelihood. Labels in results keep the
dataset's codes (``NUM``, ``NUM:dist``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fteval.data.readers import Row, decode_text, read_rows
from fteval.errors import InputError
from fteval.tasks.builtin._base import (
    Builtin,
    HubSource,
    Loaded,
    builtin_source,
    check_settings,
    class_name,
    hash_files,
    optional_file,
    register,
    shots_for,
)
from fteval.tasks.loader import build_task
from fteval.tasks.options import TaskOptions
from fteval.tasks.spec import FewShotSpec, TaskSpec
from fteval.tasks.task import Task

LMEVAL_SEED = 1234  # lm-evaluation-harness's default few-shot seed

# ------------------------------------------------------------------------------ SST-2

SST2_HUB = HubSource("nyu-mll/glue", "sst2", "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c")
SST2_FORMATS = (
    "GLUE's SST-2 dev.tsv (a file, or a folder with dev.tsv and train.tsv), "
    "or the Hub's Parquet/save_to_disk copy of glue/sst2"
)


def _sst2_original(path: Path, splits: Sequence[str]) -> Loaded | None:
    files = {"validation": "dev.tsv", "train": "train.tsv"}
    if path.is_file() and path.suffix == ".tsv":
        found = {"validation": path}
    elif path.is_dir() and (path / "dev.tsv").is_file():
        found = {s: f for s in splits if (f := optional_file(path / files[s])) is not None}
    else:
        return None
    rows = {s: _sst2_rows(f) for s, f in found.items()}
    return Loaded(rows, {s: str(f) for s, f in found.items()}, hash_files(found.values()))


def _sst2_rows(path: Path) -> list[Row]:
    rows = read_rows(path)
    return [Row(r.number, {**r.fields, "id": str(r.number - 1)}) for r in rows]


def _sst2_hub(source: str, row: Row, names: Mapping[str, list[str]]) -> Row:
    fields = dict(row.fields)
    fields["id"] = str(fields.get("idx", row.number - 1))
    return Row(row.number, fields)


def load_sst2(options: TaskOptions) -> Task:
    """SST-2 on GLUE's validation split (872 sentences); the train split, when the data
    has it, is the few-shot pool and the contamination check's train split."""
    check_settings("sst2", options.settings, {})
    source = builtin_source(
        "sst2", options, {"validation": "validation", "train": "train"}, hub=SST2_HUB,
        formats=SST2_FORMATS, read_original=_sst2_original, convert=_sst2_hub,
        optional=("train",),
    )  # fmt: skip
    shots = shots_for("sst2", options, 0, source, "train")
    spec = TaskSpec(
        name="sst2",
        split="validation",
        id_field="id",
        template="{sentence}\nQuestion: Is this sentence positive or negative?\nAnswer:",
        choices=["negative", "positive"],
        label_field="label",
        fewshot=FewShotSpec(
            split="train", n=shots, seed=LMEVAL_SEED, sampler="sequential", extra_draw=True
        ),
        metrics=["acc", "f1_macro"],
    )
    return build_task(spec, source, origin="builtin:sst2")


# ------------------------------------------------------------------------------- TREC

TREC_HUB = HubSource("CogComp/trec", None, "refs/convert/parquet")
TREC_FORMATS = (
    "the original TREC_10.label (a file, or a folder with TREC_10.label and "
    "train_5500.label), or the Hub's Parquet/save_to_disk copy of CogComp/trec"
)
COARSE = {
    "ABBR": "abbreviation", "DESC": "description", "ENTY": "entity",
    "HUM": "human", "LOC": "location", "NUM": "number",
}  # fmt: skip
FINE = {
    "ABBR:abb": "abbreviation", "ABBR:exp": "expression abbreviated",
    "DESC:def": "definition", "DESC:desc": "description", "DESC:manner": "manner",
    "DESC:reason": "reason",
    "ENTY:animal": "animal", "ENTY:body": "organ of body", "ENTY:color": "color",
    "ENTY:cremat": "creative work", "ENTY:currency": "currency",
    "ENTY:dismed": "disease or medicine", "ENTY:event": "event", "ENTY:food": "food",
    "ENTY:instru": "musical instrument", "ENTY:lang": "language", "ENTY:letter": "letter",
    "ENTY:other": "other entity", "ENTY:plant": "plant", "ENTY:product": "product",
    "ENTY:religion": "religion", "ENTY:sport": "sport", "ENTY:substance": "substance",
    "ENTY:symbol": "symbol", "ENTY:techmeth": "technique or method",
    "ENTY:termeq": "equivalent term", "ENTY:veh": "vehicle", "ENTY:word": "word",
    "HUM:desc": "description of a person", "HUM:gr": "group or organization",
    "HUM:ind": "individual", "HUM:title": "title of a person",
    "LOC:city": "city", "LOC:country": "country", "LOC:mount": "mountain",
    "LOC:other": "other location", "LOC:state": "state",
    "NUM:code": "code", "NUM:count": "count", "NUM:date": "date", "NUM:dist": "distance",
    "NUM:money": "price", "NUM:ord": "order", "NUM:other": "other number",
    "NUM:perc": "percentage", "NUM:period": "period of time", "NUM:speed": "speed",
    "NUM:temp": "temperature", "NUM:volsize": "size", "NUM:weight": "weight",
}  # fmt: skip


def _trec_original(path: Path, splits: Sequence[str]) -> Loaded | None:
    files = {"test": "TREC_10.label", "train": "train_5500.label"}
    if path.is_file() and path.suffix == ".label":
        found = {"test": path}
    elif path.is_dir() and (path / "TREC_10.label").is_file():
        found = {s: f for s in splits if (f := optional_file(path / files[s])) is not None}
    else:
        return None
    rows = {s: read_trec_label_file(f) for s, f in found.items()}
    return Loaded(rows, {s: str(f) for s, f in found.items()}, hash_files(found.values()))


def read_trec_label_file(path: Path) -> list[Row]:
    """Rows of an original TREC file: ``COARSE:fine question`` per line.

    The files are Latin-1 in places; bytes that are not UTF-8 are read as Latin-1.
    """
    raw = path.read_bytes()
    try:
        text = decode_text(path, raw)
    except InputError:
        text = raw.decode("latin-1")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fine, _, question = line.partition(" ")
        coarse = fine.split(":", 1)[0]
        if fine not in FINE or not question.strip():
            raise InputError(path, number, "label", "expected 'COARSE:fine question'", line)
        fields = {"id": str(number - 1), "text": question.strip(), "coarse": coarse, "fine": fine}
        rows.append(Row(number, fields))
    return rows


def _trec_hub(source: str, row: Row, names: Mapping[str, list[str]]) -> Row:
    fields = dict(row.fields)
    for ours, theirs in (("coarse", "coarse_label"), ("fine", "fine_label")):
        fields[ours] = class_name(source, row, theirs, fields.get(theirs), names)
    fields.setdefault("id", str(row.number - 1))
    return Row(row.number, fields)


def load_trec(options: TaskOptions, *, fine: bool = False) -> Task:
    """TREC-10 test questions (500) with coarse (6) or fine (50) labels; the train split
    (5,452 questions), when the data has it, is the few-shot pool and contamination's."""
    name = "trec50" if fine else "trec"
    check_settings(name, options.settings, {})
    source = builtin_source(
        name, options, {"test": "test", "train": "train"}, hub=TREC_HUB, formats=TREC_FORMATS,
        read_original=_trec_original, convert=_trec_hub, optional=("train",),
    )  # fmt: skip
    shots = shots_for(name, options, 0, source, "train")
    spec = TaskSpec(
        name=name,
        split="test",
        id_field="id",
        template="Question: {text}\nAnswer type:",
        choices=dict(FINE if fine else COARSE),
        label_field="fine" if fine else "coarse",
        fewshot=FewShotSpec(split="train", n=shots, seed=LMEVAL_SEED, sampler="sequential"),
        metrics=["acc", "f1_macro"],
    )
    return build_task(spec, source, origin=f"builtin:{name}")


_CLASSIFY = "log-likelihood of each class name after the prompt"
register(
    Builtin(
        name="sst2", kind="multiple_choice", metrics=("acc", "f1_macro"),
        scoring=_CLASSIFY + " (lm-evaluation-harness sst2)", default_shots=0,
        source=f"hf:{SST2_HUB.describe()}", formats=SST2_FORMATS,
        summary="SST-2 sentiment, GLUE validation (872)", load=load_sst2,
    )
)  # fmt: skip
register(
    Builtin(
        name="trec", kind="multiple_choice", metrics=("acc", "f1_macro"), scoring=_CLASSIFY,
        default_shots=0, source=f"hf:{TREC_HUB.describe()}", formats=TREC_FORMATS,
        summary="TREC-6 question types (500 test questions)", load=load_trec,
    )
)  # fmt: skip
register(
    Builtin(
        name="trec50", kind="multiple_choice", metrics=("acc", "f1_macro"), scoring=_CLASSIFY,
        default_shots=0, source=f"hf:{TREC_HUB.describe()}", formats=TREC_FORMATS,
        summary="TREC-50 fine question types (500 test questions)",
        load=lambda options: load_trec(options, fine=True), data_key="trec",
    )
)  # fmt: skip
