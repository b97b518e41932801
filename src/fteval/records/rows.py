"""Typed rows of results.json: one frozen dataclass per kind of row, one JSON form.

Every row of results.json that a producer writes is a ``Row`` subclass: a frozen
dataclass whose fields are the row's JSON fields, in order. ``Row.to_json`` and
``Row.from_json`` convert it generically (NaN and infinities as ``null``, nested rows as
objects, tuples as lists), and ``json_schema`` derives the row's JSON Schema from the
same field types, so the record, its schema (docs/results.schema.json) and every reader
agree by construction.

Field metadata (``dataclasses.field(metadata=...)``) refines what the type alone says:

* ``"schema"``: one of ``SCHEMA_KINDS`` (``probability``, ``count``, ``name``,
  ``verdict``, ``unit``, ``positive``) — a stricter JSON type than the annotation's;
* ``"required"``: False for a field a reader must not rely on (default True for fields
  without a default value);
* ``"json"``: False for a field kept in memory only (never written);
* ``"doc"``: the field's description in the schema.

``Comparison`` is the one comparison record: every statement "arm A differs from arm B"
in every section is one of these (made by ``fteval.engine``), with the same fields and
meaning wherever it appears.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, Union

SCHEMA_KINDS = ("probability", "count", "name", "verdict", "unit", "positive")
VERDICTS = ("improved", "regressed", "no significant difference", "insufficient data")
UNITS = ("proportion", "points", "native")

R = TypeVar("R", bound="Row")


def meta(
    *,
    schema: str | None = None,
    doc: str = "",
    required: bool | None = None,
    json: bool = True,
    enum: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Field metadata for a ``Row`` field (see the module docstring); ``enum`` lists the
    only values the field may take."""
    if schema is not None and schema not in SCHEMA_KINDS:
        raise ValueError(f"schema must be one of {SCHEMA_KINDS}, got {schema!r}")
    out: dict[str, Any] = {"json": json}
    if enum is not None:
        out["enum"] = list(enum)
    if schema is not None:
        out["schema"] = schema
    if doc:
        out["doc"] = doc
    if required is not None:
        out["required"] = required
    return out


class Row:
    """Base of every typed results row (a frozen dataclass; see the module docstring).

    ``DESCRIPTION`` is the row's description in the schema; a row type with a
    ``SCHEMA_DEF`` name is written once under ``$defs`` and referenced wherever it is
    nested (``Comparison``).
    """

    DESCRIPTION: ClassVar[str] = ""
    SCHEMA_DEF: ClassVar[str] = ""

    def after_decision(self: R) -> R:
        """The row once its comparisons are decided (override for fields that follow from
        verdicts); the row itself by default."""
        return self

    def to_json(self) -> dict[str, Any]:
        """The row as results.json holds it (NaN as None, nested rows as dicts)."""
        out = {}
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            if spec.metadata.get("json", True):
                out[spec.name] = _to_json(getattr(self, spec.name))
        return out

    @classmethod
    def from_json(cls: type[R], data: Mapping[str, Any]) -> R:
        """The row from its JSON form: known fields only, ``null`` floats as NaN."""
        hints = _hints(cls)
        values = {}
        for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
            if spec.name in data and spec.metadata.get("json", True):
                values[spec.name] = _from_json(hints[spec.name], data[spec.name])
        return cls(**values)


