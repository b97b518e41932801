"""``fteval report``: rebuild a run's reports from its directory alone (no model)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from fteval.cli._common import EXIT_OK, check_trackers, log_to_trackers, print_results


def add_parser(sub: Any) -> None:
    """Register ``report``."""
    report = sub.add_parser(
        "report", help="rebuild report.html and report.md of a run directory (no model)"
    )
    report.add_argument("run", help="a run directory (fteval run, score, compare or demo)")
    report.add_argument("--html", metavar="PATH", help="write the HTML report here")
    report.add_argument("--md", metavar="PATH", help="write the Markdown report here")
    report.add_argument(
        "--model-card",
        nargs="?",
        const="-",
        metavar="DIR",
        help="a Hugging Face model card per fine-tuned arm (model-index metadata, then the "
        "data, CIs and deltas vs base in prose): DIR/<arm>.md, one FILE.md for one arm, or "
        "'-' (the default) for stdout, one card after another",
    )
    report.add_argument(
        "--arm",
        action="append",
        default=[],
        help="model card: only these fine-tuned arms (repeatable; default: all)",
    )
    report.add_argument(
        "--model-name",
        action="append",
        default=[],
        metavar="ARM=NAME",
        help="model card: the model's name for ARM (repeatable; default: the adapter's or "
        "model's folder name, or its Hub id)",
    )
    report.add_argument(
        "--details",
        action="store_true",
        help="print every table after the one-screen headline (the terminal summary)",
    )
    report.add_argument(
        "--log-to",
        choices=["mlflow"],
        action="append",
        default=[],
        help="also log the run (parameters, every results section, verdicts, reports) to an "
        "experiment tracker (mlflow: MLFLOW_TRACKING_URI, default a SQLite store in RUN/mlruns)",
    )
    report.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    """Run ``fteval report``; returns the exit code.

    With neither ``--html``, ``--md`` nor ``--model-card``, rewrites the run directory's
    report.html and report.md; otherwise writes only what was asked for. Prints the
    headline (with ``--details`` every table too), unless the model card goes to stdout.
    """
    from pathlib import Path

    from fteval.errors import ConfigError
    from fteval.records import atomic_write_text
    from fteval.records.integrity import check_run_records
    from fteval.records.rundir import RunDirectory
    from fteval.report.html import render_html
    from fteval.report.markdown import render_markdown
    from fteval.report.modelcard import parse_model_names, render_model_cards, write_model_cards

    check_trackers(args.log_to)
    directory = RunDirectory(args.run)
    if not directory.path.is_dir():
        raise ConfigError(f"{args.run}: not a directory (expected a run directory)")
    check_targets(args, directory.path)
    results = directory.read_results()
    manifest = directory.read_manifest()
    samples = directory.read_samples()
    for warning in check_run_records(directory.path, manifest, results, samples):
        print(f"fteval: warning: {warning}", file=sys.stderr)
    if args.model_name and args.model_card is None:
        raise ConfigError("--model-name names the model on its card: add --model-card")
    names = parse_model_names(args.model_name, results)
    written: list[Path] = []
    everything = args.html is None and args.md is None and args.model_card is None
    if everything or args.md is not None:
        path = Path(args.md) if args.md else directory.path / "report.md"
        atomic_write_text(path, render_markdown(results, manifest))
        written.append(path)
    if everything or args.html is not None:
        path = Path(args.html) if args.html else directory.path / "report.html"
        html = render_html(
            results,
            manifest,
            samples,
            directory.read_items(),
            title=f"fteval report: {directory.path.name}",
        )
        atomic_write_text(path, html)
        written.append(path)
    if args.model_card is not None:
        known = {a["name"] for a in results.get("arms", [])}
        unknown = [a for a in args.arm if a not in known]
        if unknown:
            raise ConfigError(f"--arm {unknown}: no such arm; arms: {sorted(known)}")
        tuned = [a["name"] for a in results.get("arms", []) if a.get("kind") in ("adapter", "full")]
        if not tuned or (args.arm and not set(args.arm) & set(tuned)):
            raise ConfigError(
                f"{args.run}: no fine-tuned arm (adapter or full) to describe in a model card; "
                f"fine-tuned arms: {tuned or 'none'}"
            )
        cards = render_model_cards(results, manifest, arms=args.arm or None, names=names)
        if args.model_card == "-":
            sys.stdout.write("\n".join(cards.values()))
        else:
            written += write_model_cards(cards, args.model_card)
    for path in written:
        print(f"fteval: wrote {path} ({path.stat().st_size:,} bytes)", file=sys.stderr)
    if args.model_card != "-":  # the card alone on stdout when it goes there
        print_results({**results, "run_dir": str(directory.path)}, as_json=False,
                      details=args.details)  # fmt: skip
    log_to_trackers(args.log_to, str(directory.path))
    return EXIT_OK


def check_targets(args: argparse.Namespace, run_dir: Any) -> None:
    """Refuse an output that is a file of the run being read, or one path given twice."""
    from pathlib import Path

    from fteval.errors import ConfigError
    from fteval.records.integrity import check_not_a_record

    given = {"--html": args.html, "--md": args.md}
    card = args.model_card
    if card not in (None, "-") and (Path(card).suffix.lower() == ".md" or Path(card).is_file()):
        given["--model-card"] = card  # a folder of cards gets <arm>.md files: no record
    seen: dict[str, str] = {}
    for flag, target in given.items():
        if target is None:
            continue
        check_not_a_record(target, run_dir, flag)
        key = os.path.realpath(target)
        if key in seen:
            raise ConfigError(f"{flag} {target}: {seen[key]} writes there too; give two paths")
        seen[key] = flag
