"""Stratified train/validation splits and class weights for imbalanced classification data.

A split keeps each class's share of the data in both outputs: class by class, in sorted
label order, the rows are shuffled with one private ``random.Random(seed)`` (never the
global one) and ``round(validation * class_count)`` of them go to validation. Inside each output the
rows keep their original file order, so a diff against the input stays readable. The
same rows, label field, fraction and seed always give the same split.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import random
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fteval.data.checks import check_column_type, require_field
from fteval.data.readers import Row
from fteval.errors import InputError
from fteval.records import atomic_write_text, dumps

logger = logging.getLogger(__name__)

WEIGHT_SCHEMES = ("balanced", "inverse_sqrt")
WRITABLE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")
IMBALANCE_NOTE_RATIO = 3.0
_DELIMITERS = {".csv": ",", ".tsv": "\t"}


def class_distribution(labels: Iterable[Hashable]) -> dict[Any, int]:
    """Number of occurrences of each label.

    Returns:
        label -> count (each >= 1), in sorted label order when the labels sort, else
        in order of first appearance.
    """
    counts = Counter(labels)
    seen: list[Any] = list(counts)
    try:
        order = sorted(seen)
    except TypeError:  # labels of unorderable types: keep first-seen order
        order = list(counts)
    return {label: counts[label] for label in order}


def imbalance_ratio(counts: Mapping[Any, int]) -> float:
    """Largest over smallest non-zero class count.

    Returns:
        A ratio >= 1.0; 1.0 means perfectly balanced.

    Raises:
        ValueError: a count is negative or not an integer, or no class has a row.
    """
    _check_counts(counts, allow_zero=True)
    present = [count for count in counts.values() if count > 0]
    if not present:
        raise ValueError(f"no class has any rows: {dict(counts)!r}")
    return max(present) / min(present)


def class_weights(counts: Mapping[Any, int], *, scheme: str = "balanced") -> dict[Any, float]:
    """Per-class loss weights that offset class imbalance.

    Schemes:
        ``"balanced"``: scikit-learn's ``n_samples / (n_classes * count)``; the weights
        average to 1 over the samples, and a balanced dataset gets 1.0 everywhere.
        ``"inverse_sqrt"``: the square root of the balanced weight,
        ``sqrt(n_samples / (n_classes * count))``. A milder correction: a class 4x
        rarer than another gets 2x its weight instead of 4x, which is often steadier
        to train with when the ratio is large.

    Args:
        counts: label -> number of training rows (each >= 1).
        scheme: one of ``WEIGHT_SCHEMES``.

    Returns:
        label -> weight (> 0), in the order of ``counts``.

    Raises:
        ValueError: an unknown scheme, no classes, or a count that is zero, negative or
            not an integer (a class without rows has no defined weight).
    """
    if scheme not in WEIGHT_SCHEMES:
        raise ValueError(f"unknown class weight scheme {scheme!r}; use one of {WEIGHT_SCHEMES}")
    _check_counts(counts, allow_zero=False)
    n_samples = sum(counts.values())
    n_classes = len(counts)
    balanced = {label: n_samples / (n_classes * count) for label, count in counts.items()}
    if scheme == "balanced":
        return balanced
    return {label: math.sqrt(weight) for label, weight in balanced.items()}


def _check_counts(counts: Mapping[Any, int], *, allow_zero: bool) -> None:
    if not counts:
        raise ValueError("no classes: the counts mapping is empty")
    smallest = 0 if allow_zero else 1
    for label, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < smallest:
            need = "a non-negative integer" if allow_zero else "a positive integer"
            raise ValueError(f"the count of class {label!r} must be {need}, got {count!r}")


def row_labels(rows: Sequence[Row], *, label_field: str, path: str | Path) -> list[Any]:
    """Each row's label, checked: present, not null/NaN, hashable, one kind per column.

    Raises:
        InputError: naming the file, row and field of the first bad label.
    """
    check_column_type(path, rows, label_field)
    labels = []
    for row in rows:
        label = require_field(path, row, label_field)
        if not isinstance(label, Hashable):
            raise InputError(
                path,
                row.number,
                label_field,
                f"a label must be a string, number or boolean, not a {type(label).__name__}",
                label,
            )
        labels.append(label)
    return labels


def stratified_split(
    rows: Sequence[Row],
    *,
    label_field: str,
    validation: float = 0.2,
    seed: int = 0,
    path: str | Path,
) -> tuple[list[Row], list[Row]]:
    """Split rows into train and validation, keeping each class's proportion.

    Per class of ``n`` rows, ``round(validation * n)`` rows go to validation (Python's
    round: halves go to the even number), but at least 1 and at most ``n - 1`` when
    ``n >= 2``, so every such class is in both outputs. A class with a single row goes
    to train, with a warning; ``split_report`` lists it under ``train_only_classes``.

    Args:
        rows: the data rows, e.g. from ``read_rows(path)``.
        label_field: the field holding the class label.
        validation: the fraction of each class sent to validation, in (0, 1).
        seed: seeds a private ``random.Random``; the same seed gives the same split.
        path: the file the rows came from, named in errors.

    Returns:
        ``(train_rows, validation_rows)``: disjoint, together every row exactly once,
        each in the original row order.

    Raises:
        ValueError: ``validation`` is not strictly between 0 and 1.
        TypeError: ``seed`` is not an integer.
        InputError: no rows; a label is missing, null, NaN or of mixed type; or every
            class has a single row, leaving validation empty.
    """
    if not isinstance(validation, (int, float)) or not 0 < validation < 1:
        raise ValueError(
            f"validation must be a fraction strictly between 0 and 1, got {validation!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if not rows:
        raise InputError(path, None, None, "no rows to split")
    labels = row_labels(rows, label_field=label_field, path=path)
    by_class: dict[Any, list[int]] = {label: [] for label in class_distribution(labels)}
    for index, label in enumerate(labels):
        by_class[label].append(index)

    rng = random.Random(seed)
    chosen: set[int] = set()
    for label, indices in by_class.items():  # sorted label order: the draws are reproducible
        if len(indices) < 2:
            logger.warning(
                "%s: class %r of field %r has a single row (row %d); it goes to train only",
                path,
                label,
                label_field,
                rows[indices[0]].number,
            )
            continue
        shuffled = list(indices)
        rng.shuffle(shuffled)
        chosen.update(shuffled[: _validation_size(len(indices), validation)])
    if not chosen:
        raise InputError(
            path,
            None,
            label_field,
            "every class has a single row, so the validation split would be empty",
        )
    train = [row for index, row in enumerate(rows) if index not in chosen]
    held_out = [row for index, row in enumerate(rows) if index in chosen]
    return train, held_out


def _validation_size(class_count: int, validation: float) -> int:
    return min(max(round(validation * class_count), 1), class_count - 1)


def write_split(
    path: str | Path,
    rows: tuple[Sequence[Row], Sequence[Row]],
    out_train: str | Path,
    out_validation: str | Path,
) -> None:
    """Write a split in the input's format: JSONL, JSON, CSV or TSV.

    JSONL/JSON rows are written with ``fteval.records.dumps`` (sorted keys); CSV/TSV
    keep the delimiter and the header's column order. Both texts are rendered before
    either file is written, and each file is written atomically.

    Args:
        path: the input file the rows were read from; decides the format.
        rows: ``(train_rows, validation_rows)`` as returned by ``stratified_split``.
        out_train: where the train rows go; same extension as ``path``.
        out_validation: where the validation rows go; same extension as ``path``.

    Raises:
        InputError: an output would overwrite the input file, or both outputs are the
            same file, or the input format cannot be written, or CSV rows do not all have
            the same columns.
        ValueError: an output's extension differs from the input's.
    """
    path = Path(path)
    suffix = writable_suffix(path)
    outputs = (Path(out_train), Path(out_validation))
    for out in outputs:
        if out.suffix.lower() != suffix:
            raise ValueError(
                f"{out}: an output must have the input's extension {suffix!r}, so that it "
                "reads back in the same format"
            )
        if _same_file(out, path):
            raise InputError(path, None, None, "refusing to overwrite the input file", str(out))
    if _same_file(outputs[0], outputs[1]):
        raise InputError(
            path, None, None, "the train and validation outputs are the same file", str(out_train)
        )
    train_rows, validation_rows = rows
    # JSON rows are objects: their key order, and keys only some rows have, are theirs
    tabular = suffix not in (".jsonl", ".ndjson", ".json")
    header = _header(path, [*train_rows, *validation_rows]) if tabular else []
    texts = [_render(suffix, part, header) for part in (train_rows, validation_rows)]
    for out, text in zip(outputs, texts):
        atomic_write_text(out, text)
        logger.info("%s: wrote %s", path, out)


def writable_suffix(path: str | Path) -> str:
    """The lower-case extension of ``path`` if ``write_split`` can write it.

    Raises:
        InputError: the format (e.g. Parquet, gzip) cannot be written as split files.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise InputError(
            path,
            None,
            None,
            f"cannot write split files in the {suffix or 'extensionless'!r} format; "
            f"convert the data to one of {WRITABLE_SUFFIXES}",
        )
    return suffix


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file (symlinks and hard links too)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _header(path: Path, rows: Sequence[Row]) -> list[str]:
    """The column order of CSV/TSV rows (the reader keeps the header's order)."""
    if not rows:
        return []
    header = list(rows[0].fields)
    for row in rows:
        if list(row.fields) != header:
            raise InputError(
                path,
                row.number,
                None,
                f"columns {list(row.fields)} differ from row {rows[0].number}'s {header}; "
                "CSV output needs one header",
            )
    return header


