"""``fteval report``: rebuild a run's reports from its directory alone (no model)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from fteval.cli._common import EXIT_OK, check_trackers, log_to_trackers


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
        metavar="PATH",
        help="the Hugging Face model-index YAML block with CIs and deltas vs base in prose "
        "(stdout, or PATH)",
    )
    report.add_argument(
        "--arm",
        action="append",
        default=[],
        help="model card: only these fine-tuned arms (repeatable; default: all)",
    )
    report.add_argument(
        "--log-to",
        choices=["mlflow"],
        action="append",
        default=[],
        help="also log the run (parameters, scores, deltas, reports) to an experiment tracker",
    )
    report.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    """Run ``fteval report``; returns the exit code.

    With neither ``--html``, ``--md`` nor ``--model-card``, rewrites the run directory's
    report.html and report.md; otherwise writes only what was asked for.
    """
    from pathlib import Path

    from fteval.errors import ConfigError
    from fteval.records import atomic_write_text
    from fteval.records.integrity import check_run_records
    from fteval.records.rundir import RunDirectory
    from fteval.report.html import render_html
    from fteval.report.markdown import render_markdown
    from fteval.report.modelcard import render_model_card

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
        card = render_model_card(results, arms=args.arm or None)
        if args.model_card == "-":
            sys.stdout.write(card)
        else:
            atomic_write_text(args.model_card, card)
            written.append(Path(args.model_card))
    for path in written:
        print(f"fteval: wrote {path} ({path.stat().st_size:,} bytes)", file=sys.stderr)
    log_to_trackers(args.log_to, str(directory.path))
    return EXIT_OK


def check_targets(args: argparse.Namespace, run_dir: Any) -> None:
    """Refuse an output that is a file of the run being read, or one path given twice."""
    from fteval.errors import ConfigError
    from fteval.records.integrity import check_not_a_record

    given = {"--html": args.html, "--md": args.md}
    if args.model_card not in (None, "-"):
        given["--model-card"] = args.model_card
    seen: dict[str, str] = {}
    for flag, target in given.items():
        if target is None:
            continue
        check_not_a_record(target, run_dir, flag)
        key = os.path.realpath(target)
        if key in seen:
            raise ConfigError(f"{flag} {target}: {seen[key]} writes there too; give two paths")
        seen[key] = flag