def _to_json(value: Any) -> Any:
    if isinstance(value, Row):
        return value.to_json()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        return _to_json(value.item())
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The row type's resolved field annotations (computed once per type)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _optional_inner(tp: Any) -> Any | None:
    """``X`` for ``X | None``, else None."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _from_json(tp: Any, value: Any) -> Any:
    inner = _optional_inner(tp)
    if inner is not None:
        return None if value is None else _from_json(inner, value)
    if tp is float:
        return math.nan if value is None else float(value)
    if isinstance(tp, type) and issubclass(tp, Row):
        return tp.from_json(value)
    origin = typing.get_origin(tp)
    if origin in (tuple, Sequence, list) and isinstance(value, list):
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_from_json(item, v) for v in value)
    if origin in (Mapping, dict) and isinstance(value, Mapping):
        args = typing.get_args(tp)
        item = args[1] if len(args) == 2 else Any
        return {k: _from_json(item, v) for k, v in value.items()}
    return value


# ---- JSON Schema ----

SCHEMA_DEFS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1},
    "count": {"type": "integer", "minimum": 0},
    "number_or_null": {"type": ["number", "null"]},
    "probability_or_null": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "verdict": {"enum": list(VERDICTS)},
}


def json_schema(cls: type[Row]) -> dict[str, Any]:
    """The JSON Schema of one row type (``$ref`` into ``SCHEMA_DEFS`` where it applies).

    Fields without a default are required unless their metadata says otherwise;
    additional properties are allowed (fields may be added to the record contract).
    """
    hints = _hints(cls)
    properties: dict[str, Any] = {}
    required = []
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not spec.metadata.get("json", True):
            continue
        if "enum" in spec.metadata:
            schema: dict[str, Any] = {"enum": spec.metadata["enum"]}
        else:
            schema = _field_schema(hints[spec.name], spec.metadata.get("schema"))
        if spec.metadata.get("doc"):
            schema = {**schema, "description": spec.metadata["doc"]}
        properties[spec.name] = schema
        has_default = not (
            spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        )
        if spec.metadata.get("required", not has_default):
            required.append(spec.name)
    out: dict[str, Any] = {"type": "object"}
    if cls.DESCRIPTION:
        out["description"] = cls.DESCRIPTION
    if required:
        out["required"] = required
    out["properties"] = properties
    return out


def _field_schema(tp: Any, kind: str | None) -> dict[str, Any]:
    inner = _optional_inner(tp)
    nullable = inner is not None
    base = inner if nullable else tp
    if kind == "probability":
        return {"$ref": "#/$defs/probability_or_null"}
    if kind == "count":
        return {"$ref": "#/$defs/count"} if not nullable else {"type": ["integer", "null"]}
    if kind == "name":
        return {"$ref": "#/$defs/name"} if not nullable else {"type": ["string", "null"]}
    if kind == "verdict":
        schema: dict[str, Any] = {"$ref": "#/$defs/verdict"}
        return {"anyOf": [schema, {"type": "null"}]} if nullable else schema
    if kind == "unit":
        return {"enum": list(UNITS)}
    if kind == "positive":
        return {"type": "number", "exclusiveMinimum": 0}
    if base is float:
        return {"$ref": "#/$defs/number_or_null"}
    schema = _type_schema(base)
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _type_schema(tp: Any) -> dict[str, Any]:
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is str:
        return {"type": "string"}
    if tp is float:
        return {"type": ["number", "null"]}
    if isinstance(tp, type) and issubclass(tp, Row):
        return {"$ref": f"#/$defs/{tp.SCHEMA_DEF}"} if tp.SCHEMA_DEF else json_schema(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (tuple, Sequence, list):
        return {"type": "array", "items": _field_schema(args[0], None) if args else {}}
    if origin in (Mapping, dict):
        items = _field_schema(args[1], None) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": items}
    inner = _optional_inner(tp)
    if inner is not None:
        return _field_schema(tp, None)
    return {}


# ---- the rows every section shares ----


@dataclass(frozen=True)
class Arm(Row):
    """One evaluated model variant.

    Attributes:
        name: ``base``, the adapter's name, ``full``, or a scored file's name.
        kind: ``base``, ``adapter``, ``full``, ``model`` or ``form`` (see docs/records.md).
        group: its seed group (``lora`` for ``lora@seed1``).
        form: a form arm's deployment form (docs/deployment.md); empty otherwise.
        source_arm: the arm a form arm derives from; empty otherwise.
        identity: what identifies its outputs (path, weight hashes, dtype, ...).
    """

    name: str = field(metadata=meta(schema="name"))
    kind: str = field(metadata=meta(enum=("base", "adapter", "full", "model", "form")))
    group: str = field(default="", metadata=meta(schema="name"))
    form: str = field(
        default="", metadata=meta(doc="a form arm's deployment form (docs/deployment.md)")
    )
    source_arm: str = field(default="", metadata=meta(doc="the arm a form arm derives from"))
    identity: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The arm as results.json holds it (``form`` and ``source_arm`` on form arms only)."""
        out = super().to_json()
        if self.kind != "form":
            out.pop("form", None)
            out.pop("source_arm", None)
        return out


