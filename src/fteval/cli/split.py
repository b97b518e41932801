"""The ``fteval split`` command: a stratified train/validation split and class weights.

``fteval split DATA --label-field label [--validation 0.2] [--seed 0] [--out-dir DIR]
[--force] [--json]`` writes ``<stem>.train<ext>`` and ``<stem>.validation<ext>`` (default:
next to DATA; existing files only with ``--force``) and prints the class distribution,
the imbalance ratio and suggested class weights.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``split`` on the ``fteval`` command's subparsers; returns its parser."""
    from fteval.data.split import WEIGHT_SCHEMES

    split = subparsers.add_parser(
        "split",
        help="stratified train/validation split of a classification file, with class weights",
        description="Split DATA into train and validation files keeping each class's "
        "proportion, and print the class distribution and suggested class weights.",
    )
    split.add_argument("data", help="a JSONL, JSON, CSV or TSV file")
    split.add_argument("--label-field", required=True, help="the field holding the class label")
    split.add_argument(
        "--validation",
        type=_fraction,
        default=0.2,
        help="fraction of each class sent to validation, in (0, 1) (default 0.2)",
    )
    split.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    split.add_argument("--out-dir", help="where the two files go (default: next to DATA)")
    split.add_argument(
        "--weights",
        choices=WEIGHT_SCHEMES,
        default="balanced",
        help="class weight scheme (default balanced, as scikit-learn's)",
    )
    split.add_argument(
        "--force", action="store_true", help="overwrite split files that already exist"
    )
    split.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    split.set_defaults(handler=run_split)
    return split


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text!r}")
    return value


def split_output_paths(data: str | Path, out_dir: str | Path | None) -> tuple[Path, Path]:
    """``<stem>.train<ext>`` and ``<stem>.validation<ext>`` in ``out_dir`` (or beside data)."""
    data = Path(data)
    folder = Path(out_dir) if out_dir is not None else data.parent
    return (
        folder / f"{data.stem}.train{data.suffix}",
        folder / f"{data.stem}.validation{data.suffix}",
    )


def refuse_to_overwrite(paths: tuple[Path, ...], *, force: bool) -> None:
    """Refuse (``ConfigError``) to replace existing files unless ``force``."""
    from fteval.errors import ConfigError

    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise ConfigError(
            f"{' and '.join(existing)} already exist(s); pass --force to overwrite, or "
            "--out-dir to write elsewhere"
        )


def run_split(args: argparse.Namespace) -> int:
    """Run ``fteval split``; returns the exit code (0). Bad input raises ``FtevalError``."""
    from fteval.cli.validate import check_out_dir, check_text
    from fteval.data.readers import read_rows
    from fteval.data.split import split_report, stratified_split, writable_suffix, write_split
    from fteval.records import dumps

    check_text(args.label_field, "--label-field")
    check_out_dir(args.out_dir, "--out-dir")
    path = Path(args.data)
    writable_suffix(path)  # fail before reading a file whose split could not be written
    out_train, out_validation = split_output_paths(path, args.out_dir)
    refuse_to_overwrite((out_train, out_validation), force=args.force)
    rows = read_rows(path)
    train, held_out = stratified_split(
        rows, label_field=args.label_field, validation=args.validation, seed=args.seed, path=path
    )
    write_split(path, (train, held_out), out_train, out_validation)
    report = split_report(
        path,
        train,
        held_out,
        label_field=args.label_field,
        validation=args.validation,
        seed=args.seed,
        scheme=args.weights,
    )
    report["outputs"] = {"train": str(out_train), "validation": str(out_validation)}
    if args.json:
        print(dumps(report, indent=2))
    else:
        print(render_split_report(report), end="")
    return 0


def render_split_report(report: dict[str, Any]) -> str:
    """The report as a terminal table and a few lines of advice."""
    rows = report["rows"]
    weights = report["class_weights"]
    lines = [
        f"{report['file']}: {rows['total']} rows by {report['label_field']!r} -> "
        f"{rows['train']} train, {rows['validation']} validation ({report['signature']})",
        "",
    ]
    width = max(len("class"), *(len(label) for label in report["classes"]))
    lines.append(
        f"  {'class':<{width}}  {'rows':>7}  {'share':>6}  {'train':>7}  {'valid.':>7}  "
        f"{'weight':>7}"
    )
    for label, counts in report["classes"].items():
        lines.append(
            f"  {label:<{width}}  {counts['total']:>7}  {counts['share']:>6.1%}  "
            f"{counts['train']:>7}  {counts['validation']:>7}  "
            f"{weights['weights'][label]:>7.4f}"
        )
    lines += [
        "",
        f"Imbalance ratio (largest / smallest class): {report['imbalance_ratio']:.2f}",
        f"Suggested class weights ({weights['scheme']}, from the train split counts): "
        + ", ".join(f"{label}={weight:.4f}" for label, weight in weights["weights"].items()),
    ]
    if report["train_only_classes"]:
        lines.append(
            "Classes with a single row, kept in train only: "
            + ", ".join(report["train_only_classes"])
        )
    if report["note"]:
        lines.append(f"Note: {report['note']}.")
    outputs = report.get("outputs")
    if outputs:
        lines.append(f"Wrote {outputs['train']} and {outputs['validation']}")
    return "\n".join(lines) + "\n"
