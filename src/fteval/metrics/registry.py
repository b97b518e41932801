"""The metric registry: names users write (``acc``, ``f1_macro``, ``bleu``) -> Metric objects.

A factory takes keyword-only context (``labels`` for classification metrics) and returns
one or more metrics; ``f1_per_class`` expands to one metric per label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fteval.metrics.base import Metric
from fteval.metrics.classification import F1, Accuracy, NormalisedAccuracy, Precision, Recall

MetricFactory = Callable[..., Metric | list[Metric]]
_FACTORIES: dict[str, MetricFactory] = {}


def register(name: str) -> Callable[[MetricFactory], MetricFactory]:
    """Register ``factory`` under ``name`` (a decorator). Names are unique."""

    def decorate(factory: MetricFactory) -> MetricFactory:
        if name in _FACTORIES:
            raise ValueError(f"metric {name!r} is registered twice")
        _FACTORIES[name] = factory
        return factory

    return decorate


def available_metrics() -> list[str]:
    """Every registered metric name, sorted."""
    _load_optional_modules()
    return sorted(_FACTORIES)


def make_metrics(
    names: Sequence[str], *, labels: Sequence[Any] | None = None, **options: Any
) -> list[Metric]:
    """Build the metrics named in ``names`` (expanded, in order).

    Args:
        names: registry names.
        labels: the task's label set (required by classification metrics).
        **options: passed to every factory that accepts them (e.g. ``pos_label``).

    Raises:
        ValueError: a name is unknown (the message lists the known ones), or a metric
            needs context that was not given.
    """
    _load_optional_modules()
    metrics: list[Metric] = []
    for name in names:
        factory = _FACTORIES.get(name)
        if factory is None:
            raise ValueError(
                f"unknown metric {name!r}; known metrics: {', '.join(sorted(_FACTORIES))}"
            )
        made = factory(labels=labels, **options)
        metrics.extend(made if isinstance(made, list) else [made])
    return metrics


def _need_labels(name: str, labels: Sequence[Any] | None) -> Sequence[Any]:
    if not labels:
        raise ValueError(f"metric {name!r} needs the task's label set (a choice task)")
    return labels


def _confusion_factory(cls: type, average: str | None) -> MetricFactory:
    def factory(*, labels: Sequence[Any] | None = None, pos_label: Any = None, **_: Any):
        name = f"{cls.kind}_{average or 'per_class'}"
        labels = _need_labels(name, labels)
        if average is None:
            return [cls(labels=labels, average=None, label=lab) for lab in labels]
        return cls(labels=labels, average=average, pos_label=pos_label)

    return factory


register("acc")(lambda **_: Accuracy())
register("acc_norm")(lambda **_: NormalisedAccuracy())
for _cls in (Precision, Recall, F1):
    for _average in ("macro", "weighted", "micro", "binary", None):
        register(f"{_cls.kind}_{_average or 'per_class'}")(_confusion_factory(_cls, _average))

_OPTIONAL_MODULES = (
    "fteval.metrics.lm",
    "fteval.metrics.text",
    "fteval.metrics.semantic",
    "fteval.metrics.code",
)
_loaded = False


def _load_optional_modules() -> None:
    """Import metric modules that register themselves (cheap: heavy imports are lazy)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for module in _OPTIONAL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