@dataclass(frozen=True)
class TaskRecord(Row):
    """One task of the run.

    Attributes:
        name: the task's name.
        kind: ``multiple_choice``, ``generate``, ``perplexity``, ``scored`` or ``code``.
        metrics: the metric specs it was scored with (a name, or ``{"name": ..., ...}``).
        labels: the label set of a choice task (empty otherwise).
        n_examples: examples evaluated per arm.
        source: the task file or built-in it came from.
        groups: the task's groups, outermost first.
        judge: who answers against whom, for judged tasks.
        role: ``target`` (what the fine-tune is for) or ``guardrail``.
        primary_metric: the metric the headline verdict is on.
    """

    name: str = field(metadata=meta(schema="name"))
    kind: str = field(metadata=meta(schema="name"))
    metrics: tuple[Any, ...] = field(default=(), metadata=meta(required=True))
    labels: tuple[str, ...] = ()
    n_examples: int = field(default=0, metadata=meta(schema="count", required=True))
    source: str = ""
    groups: tuple[str, ...] = ()
    judge: Mapping[str, Any] | None = None
    role: str = field(default="target", metadata=meta(enum=("target", "guardrail")))
    primary_metric: str = ""


@dataclass(frozen=True)
class Score(Row):
    """One task x arm x metric score with its bootstrap interval.

    Attributes:
        task: task name.
        arm: arm name.
        metric: metric key (``acc``, ``f1_macro``, ``f1[billing]``, ``pass@1``...).
        value: the score in metric units (accuracy in [0, 1]).
        ci_low: lower end of the interval (NaN when none exists).
        ci_high: upper end of the interval (NaN when none exists).
        n: items scored.
        scale: multiply by this to display (100 for proportions).
        unit: ``proportion`` (shown as %), ``points`` (a 0-100 score) or ``native``.
        higher_is_better: the metric's direction.
        signature: how the number was computed.
    """

    DESCRIPTION: ClassVar[str] = "One row per task x arm x metric, with a bootstrap CI."

    task: str = field(metadata=meta(schema="name"))
    arm: str = field(metadata=meta(schema="name"))
    metric: str = field(metadata=meta(schema="name"))
    value: float = field(metadata=meta(required=True))
    ci_low: float = field(default=math.nan, metadata=meta(required=True))
    ci_high: float = field(default=math.nan, metadata=meta(required=True))
    n: int = field(default=0, metadata=meta(schema="count", required=True))
    scale: float = field(default=1.0, metadata=meta(schema="positive", required=True))
    unit: str = field(default="native", metadata=meta(schema="unit"))
    higher_is_better: bool = field(default=True, metadata=meta(required=True))
    signature: str = field(default="", metadata=meta(required=True))


@dataclass(frozen=True)
class Advice(Row):
    """Advice where an adapter trails the full fine-tune by more than the threshold.

    Attributes:
        task: task name.
        metric: metric key.
        arm: the adapter.
        reference_arm: the full fine-tune.
        gap: how far it trails: points (``gap_kind == "points"``) or percent of the
            full fine-tune's value (``"relative"``); negative.
        gap_kind: ``points`` or ``relative``.
        gap_points: ``gap`` when it is in points, else None.
        significant: whether the gap is significant after correction.
        message: the advice in words.
    """

    DESCRIPTION: ClassVar[str] = "Advice: where an adapter trails the full fine-tune."

    task: str = field(metadata=meta(schema="name"))
    metric: str = field(metadata=meta(schema="name"))
    arm: str = field(metadata=meta(schema="name"))
    reference_arm: str = "full"
    gap: float = math.nan
    gap_kind: str = "points"
    gap_points: float | None = None
    significant: bool = False
    message: str = field(default="", metadata=meta(required=True))


