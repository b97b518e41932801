"""Build the report's sections from results.json and manifest.json (no model, no samples).

Order: the headline (``report.headline``: the one-screen answer), then the verdicts
(each task's primary metric, the CI gate's outcome, the correction, advice), then one
section per task or task group (``report.per_task``: scores, every verdict with its
reason, charts, confusion matrices; a group's members folded), then whatever else the
run holds (calibration, robustness, slices, training, contamination, judged win rates;
``report.evidence``), what each arm cost, generation health and the response cache, and
the run's facts (identities, versions, seeds, signatures, timings). Sections the run has
no data for are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fteval.report import evidence, svg
from fteval.report.context import Context, Results, slug
from fteval.report.document import Chart, Note, Section, Table
from fteval.report.headline import headline_section
from fteval.report.numbers import (
    correction_families,
    correction_note,
    fmt_bytes,
    fmt_count,
    fmt_params,
    fmt_seconds,
    fmt_share,
    is_number,
    is_proportion,
    reference_kind,
)
from fteval.report.per_task import comparisons_of, unit_section, verdict_table

LENGTH_ALERT_SHARE = 0.5  # finish reason "length" on more than this share of items: said loudly


def build_document(results: Results, manifest: Mapping[str, Any] | None = None) -> list[Section]:
    """Every section of the report, in reading order (see the module docstring)."""
    ctx = Context(results, manifest)
    sections = [headline_section(results), summary_section(ctx)]
    sections += [s for unit in ctx.units() if (s := unit_section(ctx, unit)) is not None]
    sections += evidence.sections(ctx)
    for builder in (cost_section, health_section, facts_section):
        section = builder(ctx)
        if section is not None:
            sections.append(section)
    return sections


# ---- the verdicts ----


def _role(ctx: Context, unit: str) -> str:
    """A task's role; a group's is its first member's."""
    leaves = ctx.leaves(unit) if ctx.is_group(unit) else [unit]
    return str(ctx.task_info(leaves[0]).get("role") or "") if leaves else ""


def summary_section(ctx: Context) -> Section:
    """The primary metric's verdicts of every task and group, guardrails apart, and the CI
    gate's outcome; every metric's verdicts are in each task's own section."""
    primary = [
        row
        for unit in ctx.units()
        for row in comparisons_of(ctx, [unit])
        if row["metric"] == ctx.primary(unit)
    ]
    blocks: list[Any] = [gate_note(ctx.results)]
    guardrails = {u for u in ctx.units() if _role(ctx, u) == "guardrail"}
    groups = (
        ("vs base", lambda r: _kind(ctx, r) == "base" and r["task"] not in guardrails),
        ("guardrails (must not get worse)", lambda r: _kind(ctx, r) == "base"),
        ("adapters vs the full fine-tune", lambda r: _kind(ctx, r) == "full"),
        ("between adapters", lambda r: _kind(ctx, r) not in ("base", "full")),
    )
    shown: set[int] = set()
    for caption, keep in groups:
        rows = [r for r in primary if id(r) not in shown and keep(r)]
        shown |= {id(r) for r in rows}
        if rows:
            blocks.append(verdict_table(ctx, rows, caption=caption, with_task=True))
    if primary:
        blocks.append(
            Note(
                "Each task's primary metric; every metric's verdicts, with the charts, are "
                "in the task's own section below."
            )
        )
    if not ctx.results.get("comparisons"):
        blocks.append(Note("No comparisons: the run has a single arm."))
    blocks += correction_blocks(ctx)
    blocks += advice_blocks(ctx)
    return Section("summary", "Verdicts", tuple(blocks))


FEW = 4  # up to this many correction families or pieces of advice read well as sentences


def correction_blocks(ctx: Context) -> list[Any]:
    """The correction in one sentence; with many families, their sizes in a folded table."""
    families = correction_families(ctx.results)
    if len(families) <= FEW:
        note = correction_note(ctx.results)
        return [Note(note)] if note else []
    table = Table(
        ("family", "comparisons"),
        tuple((name, str(size)) for name, size in families),
        caption="correction families: the comparisons corrected together",
        kind="families",
    )
    return [
        Note(correction_note(ctx.results, listed=False)),
        Section(
            "families",
            "Correction families",
            (table,),
            level=3,
            collapsed=True,
            summary=f"{len(families)} families",
        ),
    ]


