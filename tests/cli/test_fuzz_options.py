"""Property tests: random option values at every command's validation, random results at
``fteval check``.

Each command's validation boundary either accepts the values (within their documented
bounds) or raises the project's own error; argparse may refuse a value (exit 2). Nothing
else escapes: no ``TypeError`` from a metric constructor, no ``KeyError`` in the gate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fteval._util.options import check_settings
from fteval.cli import _parser
from fteval.cli.run import _run_overrides
from fteval.cli.score import _check_flags, _score_stats
from fteval.cli.validate import parse_labels
from fteval.compare.gate import Requirement
from fteval.config import build_config
from fteval.errors import FtevalError
from fteval.metrics import available_metrics, make_metrics
from fteval.metrics.registry import parse_metric_flag
from fteval.pipeline.score_code import check_code_options
from fteval.pipeline.score_files import ScoreOptions, check_options
from tests.cli.test_hostile_inputs import invoke
from tests.data.test_fuzz_readers import JSON_VALUES

# a value as typed on a command line: numbers, words, blanks, junk
TOKENS = st.one_of(
    st.integers(-(10**6), 10**7).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "inf", "-0", "1e400", "true", "no", "x\n", "a,b", "=",
                     "base", "acc", "holm", "bca", "regression", "improved"]),
    st.text(max_size=8),
)  # fmt: skip
STATS_FLAGS = ["--bootstrap", "--permutations", "--alpha", "--confidence", "--ci-method",
               "--correction"]  # fmt: skip
# metrics that load a model of their own are left out: constructing them with random
# options would load transformers for every example
CHEAP_METRICS = [m for m in available_metrics() if not m.startswith(("bertscore", "bleurt"))]


def _parse(argv: list[str]) -> argparse.Namespace | None:
    """The namespace, or None when argparse refuses (it exits 2 with a usage message)."""
    try:
        return _parser().parse_args(argv)
    except SystemExit as stop:
        assert stop.code == 2
        return None


@given(flags=st.lists(st.tuples(st.sampled_from(STATS_FLAGS), TOKENS), max_size=4))
def test_score_statistics_flags_are_in_bounds_or_refused(flags):
    args = _parse(["score", "p.jsonl", "--metric", "acc", *[x for pair in flags for x in pair]])
    if args is None:
        return
    try:
        options = _score_stats(args)
    except FtevalError:
        return
    assert 0.5 < options.confidence < 1 and 0 < options.alpha < 0.5
    assert options.bootstrap_resamples >= 100 and options.permutations >= 100
    assert options.confidence == pytest.approx(1 - options.alpha)  # one level for both


@given(
    name=st.sampled_from(CHEAP_METRICS),
    options=st.dictionaries(st.sampled_from(["k", "tokenize", "lowercase", "max_ngram_order",
                                             "beta", "char_order", "word_order", "tokenizer",
                                             "use_stemmer", "normalize_whitespace",
                                             "ignore_regex", "alpha", "gamma", "smooth_value",
                                             "smooth_method", "pos_label", "whitespace"]),
                            TOKENS, max_size=3),
)  # fmt: skip
def test_metric_options_from_the_command_line_build_or_are_refused(name, options):
    text = name + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")
    try:
        make_metrics([parse_metric_flag(text)], labels=["a", "b"])
    except (ValueError, FtevalError):
        return


@given(
    name=st.sampled_from(CHEAP_METRICS),
    options=st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3),
)
def test_metric_options_from_a_task_file_build_or_are_refused(name, options):
    try:
        make_metrics([{**options, "name": name}], labels=["a", "b"])
    except (ValueError, FtevalError):
        return


@given(
    task_name=TOKENS,
    labels=st.none() | TOKENS,
    fields=st.lists(TOKENS, min_size=2, max_size=2),
    code=st.tuples(st.lists(st.integers(-3, 200), max_size=3), TOKENS, st.none() | TOKENS),
)
def test_score_options_are_valid_or_refused(task_name, labels, fields, code):
    with contextlib.suppress(FtevalError):
        check_options(
            ScoreOptions(
                metrics=("acc",),
                task_name=task_name,
                prediction_field=fields[0],
                reference_field=fields[1],
                labels=parse_labels(labels),
            )
        )
    ks, timeout, workers = code
    try:
        timeout_s = float(timeout)
        max_workers = int(workers) if workers is not None else None
    except ValueError:
        return  # argparse refuses these before validation
    try:
        check_code_options(ks, timeout_s, max_workers)
    except FtevalError:
        return
    assert all(k >= 1 for k in ks) and math.isfinite(timeout_s) and timeout_s > 0


@given(
    flags=st.lists(
        st.tuples(st.sampled_from(["--k", "--timeout", "--workers", "--task-name", "--labels",
                                   "--problems", "--metric", "--out", "--seed"]), TOKENS),
        max_size=4,
    )
)  # fmt: skip
def test_score_flag_combinations_are_checked_before_any_file_is_read(flags):
    args = _parse(["score", "p.jsonl", *[x for pair in flags for x in pair]])
    if args is None:
        return
    try:
        _check_flags(args)
        _score_stats(args)
        parse_labels(args.labels)
    except FtevalError:
        return


RUN_FLAGS = ["--batch-size", "--limit", "--seed", "--max-length", "--flush-every", "--device",
             "--non-inferiority", "--require", "--adapter", "--task", "--base", "--out",
             "--cache-dir", "--threads", "--batch-tokens", "--request-timeout-s", "--base-url",
             "--concurrency", "--max-retries", "--ray", "--ray-workers", "--guardrail-margin",
             "--brittle-threshold", "--fail-on", "--task-option", "--train-data",
             *STATS_FLAGS]  # fmt: skip


@given(flags=st.lists(st.tuples(st.sampled_from(RUN_FLAGS), TOKENS), max_size=5))
def test_run_flags_build_a_valid_config_or_are_refused(flags):
    argv = ["run", "--backend", "fake", "--base", "b", "--task", "t.yaml"]
    args = _parse([*argv, *[x for pair in flags for x in pair]])
    if args is None:
        return
    try:
        for text in args.require:
            Requirement.parse(text)
        config = build_config(_run_overrides(args), source="flags")
    except FtevalError:
        return
    assert config.batch_size >= 1 and 0.5 < config.confidence < 1
    assert all(math.isfinite(m) and m >= 0 for m in config.non_inferiority.values())
    assert config.threads is None or 1 <= config.threads <= 4 * (os.cpu_count() or 1)
    assert config.seed >= 0
    for value in (config.request_timeout_s, config.guardrail_margin, config.brittle_threshold):
        assert math.isfinite(value)
    assert config.base_url is None or config.base_url.startswith(("http://", "https://"))


# built-in tasks that take settings, and keys (theirs and misspelt ones)
SETTING_TASKS = ["humaneval", "squad", "gsm8k", "cnn_dailymail", "alpaca_eval"]
SETTING_KEYS = ["allow_unsafe", "n_samples", "temperature", "top_p", "max_new_tokens",
                "timeout_s", "opponent", "chat_template", "nsamples", ""]  # fmt: skip


@given(
    options=st.lists(
        st.tuples(st.sampled_from(SETTING_TASKS), st.sampled_from(SETTING_KEYS), TOKENS),
        max_size=4,
    )
)
def test_task_options_from_the_command_line_are_typed_and_in_range_or_refused(options):
    """Every --task-option value reaches its task typed and in range, or the run is
    refused naming it; never last-one-wins, never a raw library error."""
    from fteval.pipeline.task_setup import check_task_options
    from fteval.tasks.builtin import catalogue
    from fteval.tasks.options import SETTING_RULES

    tasks = sorted({task for task, _, _ in options}) or ["humaneval"]
    flags = [x for task, key, value in options for x in ("--task-option", f"{task}:{key}={value}")]
    argv = ["run", "--backend", "fake", "--base", "b", *[x for t in tasks for x in ("--task", t)]]
    args = _parse([*argv, *flags])
    if args is None:
        return
    try:
        config = build_config(_run_overrides(args), source="flags")
        check_task_options(config)
    except FtevalError as error:
        assert "--task-option" in str(error) or "setting" in str(error), error
        return
    for task, settings in config.task_options.items():
        defaults = catalogue()[task].settings
        typed = check_settings(task, settings, defaults, SETTING_RULES)
        for key, value in typed.items():
            assert type(value) is type(defaults[key])
            if key in SETTING_RULES and key in settings:
                SETTING_RULES[key].check(value)


MODEL_METRICS = ["bertscore", "bertscore_precision", "bleurt"]
MODEL_OPTION_KEYS = ["model_type", "num_layers", "device", "batch_size", "lang",
                     "rescale_with_baseline", "checkpoint", "max_length", "use_fast_tokenizer",
                     "baseline_path"]  # fmt: skip


@given(
    name=st.sampled_from(MODEL_METRICS),
    options=st.dictionaries(st.sampled_from(MODEL_OPTION_KEYS), TOKENS, min_size=1, max_size=3),
)
def test_model_based_metric_options_are_refused_by_name_or_build_without_loading(name, options):
    """BERTScore and BLEURT options: refused naming the metric and option (a missing
    model, layers out of range, a device that is not there...), or accepted; the option
    checks load no model (BERTScore loads its model at first use, BLEURT only from a
    folder that holds one, which these values never name)."""
    pytest.importorskip("bert_score")
    text = name + ":" + ",".join(f"{k}={v}" for k, v in options.items())
    try:
        spec = parse_metric_flag(text)
        make_metrics([spec])
    except (ValueError, FtevalError) as error:
        assert name.split("_")[0] in str(error) or "--metric" in str(error), error


@given(fraction=TOKENS, seed=TOKENS, label=TOKENS)
def test_split_flags_are_refused_by_argparse_or_by_the_command(fraction, seed, label):
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "d.jsonl"
        data.write_text("".join(json.dumps({"label": "ab"[i % 2]}) + "\n" for i in range(6)))
        argv = ["split", str(data), "--label-field", label, "--validation", fraction,
                "--seed", seed, "--out-dir", str(Path(folder) / "out")]  # fmt: skip
        code, _, err = invoke(argv)
    assert code in (0, 2), err


# ------------------------------------------------------------------ fteval check


@pytest.fixture(scope="module")
def valid_results(tmp_path_factory) -> dict[str, Any]:
    from tests.cli.test_hostile_inputs import make_valid_results

    return make_valid_results(tmp_path_factory.mktemp("valid"))


def _mutations(results: dict[str, Any]) -> st.SearchStrategy:
    """Paths to every value of ``results``, to be replaced by random JSON."""
    paths: list[tuple[Any, ...]] = []

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index))

    walk(results, ())
    return st.sampled_from(paths[1:])


@pytest.mark.invalid_results
def test_check_on_mutated_results_is_a_gate_outcome_or_a_named_error(valid_results, tmp_path):
    @given(data=st.data())
    def check(data):
        results = json.loads(json.dumps(valid_results))
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(_mutations(results))
            target = results
            for part in path[:-1]:
                target = target[part]
            if data.draw(st.booleans()) and isinstance(target, dict):
                target.pop(path[-1], None)
            else:
                target[path[-1]] = data.draw(JSON_VALUES)
        file = tmp_path / "results.json"
        file.write_text(json.dumps(results))
        requires = data.draw(st.lists(st.sampled_from(
            ["scored/exact_match=improved", "scored=no-regression", "x=non-inferior"]),
            max_size=2))  # fmt: skip
        code, _, err = invoke(["check", str(file), *[f"--require={r}" for r in requires]])
        assert code in (0, 2, 3), err
        assert "Traceback" not in err

    check()


@pytest.mark.invalid_results
@given(value=JSON_VALUES)
def test_check_on_random_json_is_refused_by_name(value):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.json"
        path.write_text(json.dumps(value))
        code, _, err = invoke(["check", str(path)])
    assert code == 2, err
    assert "results.json" in err


# ------------------------------------------------------------- broken model files


@given(
    where=st.sampled_from(["base", "full", "adapter"]),
    damage=st.one_of(
        st.tuples(st.just("cut"), st.floats(0.0, 0.999)),
        st.tuples(st.just("append"), st.binary(min_size=1, max_size=64)),
    ),
)
def test_a_damaged_weight_file_is_refused_by_name_before_any_run_directory(where, damage):
    """Any weight file cut short or grown is exit 2 naming the file, before the run
    directory exists (and before torch is imported: the pre-flight reads headers only)."""
    from tests.backends.checkpoints import gpt2_folder, lora_folder
    from tests.conftest import intent_rows, write_task

    with tempfile.TemporaryDirectory() as root:
        folder = Path(root)
        base = gpt2_folder(folder / "base")
        full = gpt2_folder(folder / "full")
        adapter = lora_folder(folder / "lora")
        target = {"base": base / "model.safetensors", "full": full / "model.safetensors",
                  "adapter": adapter / "adapter_model.safetensors"}[where]  # fmt: skip
        data = target.read_bytes()
        kind, amount = damage
        target.write_bytes(data[: int(len(data) * amount)] if kind == "cut" else data + amount)
        task = write_task(folder, intent_rows(6))
        out = folder / "out"
        code, _, err = invoke(["run", "--base", str(base), "--full", str(full), "--adapter",
                               f"lora={adapter}", "--task", str(task), "--out", str(out),
                               "--quiet", "--cache-dir", "off"])  # fmt: skip
        assert code == 2, err
        assert target.name in err and "Traceback" not in err
        assert not out.exists()