@dataclass(frozen=True)
class Comparison(Row):
    """One paired comparison: ``arm`` vs ``reference_arm`` on the same items.

    Made by ``fteval.engine`` wherever fteval says two arms differ: the main table
    (``section == "scores"``), perturbation drops and gaps, slices, contamination
    subsets, calibration deltas and checkpoints. ``delta = value - reference_value`` in
    the metric's own units; ``subject`` says what was compared beyond task, metric and
    arms (a perturbation, a slice, a data subset).

    Attributes:
        task: the task (or task group) the items belong to.
        metric: metric key.
        arm: the arm under test.
        reference_arm: the arm it is compared with.
        reference_kind: the reference arm's kind (``base``, ``full``, ``adapter``...).
        section: the results section the comparison belongs to (``scores`` for the main
            table).
        subject: what else identifies it (e.g. ``{"perturbation": "typo"}``).
        value: the arm's score (metric units).
        reference_value: the reference's score on the same items (metric units).
        delta: ``value - reference_value`` (metric units).
        ci_low: lower end of the paired-bootstrap interval of ``delta``.
        ci_high: upper end of that interval.
        se: bootstrap standard error of ``delta`` (metric units).
        p_value: the raw two-sided p-value of ``test``, in (0, 1].
        p_adjusted: the p-value after correction within ``correction_family``.
        test: ``mcnemar_exact``, ``paired_permutation`` or ``max_permutation``.
        significant: adjusted p below alpha and an interval that excludes 0.
        verdict: ``improved``, ``regressed``, ``no significant difference`` or
            ``insufficient data``; empty before correction (never written so).
        reason: why, in words.
        mde: minimum detectable effect (metric units) at level ``mde_alpha``.
        mde_alpha: the level the correction compared this p-value with.
        correction_family: which comparisons were corrected together.
        family_size: distinct tests in that family.
        non_inferiority: shown (True), not shown (False), or no margin (None).
        non_inferiority_margin: the margin in metric units, or None.
        n: items compared (paired by item id).
        scale: multiply by this to display (100 for proportions).
        unit: ``proportion``, ``points`` or ``native``.
        higher_is_better: the compared quantity's direction.
        signature: how the numbers were computed.
        note: empty, or what the reader should know (items left unpaired, selection).
    """

    DESCRIPTION: ClassVar[str] = (
        "A paired comparison of an arm with a reference arm, with its verdict."
    )
    SCHEMA_DEF: ClassVar[str] = "comparison"

    task: str = field(metadata=meta(schema="name"))
    metric: str = field(metadata=meta(schema="name"))
    arm: str = field(metadata=meta(schema="name"))
    reference_arm: str = field(metadata=meta(schema="name"))
    reference_kind: str = field(default="base", metadata=meta(schema="name"))
    section: str = "scores"
    subject: Mapping[str, str] = field(default_factory=dict)
    value: float = field(default=math.nan, metadata=meta(required=True))
    reference_value: float = field(default=math.nan, metadata=meta(required=True))
    delta: float = field(default=math.nan, metadata=meta(required=True))
    ci_low: float = field(default=math.nan, metadata=meta(required=True))
    ci_high: float = field(default=math.nan, metadata=meta(required=True))
    se: float = math.nan
    p_value: float = field(default=math.nan, metadata=meta(schema="probability", required=True))
    p_adjusted: float = field(default=math.nan, metadata=meta(schema="probability", required=True))
    test: str = field(default="", metadata=meta(schema="name", required=True))
    significant: bool = field(
        default=False,
        metadata=meta(
            doc="the one significance decision (fteval.stats.significant): adjusted p < alpha "
            "and an interval that excludes 0; true exactly when the verdict is improved or "
            "regressed"
        ),
    )
    verdict: str = field(default="", metadata=meta(schema="verdict", required=True))
    reason: str = ""
    mde: float = math.nan
    mde_alpha: float = field(default=math.nan, metadata=meta(schema="probability"))
    correction_family: str = field(
        default="",
        metadata=meta(
            doc="the comparisons corrected together, e.g. 'task sst2: base→lora (scores)'"
        ),
    )
    family_size: int = field(default=0, metadata=meta(schema="count"))
    non_inferiority: bool | None = None
    non_inferiority_margin: float | None = None
    n: int = field(default=0, metadata=meta(schema="count", required=True))
    scale: float = field(default=1.0, metadata=meta(schema="positive", required=True))
    unit: str = field(
        default="native",
        metadata=meta(
            schema="unit",
            doc="proportion: a share in [0, 1] shown x100 as %; points: a 0-100 score that "
            "is not a share; native: the metric's own unit",
        ),
    )
    higher_is_better: bool = field(default=True, metadata=meta(required=True))
    signature: str = field(default="", metadata=meta(required=True))
    note: str = ""
    discordance_rate: float | None = field(default=None, metadata=meta(json=False))
    test_id: str = field(default="", metadata=meta(json=False))
    family_pair: str = field(default="", metadata=meta(json=False))

    @property
    def shown_delta(self) -> float:
        """``delta`` in display units (``delta * scale``)."""
        return self.delta * self.scale

    @property
    def better(self) -> bool | None:
        """Whether the arm is better than the reference by the estimate (None if undefined)."""
        if not math.isfinite(self.delta) or self.delta == 0:
            return None
        return (self.delta > 0) == self.higher_is_better

    def mirrored(self) -> Comparison:
        """The same comparison read the other way round (``reference_arm`` under test).

        The delta and its interval change sign, the values swap, the p-values, family and
        significance stay (the test is symmetric), and the verdict turns: improved
        becomes regressed and back. ``reference_kind`` becomes the kind of the arm that was
        under test only when known, so it is ``"arm"`` here.
        """
        turned = {"improved": "regressed", "regressed": "improved"}.get(self.verdict, self.verdict)
        return dataclasses.replace(
            self,
            arm=self.reference_arm,
            reference_arm=self.arm,
            reference_kind="arm",
            value=self.reference_value,
            reference_value=self.value,
            delta=-self.delta,
            ci_low=-self.ci_high,
            ci_high=-self.ci_low,
            verdict=turned,
            reason=f"{self.reason}; read the other way round: {self.arm} − {self.reference_arm}"
            if self.reason
            else "",
            non_inferiority=None,
            non_inferiority_margin=None,
        )

    def key(self) -> tuple[Any, ...]:
        """What identifies the comparison within a run (unique across sections)."""
        return (
            self.section,
            self.task,
            self.metric,
            self.arm,
            self.reference_arm,
            tuple(sorted(self.subject.items())),
        )