def advice_blocks(ctx: Context) -> list[Any]:
    """Advice as sentences when there are a few; as one table (folded) when many."""
    advice = list(ctx.results.get("advice", []))
    if len(advice) <= FEW:
        return [Note(f"Advice: {a['message']}", "warning") for a in advice]
    table = Table(
        ("task", "metric", "arm", "advice"),
        tuple(
            (
                str(a.get("task", "")),
                str(a.get("metric", "")),
                str(a.get("arm", "")),
                str(a["message"]),
            )
            for a in advice
        ),
        caption="advice, one line per task, metric and arm",
        kind="advice",
        label_columns=4,
    )
    summary = f"{len(advice)} pieces of advice"
    return [
        Note(f"Advice: {summary}, listed below.", "warning"),
        Section("advice", "Advice", (table,), level=3, collapsed=True, summary=summary),
    ]


def _kind(ctx: Context, row: Mapping[str, Any]) -> str:
    return reference_kind(row, ctx.kinds)


def gate_note(results: Results) -> Note:
    """The outcome of ``fteval check --fail-on regression`` on these results."""
    from fteval.compare.gate import check

    try:
        failures = check(results, fail_on="regression")
    except Exception as error:
        return Note(f"CI gate: could not be evaluated ({error}).", "warning")
    if not failures:
        return Note("CI gate (fteval check --fail-on regression): passes.")
    listed = "; ".join(failures)
    return Note(f"CI gate (fteval check --fail-on regression): FAILS — {listed}.", "alert")


# ---- cost ----


def cost_section(ctx: Context) -> Section | None:
    """What each arm cost: parameters, size, weights in memory, wall time, tokens, tokens/s,
    peak memory (deployment forms' trade-off reads here beside their parity)."""
    rows = ctx.results.get("cost", [])
    if not rows:
        return None
    body = []
    for row in rows:
        trainable, total = row.get("trainable_params"), row.get("total_params")
        share = (
            f" ({fmt_share(trainable / total)})"
            if is_number(trainable) and is_number(total) and total
            else ""
        )
        body.append(
            (
                row["arm"],
                f"form ({row['form']})" if row.get("form") else str(row.get("kind", "")),
                fmt_params(trainable) + share,
                fmt_params(total),
                fmt_bytes(row.get("size_on_disk_bytes")),
                fmt_bytes(row.get("memory_footprint_bytes")),
                fmt_seconds(row.get("eval_wall_s")),
                fmt_count(row.get("tokens")),
                fmt_count(row.get("tokens_per_s")),
                f"{fmt_bytes(row.get('peak_memory_bytes'))} {row.get('memory_kind') or ''}".strip(),
            )
        )
    blocks: list[Any] = [
        Table(
            (
                "arm",
                "kind",
                "trainable params",
                "total params",
                "size on disk",
                "weights in memory",
                "eval wall time",
                "tokens",
                "tokens/s",
                "peak memory",
            ),
            tuple(body),
            caption="what each arm cost",
            kind="cost",
            align="llrrrrrrrr",
        )
    ]
    blocks += _cost_charts(ctx, rows)
    notes = sorted({str(r["note"]) for r in rows if r.get("note")})
    blocks += [Note(text) for text in notes]
    blocks.append(
        Note(
            "Tokens are the tokens each arm scored or generated (choice continuations, "
            "perplexity documents, generated text); prompt tokens are not counted. Peak "
            "memory is the process's peak resident memory (rss) or the GPU's peak allocated "
            "memory (cuda) while the arm was evaluated; tokens/s is left out when answers "
            "came from the response cache."
        )
    )
    return Section("cost", "What it cost", tuple(blocks))


