"""Every non-default option of every metric is named in its signature.

One test walks the whole registry (scikit-learn's ``test_common`` habit): each metric's
constructor options must be listed below with a non-default value to try, or exempted
with the reason; a new option nobody classified fails the test.
"""

from __future__ import annotations

import inspect

import pytest

from fteval.metrics import available_metrics, make_metrics
from fteval.metrics.base import Metric

LABELS = ["neg", "pos"]

# metric (or family) -> option -> a non-default value that changes how it is computed
ALTERNATIVES: dict[str, dict[str, object]] = {
    "bleu": {"tokenize": "intl", "lowercase": True, "smooth_method": "none",
             "max_ngram_order": 2},
    "bleu+smooth_value": {"smooth_method": "floor", "smooth_value": 0.3},
    "chrf": {"char_order": 4, "word_order": 2, "beta": 0, "lowercase": True,
             "whitespace": True, "eps_smoothing": True},
    "rouge": {"use_stemmer": True, "tokenizer": "unicode"},
    "rougeLsum": {"use_stemmer": True, "tokenizer": "unicode", "lsum_split": "nltk"},
    "exact_match": {"lowercase": True, "strip_punctuation": True, "strip_articles": True,
                    "normalize_whitespace": False, "ignore_regex": "x"},
    "meteor": {"word_tokenizer": "whitespace", "alpha": 0.8, "beta": 2.0, "gamma": 0.4},
    "binary": {"pos_label": "neg"},
    "pass@k": {"k": 3},
    "bertscore": {"num_layers": 3, "lang": "de", "use_fast_tokenizer": True},
    "codebleu": {"lang": "c_sharp"},
    "lmeval_metric": {"key": "acc_norm", "higher_is_better": False},
}  # fmt: skip
# required options: the baseline the alternative is compared with
BASELINE: dict[str, dict[str, object]] = {"pass@k": {"k": 5}, "lmeval_metric": {"key": "acc"}}
# options that do not change how a number is computed, and why
EXEMPT: dict[str, str] = {
    "batch_size": "execution only: the same numbers in any batch size",
    "device": "execution only: where the model runs",
    "wordnet_dir": "where WordNet is found; the signature names the WordNet version found",
    "rescale_with_baseline": "None resolves to the effective setting the signature names",
    "baseline_path": "the signature names whether a custom baseline rescales",
    "model_type": "the signature names the model (tested with the real model elsewhere)",
    "checkpoint": "BLEURT needs a real checkpoint; its signature names it",
    "max_length": "BLEURT needs a real checkpoint; its signature names it",
    "lsum_split": "applies to rougeLsum only (other ROUGE types refuse it)",
    "pos_label": "applies to average='binary' only (other averages refuse it)",
    "smooth_value": "applies to smooth_method floor/add-k only (tested as bleu+smooth_value)",
    "k": "fixed by the name for pass@1/10/100; pass@k takes it",
}


def _family(name: str) -> str:
    if name.startswith("rouge") and name != "rougeLsum":
        return "rouge"
    if name.endswith("_binary"):
        return "binary"
    if name.startswith("bertscore"):
        return "bertscore"
    return name


def _options(name: str) -> set[str]:
    """The options a registered metric takes (its factory's or constructor's)."""
    from fteval.metrics import registry

    factory = registry.METRICS.find(name)
    assert factory is not None, name
    closure = dict(zip(factory.__code__.co_freevars, factory.__closure__ or ()))
    if "cls" in closure and "fixed" in closure:  # register_class
        cls, fixed = closure["cls"].cell_contents, closure["fixed"].cell_contents
        params = inspect.signature(cls.__init__).parameters.values()
        skip = {"self", "labels", *fixed}
    else:
        params = inspect.signature(factory).parameters.values()
        skip = {"labels"}
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name for p in params if p.kind in keyword and p.name not in skip}


def _signature(name: str, **options: object) -> str:
    return make_metrics([{"name": name, **options}], labels=LABELS)[0].signature()


def test_every_option_of_every_metric_is_classified():
    unclassified = []
    for name in available_metrics():
        tried = ALTERNATIVES.get(_family(name), {})
        unclassified += [
            f"{name}:{o}" for o in _options(name) if o not in tried and o not in EXEMPT
        ]
    assert not unclassified, f"give these options a value to try or a reason: {unclassified}"


CASES = [
    (name, option, value)
    for name in available_metrics()
    if not name.startswith("bleurt")
    for option, value in ALTERNATIVES.get(_family(name), {}).items()
    if option in _options(name)
]


@pytest.mark.parametrize(("name", "option", "value"), CASES)
def test_a_non_default_option_changes_the_signature(name, option, value):
    try:
        baseline = BASELINE.get(name, {})
        default = _signature(name, **baseline)
        changed = _signature(name, **{**baseline, option: value})
    except ValueError as error:  # an optional resource missing here (nltk punkt data...)
        pytest.skip(f"{name}:{option}={value}: {error}")
    assert changed != default, f"{name}:{option}={value} leaves the signature {default}"


def test_bleu_smooth_value_is_signed_with_its_method():
    base = _signature("bleu", smooth_method="floor")
    assert _signature("bleu", smooth_method="floor", smooth_value=0.3) != base
    with pytest.raises(ValueError, match="smooth_value applies to smooth_method"):
        _signature("bleu", smooth_value=0.3)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "rouge1", "lsum_split": "nltk"}, "lsum_split applies to rougeLsum only"),
        ({"name": "f1_macro", "pos_label": "pos"}, "pos_label applies to average='binary'"),
        ({"name": "recall_per_class", "pos_label": "pos"}, "pos_label applies"),
    ],
)
def test_options_that_would_do_nothing_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        make_metrics([spec], labels=LABELS)


def test_every_metric_class_has_a_signature_of_its_own():
    def concrete(cls: type) -> list[type]:
        found = [] if inspect.isabstract(cls) else [cls]
        for sub in cls.__subclasses__():
            found += concrete(sub)
        return found

    make_metrics(["acc"])  # loads every metric module
    classes = [c for c in concrete(Metric) if c.__module__.startswith("fteval.")]
    assert classes
    for cls in classes:
        assert cls.signature is not Metric.signature, cls
