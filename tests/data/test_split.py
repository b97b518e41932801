"""Stratified splits, class weights, split files and the ``fteval split`` command."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from fteval.cli.split import add_parser as add_split_parser
from fteval.cli.split import run_split
from fteval.data.readers import Row, read_rows
from fteval.data.split import (
    class_distribution,
    class_weights,
    imbalance_ratio,
    split_report,
    stratified_split,
    write_split,
)
from fteval.errors import InputError
from fteval.records import dumps

SST2_DEV = Path("/work/shared/data/sst2/dev.tsv")


def _rows(sizes: dict[str, int]) -> list[Row]:
    """Rows whose classes are interleaved (a, b, c, a, b, ...) until each size is met."""
    left = dict(sizes)
    rows: list[Row] = []
    while any(left.values()):
        for label in sizes:
            if left[label]:
                left[label] -= 1
                rows.append(Row(len(rows) + 1, {"id": len(rows) + 1, "label": label}))
    return rows


def _ids(rows: list[Row]) -> list[int]:
    return [row.fields["id"] for row in rows]


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fteval")
    add_split_parser(parser.add_subparsers())
    return parser.parse_args(["split", *argv])


# ---- distribution, ratio, weights ----


def test_class_distribution_counts_each_label_in_sorted_order():
    assert class_distribution(["b", "a", "b", "c", "b"]) == {"a": 1, "b": 3, "c": 1}
    assert list(class_distribution([2, 0, 1, 0])) == [0, 1, 2]


def test_imbalance_ratio_is_largest_over_smallest_nonzero_count():
    assert imbalance_ratio({"a": 90, "b": 10, "c": 0}) == 9.0
    assert imbalance_ratio({"a": 5, "b": 5}) == 1.0
    with pytest.raises(ValueError, match="no class has any rows"):
        imbalance_ratio({"a": 0})
    with pytest.raises(ValueError, match=r"'a'.*-1"):
        imbalance_ratio({"a": -1, "b": 3})


@pytest.mark.parametrize("labels", [[0] * 70 + [1] * 20 + [2] * 7, ["pos"] * 3 + ["neg"] * 11])
def test_balanced_weights_equal_scikit_learn(labels):
    sklearn_weights = pytest.importorskip("sklearn.utils.class_weight")
    import numpy as np

    counts = class_distribution(labels)
    classes = np.array(list(counts))
    expected = sklearn_weights.compute_class_weight("balanced", classes=classes, y=np.array(labels))
    ours = class_weights(counts)
    assert list(ours) == list(counts)
    assert list(ours.values()) == pytest.approx(expected.tolist(), rel=1e-12, abs=0)


def test_inverse_sqrt_weights_are_the_square_root_of_balanced_ones():
    counts = {"a": 80, "b": 20}
    balanced = class_weights(counts)
    softened = class_weights(counts, scheme="inverse_sqrt")
    assert softened == pytest.approx({k: math.sqrt(v) for k, v in balanced.items()})
    assert softened["b"] / softened["a"] == pytest.approx(2.0)  # 4x rarer -> 2x weight
    assert class_weights({"a": 5, "b": 5}, scheme="inverse_sqrt") == {"a": 1.0, "b": 1.0}


def test_class_weights_reject_an_empty_class_and_an_unknown_scheme():
    with pytest.raises(ValueError, match="class 'b' must be a positive integer, got 0"):
        class_weights({"a": 3, "b": 0})
    with pytest.raises(ValueError, match="unknown class weight scheme 'focal'"):
        class_weights({"a": 3}, scheme="focal")
    with pytest.raises(ValueError, match="empty"):
        class_weights({})


# ---- stratified_split ----


@pytest.mark.parametrize("validation", [0.1, 0.2, 0.5, 0.9])
def test_each_class_keeps_its_proportion_within_one_row(validation):
    sizes = {"a": 2, "b": 3, "c": 7, "d": 50, "e": 101}
    train, held_out = stratified_split(
        _rows(sizes), label_field="label", validation=validation, seed=3, path="d.jsonl"
    )
    held_counts = Counter(row.fields["label"] for row in held_out)
    train_counts = Counter(row.fields["label"] for row in train)
    for label, size in sizes.items():
        assert abs(held_counts[label] - validation * size) <= 1, (label, held_counts[label])
        assert held_counts[label] >= 1 and train_counts[label] >= 1
        assert held_counts[label] + train_counts[label] == size


def test_split_is_disjoint_complete_and_keeps_file_order():
    rows = _rows({"a": 30, "b": 12, "c": 5})
    train, held_out = stratified_split(rows, label_field="label", path="d.jsonl")
    assert set(_ids(train)).isdisjoint(_ids(held_out))
    assert sorted(_ids(train) + _ids(held_out)) == _ids(rows)
    assert _ids(train) == sorted(_ids(train))
    assert _ids(held_out) == sorted(_ids(held_out))
    assert len(held_out) == round(0.2 * 30) + round(0.2 * 12) + round(0.2 * 5)


def test_the_same_seed_gives_the_same_split_and_other_seeds_differ():
    rows = _rows({"a": 40, "b": 25})
    first = stratified_split(rows, label_field="label", seed=7, path="d.jsonl")
    again = stratified_split(list(rows), label_field="label", seed=7, path="d.jsonl")
    assert _ids(first[1]) == _ids(again[1])
    others = {
        tuple(_ids(stratified_split(rows, label_field="label", seed=s, path="d.jsonl")[1]))
        for s in range(8, 12)
    }
    assert tuple(_ids(first[1])) not in others
    assert len(others) == 4


def test_split_leaves_the_global_random_state_alone():
    random.seed(1234)
    state = random.getstate()
    stratified_split(_rows({"a": 20, "b": 20}), label_field="label", seed=1, path="d.jsonl")
    assert random.getstate() == state


def test_a_single_row_class_goes_to_train_and_is_reported(caplog):
    rows = _rows({"a": 10, "b": 10, "rare": 1})
    with caplog.at_level(logging.WARNING, logger="fteval.data.split"):
        train, held_out = stratified_split(rows, label_field="label", path="d.jsonl")
    assert "rare" in [row.fields["label"] for row in train]
    assert "rare" not in [row.fields["label"] for row in held_out]
    assert "'rare'" in caplog.text and "single row" in caplog.text and "d.jsonl" in caplog.text
    report = split_report("d.jsonl", train, held_out, label_field="label", validation=0.2, seed=0)
    assert report["train_only_classes"] == ["rare"]
    assert report["classes"]["rare"] == {"total": 1, "train": 1, "validation": 0, "share": 1 / 21}


def test_only_single_row_classes_is_an_error_not_an_empty_validation_file():
    with pytest.raises(InputError, match="every class has a single row") as caught:
        stratified_split(_rows({"a": 1, "b": 1}), label_field="label", path="d.jsonl")
    assert caught.value.path == "d.jsonl" and caught.value.field == "label"


@pytest.mark.parametrize("validation", [0, 1, -0.1, 1.5, math.nan])
def test_a_validation_fraction_outside_0_1_is_an_error(validation):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        stratified_split(_rows({"a": 5}), label_field="label", validation=validation, path="d")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"id": 3}', "missing field"),
        ('{"id": 3, "label": null}', "empty value"),
        ('{"id": 3, "label": NaN}', "empty value"),
        ('{"id": 3, "label": ["a"]}', "mixed-type column"),
    ],
)
def test_a_bad_label_error_names_file_row_and_field(tmp_path, line, problem):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": 1, "label": "a"}\n{"id": 2, "label": "b"}\n' + line + "\n")
    with pytest.raises(InputError) as caught:
        stratified_split(read_rows(path), label_field="label", path=path)
    message = str(caught.value)
    assert str(path) in message and "row 3" in message and "field 'label'" in message
    assert problem in message


def test_an_unhashable_label_is_an_input_error(tmp_path):
    rows = [Row(1, {"label": ["a"]}), Row(2, {"label": ["b"]})]
    with pytest.raises(InputError, match=r"row 1, field 'label': a label must be a string"):
        stratified_split(rows, label_field="label", path="d.jsonl")


# ---- write_split ----


def test_csv_round_trip_keeps_header_order_and_every_value(tmp_path):
    source = tmp_path / "data.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "id"])
        for i in range(20):
            text = f'row {i}, with "quotes"' if i % 3 else f"plain {i} ünïcode"
            writer.writerow([text, "pos" if i % 4 else "neg", str(i)])
    rows = read_rows(source)
    split = stratified_split(rows, label_field="label", path=source)
    out_train, out_validation = tmp_path / "data.train.csv", tmp_path / "data.validation.csv"
    write_split(source, split, out_train, out_validation)
    for out, part in zip((out_train, out_validation), split):
        assert out.read_text(encoding="utf-8").splitlines()[0] == "text,label,id"
        assert [dict(r.fields) for r in read_rows(out)] == [dict(r.fields) for r in part]


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl", ".json"])
def test_other_formats_round_trip_in_their_own_format(tmp_path, suffix):
    source = tmp_path / f"data{suffix}"
    records = [{"label": i % 3, "text": f"t\t{i}"} for i in range(15)]
    if suffix == ".tsv":
        with source.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t")  # quotes the tab inside "text"
            writer.writerow(["label", "text"])
            writer.writerows([r["label"], r["text"]] for r in records)
    elif suffix == ".jsonl":
        _write_jsonl(source, records)
    else:
        source.write_text(json.dumps(records))
    rows = read_rows(source)
    split = stratified_split(rows, label_field="label", path=source)
    outs = (tmp_path / f"out.train{suffix}", tmp_path / f"out.validation{suffix}")
    write_split(source, split, *outs)
    for out, part in zip(outs, split):
        assert [dict(r.fields) for r in read_rows(out)] == [dict(r.fields) for r in part]
    if suffix == ".tsv":
        assert outs[0].read_text().startswith("label\ttext\n")


def test_write_split_refuses_to_overwrite_the_input(tmp_path, monkeypatch):
    source = _write_jsonl(tmp_path / "d.jsonl", [{"label": i % 2} for i in range(10)])
    before = source.read_bytes()
    split = stratified_split(read_rows(source), label_field="label", path=source)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link.jsonl").symlink_to(source)
    for target in (source, Path("d.jsonl"), tmp_path / "sub" / ".." / "d.jsonl", "link.jsonl"):
        with pytest.raises(InputError, match="refusing to overwrite the input file"):
            write_split(source, split, tmp_path / "t.jsonl", target)
    assert source.read_bytes() == before
    assert not (tmp_path / "t.jsonl").exists()  # nothing written when one output is refused


def test_write_split_refuses_a_foreign_extension_or_unwritable_format(tmp_path):
    source = _write_jsonl(tmp_path / "d.jsonl", [{"label": i % 2} for i in range(10)])
    split = stratified_split(read_rows(source), label_field="label", path=source)
    with pytest.raises(ValueError, match=r"the input's extension '\.jsonl'"):
        write_split(source, split, tmp_path / "t.csv", tmp_path / "v.csv")
    with pytest.raises(InputError, match="same file"):
        write_split(source, split, tmp_path / "t.jsonl", tmp_path / "t.jsonl")
    with pytest.raises(InputError, match=r"cannot write split files in the '\.parquet' format"):
        write_split(tmp_path / "d.parquet", split, tmp_path / "t.parquet", tmp_path / "v.parquet")


def test_split_report_is_json_ready_and_weights_come_from_train():
    rows = _rows({"neg": 80, "pos": 20})
    train, held_out = stratified_split(rows, label_field="label", path="d.jsonl")
    report = split_report("d.jsonl", train, held_out, label_field="label", validation=0.2, seed=0)
    assert json.loads(dumps(report))["imbalance_ratio"] == 4.0
    assert report["rows"] == {"total": 100, "train": 80, "validation": 20}
    assert report["classes"]["neg"] == {"total": 80, "train": 64, "validation": 16, "share": 0.8}
    assert report["class_weights"]["weights"] == {"neg": 80 / (2 * 64), "pos": 80 / (2 * 16)}
    assert "macro and weighted F1" in report["note"]
    assert report["signature"].startswith("stratified|validation:0.2|seed:0")


# ---- the command ----


@pytest.fixture
def sst2_dev(tmp_path) -> Path:
    if not SST2_DEV.is_file():
        pytest.skip(f"{SST2_DEV} is not available")
    return Path(shutil.copy(SST2_DEV, tmp_path / "dev.tsv"))


def test_split_command_splits_all_872_sst2_dev_rows(sst2_dev, tmp_path, capsys):
    code = run_split(
        _parse(str(sst2_dev), "--label-field", "label", "--out-dir", str(tmp_path / "o"))
    )
    out = capsys.readouterr().out
    assert code == 0
    train = read_rows(tmp_path / "o" / "dev.train.tsv")
    held_out = read_rows(tmp_path / "o" / "dev.validation.tsv")
    source = read_rows(sst2_dev)
    assert len(source) == 872 and len(train) + len(held_out) == 872
    as_tuples = [tuple(r.fields.items()) for r in source]
    assert Counter(tuple(r.fields.items()) for r in [*train, *held_out]) == Counter(as_tuples)
    counts = Counter(r.fields["label"] for r in held_out)
    assert counts == {"0": round(0.2 * 428), "1": round(0.2 * 444)}
    assert "Imbalance ratio (largest / smallest class): 1.04" in out
    assert "Suggested class weights (balanced" in out
    assert "Note:" not in out  # 444 / 428 is not an imbalanced dataset


def test_split_command_json_on_an_imbalanced_jsonl_sample_of_sst2(sst2_dev, capsys):
    rows = read_rows(sst2_dev)
    negatives = [dict(r.fields) for r in rows if r.fields["label"] == "0"][:120]
    positives = [dict(r.fields) for r in rows if r.fields["label"] == "1"][:20]
    sample = _write_jsonl(sst2_dev.with_name("sample.jsonl"), negatives + positives)
    args = _parse(str(sample), "--label-field", "label", "--validation", "0.25", "--json")
    assert run_split(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["imbalance_ratio"] == 6.0
    assert report["classes"]["0"]["validation"] == 30 and report["classes"]["1"]["validation"] == 5
    assert "macro and weighted F1" in report["note"]
    assert Path(report["outputs"]["train"]) == sst2_dev.with_name("sample.train.jsonl")
    assert len(read_rows(report["outputs"]["validation"])) == 35


def test_split_command_prints_the_imbalance_note(tmp_path, capsys):
    data = _write_jsonl(tmp_path / "d.jsonl", [{"y": "a"}] * 30 + [{"y": "b"}] * 5)
    assert run_split(_parse(str(data), "--label-field", "y", "--weights", "inverse_sqrt")) == 0
    out = capsys.readouterr().out
    assert "Note: the largest class has 6.0x the rows" in out
    assert "inverse_sqrt" in out
    assert (tmp_path / "d.train.jsonl").is_file() and (tmp_path / "d.validation.jsonl").is_file()


def test_split_command_reports_a_missing_label_field_by_file_and_row(tmp_path):
    data = _write_jsonl(tmp_path / "d.jsonl", [{"label": "a"}, {"text": "no label"}])
    with pytest.raises(InputError, match=r"d\.jsonl, row 2, field 'label': missing field"):
        run_split(_parse(str(data), "--label-field", "label"))
    assert not (tmp_path / "d.train.jsonl").exists()


def test_split_command_rejects_a_validation_fraction_outside_0_1(capsys):
    with pytest.raises(SystemExit) as caught:
        _parse("d.jsonl", "--label-field", "label", "--validation", "1.5")
    assert caught.value.code == 2
    assert "strictly between 0 and 1" in capsys.readouterr().err


def test_split_command_refuses_to_overwrite_existing_outputs_without_force(tmp_path):
    from fteval.errors import ConfigError

    data = _write_jsonl(tmp_path / "d.jsonl", [{"y": "a"}] * 10 + [{"y": "b"}] * 10)
    assert run_split(_parse(str(data), "--label-field", "y")) == 0
    train = tmp_path / "d.train.jsonl"
    train.write_text("kept\n")
    with pytest.raises(ConfigError, match=r"d\.train\.jsonl and .*d\.validation\.jsonl already"):
        run_split(_parse(str(data), "--label-field", "y", "--seed", "1"))
    assert train.read_text() == "kept\n"  # untouched
    assert run_split(_parse(str(data), "--label-field", "y", "--force")) == 0
    assert len(read_rows(train)) == 16