def _cost_charts(ctx: Context, rows: Sequence[Mapping[str, Any]]) -> list[Chart]:
    charts = []
    for key, title, text in (
        ("trainable_params", "trainable parameters per arm", fmt_params),
        ("size_on_disk_bytes", "size on disk per arm", fmt_bytes),
        ("eval_wall_s", "evaluation wall time per arm", fmt_seconds),
        ("peak_memory_bytes", "peak memory per arm", fmt_bytes),
    ):
        if not any(is_number(r.get(key)) for r in rows):
            continue
        bars = [
            svg.Bar(
                r["arm"],
                r.get(key) if is_number(r.get(key)) else None,
                text(r.get(key)),
                ctx.style.get(r["arm"], 0),
            )
            for r in rows
        ]
        charts.append(Chart("cost", svg.bar_chart(bars, title=title, kind="cost"), title))
    return charts


# ---- generation health and the cache ----


def health_section(ctx: Context) -> Section | None:
    """Finish reasons, empty outputs and max_new_tokens hits; response-cache hits."""
    blocks: list[Any] = []
    generation = ctx.results.get("generation", [])
    if generation:
        blocks += generation_health(generation)
    empty = ctx.results.get("empty_predictions")
    if isinstance(empty, Mapping) and any(empty.values()):
        listed = ", ".join(f"{arm}: {count}" for arm, count in empty.items())
        blocks.append(Note(f"Empty predictions per arm: {listed}.", "warning"))
    cache = ctx.manifest.get("response_cache")
    if isinstance(cache, Mapping) and cache:
        body = []
        order = {name: index for index, name in enumerate(ctx.arms)}
        for arm, stats in sorted(cache.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])):
            hits, misses = stats.get("hits", 0), stats.get("misses", 0)
            total = hits + misses
            body.append(
                (
                    arm,
                    fmt_count(hits),
                    fmt_count(misses),
                    f"{100 * hits / total:.0f}%" if total else "–",
                )
            )
        blocks.append(
            Table(
                ("arm", "cache hits", "cache misses", "hit rate"),
                tuple(body),
                caption="response cache (requests answered from the cache)",
                kind="cache",
            )
        )
    counters = ctx.manifest.get("decode_counters")
    if isinstance(counters, Mapping) and any(counters.values()):
        blocks.append(
            Table(
                ("counter", "value"),
                tuple((k, fmt_count(v)) for k, v in sorted(counters.items())),
                caption="decoder work (all arms)",
                kind="counters",
            )
        )
    if not blocks:
        return None
    return Section("health", "Generation health and cache", tuple(blocks))


