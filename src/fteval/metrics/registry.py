"""The metric registry: names users write (``acc``, ``f1_macro``, ``bleu``) -> Metric objects.

A factory takes keyword-only context (``labels`` for classification metrics) and returns
one or more metrics; ``f1_per_class`` expands to one metric per label. The metric modules
that register themselves (text, lm, semantic, code) are imported on the first lookup
(their heavy imports are lazy, so this is cheap).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fteval._util.registry import Registry
from fteval.metrics.base import Metric
from fteval.metrics.classification import F1, Accuracy, NormalisedAccuracy, Precision, Recall
from fteval.metrics.options import coerce_options

MetricFactory = Callable[..., Metric | list[Metric]]
METRICS: Registry[MetricFactory] = Registry(
    "metric",
    loaders=(
        "fteval.metrics.lm",
        "fteval.metrics.text",
        "fteval.metrics.semantic",
        "fteval.metrics.code",
        "fteval.metrics.extraction",
        "fteval.metrics.code_text",
        "fteval.metrics.external",
    ),
)


def register(name: str) -> Callable[[MetricFactory], MetricFactory]:
    """Register ``factory`` under ``name`` (a decorator). Names are unique."""
    return METRICS.register(name)


def available_metrics() -> list[str]:
    """Every registered metric name, sorted."""
    return METRICS.names()


MetricSpec = str | Mapping[str, Any]


def make_metrics(
    specs: Sequence[MetricSpec], *, labels: Sequence[Any] | None = None
) -> list[Metric]:
    """Build the metrics named in ``specs`` (expanded, in order).

    Args:
        specs: registry names, or mappings ``{"name": ..., **options}`` whose options go to
            that metric alone (``{"name": "rougeL", "tokenizer": "unicode"}``).
        labels: the task's label set (required by classification metrics).

    Raises:
        ValueError: a name is unknown (the message lists the known ones), an option is
            not one the metric takes, or a metric needs context that was not given.
    """
    metrics: list[Metric] = []
    for spec in specs:
        name, own = metric_name_and_options(spec)
        factory = METRICS.find(name)
        if factory is None:
            raise ValueError(METRICS.unknown(name))
        try:
            made = factory(labels=labels, **own)
        except TypeError as error:
            raise ValueError(f"metric {name!r}: bad options {own!r}: {error}") from None
        metrics.extend(made if isinstance(made, list) else [made])
    return metrics


def register_class(name: str, cls: type[Metric], **fixed: Any) -> None:
    """Register a metric class; its constructor's keyword arguments are its options.

    An option the constructor does not take is an error naming the metric and the options
    it has — a misspelt option never silently falls back to a default. ``labels`` reaches
    the class only when its constructor takes it.
    """
    accepted = {
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
    } - set(fixed)

    def factory(*, labels: Sequence[Any] | None = None, **options: Any) -> Metric:
        unknown = sorted(set(options) - accepted)
        if unknown:
            known = ", ".join(sorted(accepted - {"labels"})) or "none"
            raise ValueError(f"metric {name!r} has no option {unknown[0]!r} (options: {known})")
        options = coerce_options(name, cls, options)  # typed per the constructor
        if "labels" in accepted:
            options["labels"] = labels
        return cls(**fixed, **options)

    register(name)(factory)


def metric_name_and_options(spec: MetricSpec) -> tuple[str, dict[str, Any]]:
    """``"bleu"`` -> ``("bleu", {})``; ``{"name": "bleu", "tokenize": "intl"}`` -> both parts."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        return spec["name"], {k: v for k, v in spec.items() if k != "name"}
    raise ValueError(f"a metric is a name or a mapping with a 'name' key, got {spec!r}")


def parse_metric_flag(text: str) -> MetricSpec:
    """``rougeL:tokenizer=unicode,use_stemmer=true`` -> a spec mapping (CLI syntax).

    Values stay text; each metric converts them to its options' declared types
    (``fteval.metrics.options``), so ``yes`` is a boolean only where a boolean belongs.
    """
    name, sep, rest = text.partition(":")
    if not sep:
        return name
    options: dict[str, Any] = {"name": name}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"--metric {text!r}: options are key=value pairs")
        if key == "name" or key in options:
            problem = "is given twice" if key != "name" else "is the metric's name, not an option"
            raise ValueError(f"--metric {text!r}: {key!r} {problem}")
        options[key] = value.strip()
    return options


def _need_labels(name: str, labels: Sequence[Any] | None) -> Sequence[Any]:
    if not labels:
        raise ValueError(f"metric {name!r} needs the task's label set (a choice task)")
    return labels


def _confusion_factory(
    cls: type[Precision] | type[Recall] | type[F1], average: str | None
) -> MetricFactory:
    def factory(
        *, labels: Sequence[Any] | None = None, pos_label: Any = None
    ) -> Metric | list[Metric]:
        name = f"{cls.kind}_{average or 'per_class'}"
        labels = _need_labels(name, labels)
        if average is None:
            return [
                cls(labels=labels, average=None, label=lab, pos_label=pos_label) for lab in labels
            ]
        return cls(labels=labels, average=average, pos_label=pos_label)

    return factory


register_class("acc", Accuracy)
register_class("acc_norm", NormalisedAccuracy)
for _cls in (Precision, Recall, F1):
    for _average in ("macro", "weighted", "micro", "binary", None):
        register(f"{_cls.kind}_{_average or 'per_class'}")(_confusion_factory(_cls, _average))