def comparisons_in(row: Row) -> list[Comparison]:
    """Every comparison a row holds (directly, or in a tuple or mapping of its fields)."""
    if isinstance(row, Comparison):
        return [row]
    found: list[Comparison] = []
    for spec in dataclasses.fields(row):  # type: ignore[arg-type]
        found += _comparisons(getattr(row, spec.name))
    return found


def _comparisons(value: Any) -> list[Comparison]:
    if isinstance(value, Comparison):
        return [value]
    if isinstance(value, Row):
        return comparisons_in(value)
    if isinstance(value, Mapping):
        return [c for v in value.values() for c in _comparisons(v)]
    if isinstance(value, (list, tuple)):
        return [c for v in value for c in _comparisons(v)]
    return []


def with_decided(row: R, decided: Mapping[tuple[Any, ...], Comparison]) -> R:
    """``row`` with each comparison it holds replaced by its decided form (same key),
    then ``after_decision`` applied (rows whose fields follow from verdicts)."""
    if isinstance(row, Comparison):
        return decided.get(row.key(), row)  # type: ignore[return-value]
    changes = {}
    for spec in dataclasses.fields(row):  # type: ignore[arg-type]
        value = getattr(row, spec.name)
        replaced = _decided(value, decided)
        if replaced is not value:
            changes[spec.name] = replaced
    updated = dataclasses.replace(row, **changes) if changes else row  # type: ignore[type-var]
    return updated.after_decision()


def _decided(value: Any, decided: Mapping[tuple[Any, ...], Comparison]) -> Any:
    if isinstance(value, Comparison):
        return decided.get(value.key(), value)
    if isinstance(value, Row):
        return with_decided(value, decided)
    if isinstance(value, Mapping) and any(_comparisons(v) for v in value.values()):
        return {k: _decided(v, decided) for k, v in value.items()}
    if isinstance(value, tuple) and any(_comparisons(v) for v in value):
        return tuple(_decided(v, decided) for v in value)
    return value