def generation_health(rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The table of finish reasons per task x arm, and an alert where outputs were cut off."""
    reasons = sorted({reason for row in rows for reason in row.get("finish_reasons", {})})
    body = []
    alerts = []
    for row in rows:
        n = row.get("n") or 0
        finish = row.get("finish_reasons", {})
        total = sum(finish.values()) or n or 1
        length = finish.get("length", 0)
        mean_tokens = row.get("generated_tokens", 0) / total if total else 0
        body.append(
            (
                row["task"],
                row["arm"],
                fmt_count(n),
                fmt_count(row.get("empty_predictions")),
                *(fmt_count(finish.get(r, 0)) for r in reasons),
                f"{mean_tokens:.1f}",
            )
        )
        if length / total > LENGTH_ALERT_SHARE:
            alerts.append(
                Note(
                    f"{row['arm']} hit max_new_tokens on {100 * length / total:.0f}% of "
                    f"{row['task']} outputs ({length} of {total}): its answers are cut off "
                    "and scored as such. Raise max_new_tokens or add stop strings.",
                    "alert",
                )
            )
        if row.get("empty_predictions"):
            alerts.append(
                Note(
                    f"{row['arm']} gave {row['empty_predictions']} empty outputs of {n} on "
                    f"{row['task']}.",
                    "warning",
                )
            )
    header = ("task", "arm", "n", "empty", *(f"finish: {r}" for r in reasons), "tokens/output")
    table = Table(
        header, tuple(body), caption="generation health", label_columns=2, kind="generation"
    )
    return [*alerts, table]


# ---- run facts ----


def facts_section(ctx: Context) -> Section:
    """Identities, versions, seeds, statistics settings, signatures, timings."""
    m = ctx.manifest
    r = ctx.results
    facts = [
        ("kind", str(m.get("kind", "run"))),
        ("status", str(m.get("status", ""))),
        ("fteval", str(m.get("fteval_version", ""))),
        ("started", str(m.get("started_at", ""))),
        ("finished", str(m.get("finished_at", ""))),
    ]
    env = m.get("environment", {})
    if env:
        facts += [
            ("python", str(env.get("python", ""))),
            ("platform", str(env.get("platform", ""))),
            ("git commit", str(env.get("git_commit") or "–")),
        ]
    seeds = m.get("seeds", {})
    facts += [(f"seed: {k}", str(v)) for k, v in sorted(seeds.items())]
    statistics = r.get("statistics", {})
    facts += [(f"statistics: {k}", str(v)) for k, v in sorted(statistics.items())]
    for source in m.get("sources", []):
        facts.append((f"source run {source.get('label', '')}", str(source.get("path", ""))))
    blocks: list[Any] = [
        Table(("fact", "value"), tuple(facts), caption="run", kind="facts", align="ll")
    ]
    blocks.append(arms_table(m.get("arms") or r.get("arms", [])))
    packages = env.get("packages", {})
    if packages:
        versions = Table(
            ("package", "version"),
            tuple(sorted(packages.items())),
            caption="package versions",
            kind="versions",
            align="ll",
        )
        blocks.append(_folded("versions", "Package versions", versions, f"{len(packages)}"))
    timings = _timing_rows(m.get("timings_s", {}))
    if timings:
        table = Table(("stage", "seconds"), tuple(timings), caption="timings", kind="timings")
        blocks.append(_folded("timings", "Timings", table, f"{len(timings)} stages"))
    signatures = signatures_table(r)
    blocks.append(
        _folded(
            "signatures",
            "Signatures: how each number was computed",
            signatures,
            f"{len(signatures.rows)} numbers",
        )
    )
    return Section("facts", "Run facts", tuple(blocks))


def _folded(key: str, title: str, table: Table, summary: str) -> Section:
    return Section(f"facts-{key}", title, (table,), level=3, collapsed=True, summary=summary)


def arms_table(arms: Sequence[Mapping[str, Any]]) -> Table:
    body = []
    for arm in arms:
        identity = arm.get("identity", {})
        hashes = identity.get("weights_sha256") or {}
        weights = ", ".join(f"{name} {digest[:12]}" for name, digest in sorted(hashes.items()))
        adapter = identity.get("adapter_config") or {}
        lora = (
            f"r={adapter.get('r')}, alpha={adapter.get('lora_alpha')}, "
            f"targets={adapter.get('target_modules')}"
            if adapter
            else ""
        )
        body.append(
            (
                arm.get("name", ""),
                str(arm.get("kind", "")),
                str(identity.get("path", identity.get("file", ""))),
                weights or "–",
                str(identity.get("dtype", "")),
                str(identity.get("device", "")),
                lora,
            )
        )
    return Table(
        ("arm", "kind", "path", "weights (sha256)", "dtype", "device", "adapter"),
        tuple(body),
        caption="arms and their identities",
        kind="arms",
        align="lllllll",
    )


def _timing_rows(timings: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in sorted(timings.items()):
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _timing_rows(value, f"{name} ")
        elif is_number(value):
            rows.append((name, f"{float(value):.3f}"))
    return rows


def signatures_table(results: Results) -> Table:
    body: list[tuple[str, ...]] = []
    for row in results.get("scores", []):
        body.append((row["task"], row["metric"], row["arm"], str(row.get("signature", ""))))
    for row in results.get("comparisons", []):
        body.append(
            (
                row["task"],
                row["metric"],
                f"{row['arm']} − {row['reference_arm']}",
                str(row.get("signature", "")),
            )
        )
    return Table(
        ("task", "metric", "arm", "signature"),
        tuple(body),
        caption="how each number was computed",
        kind="signatures",
        align="llll",
    )


__all__ = ["LENGTH_ALERT_SHARE", "Context", "build_document", "is_proportion", "slug"]