def _render(suffix: str, rows: Sequence[Row], header: list[str]) -> str:
    if suffix in (".jsonl", ".ndjson"):
        return "".join(dumps(dict(row.fields)) + "\n" for row in rows)
    if suffix == ".json":
        return dumps([dict(row.fields) for row in rows], indent=2) + "\n"
    buffer = io.StringIO(newline="")
    delimiter = _DELIMITERS[suffix]
    minimal = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    # with "\n" line ends the csv module leaves a field holding "\r" unquoted, and a
    # reader would split the record there: such records are written fully quoted
    quoted = csv.writer(buffer, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for record in [header, *([row.fields[name] for name in header] for row in rows)]:
        writer = quoted if any("\r" in str(value) for value in record) else minimal
        writer.writerow(record)
    return buffer.getvalue()


def split_report(
    path: str | Path,
    train_rows: Sequence[Row],
    validation_rows: Sequence[Row],
    *,
    label_field: str,
    validation: float,
    seed: int,
    scheme: str = "balanced",
) -> dict[str, Any]:
    """A JSON-ready summary of a split: what a CLI prints or dumps.

    Labels are keys as strings (``str(label)``), so the dict survives JSON as is.
    Class weights are computed from the train split's counts, the rows a model is
    trained on.

    Returns:
        A dict with ``file``, ``label_field``, ``signature`` (how the split was made),
        ``rows`` (total/train/validation), ``classes`` (per label: total, train,
        validation, share of all rows in [0, 1]), ``imbalance_ratio`` (>= 1, over all
        rows), ``train_only_classes`` (labels with one row), ``class_weights``
        (``scheme``, ``computed_from`` and ``weights``) and ``note`` (a reading hint
        when the imbalance ratio is >= 3, else None).
    """
    train_labels = row_labels(train_rows, label_field=label_field, path=path)
    held_labels = row_labels(validation_rows, label_field=label_field, path=path)
    train_counts = class_distribution(train_labels)
    held_counts = class_distribution(held_labels)
    total_counts = class_distribution([*train_labels, *held_labels])
    n_rows = sum(total_counts.values())
    ratio = imbalance_ratio(total_counts)
    weights = class_weights(train_counts, scheme=scheme)
    return {
        "file": str(path),
        "label_field": label_field,
        "signature": f"stratified|validation:{validation}|seed:{seed}|round:half-even"
        f"|weights:{scheme}",
        "rows": {"total": n_rows, "train": len(train_rows), "validation": len(validation_rows)},
        "classes": {
            str(label): {
                "total": count,
                "train": train_counts.get(label, 0),
                "validation": held_counts.get(label, 0),
                "share": count / n_rows,
            }
            for label, count in total_counts.items()
        },
        "imbalance_ratio": ratio,
        "train_only_classes": [str(label) for label in total_counts if label not in held_counts],
        "class_weights": {
            "scheme": scheme,
            "computed_from": "train",
            "weights": {str(label): weight for label, weight in weights.items()},
        },
        "note": imbalance_note(ratio),
    }


def imbalance_note(ratio: float) -> str | None:
    """A reading hint for an imbalanced dataset (ratio >= 3), else None."""
    if ratio < IMBALANCE_NOTE_RATIO:
        return None
    return (
        f"the largest class has {ratio:.1f}x the rows of the smallest: read macro and "
        "weighted F1 beside accuracy, which a majority-class guess can keep high"
    )
