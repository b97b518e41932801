"""Build the report's sections from results.json and manifest.json (no model, no samples).

Order: the headline (``report.headline``: the one-screen answer), then the verdicts
(with the CI gate's outcome), then each task (scores with
intervals, differences with intervals, confusion matrices), then whatever else the run
holds (task groups, calibration, robustness, slices, training, contamination, judged
win rates), what each arm cost, generation health and the response cache, and the run's
facts (identities, versions, seeds, signatures, timings). Sections the run has no data
for are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fteval.report import evidence, svg
from fteval.report.document import Cell, Chart, Note, Section, Table
from fteval.report.headline import cut_sentence, headline_section
from fteval.report.numbers import (
    arm_kinds,
    correction_note,
    decimals_for,
    delta_unit,
    fmt,
    fmt_bytes,
    fmt_count,
    fmt_interval,
    fmt_p,
    fmt_params,
    fmt_seconds,
    fmt_share,
    is_number,
    is_proportion,
    is_significant,
    metric_label,
    reference_kind,
    verdict_symbol,
    verdict_word,
)

Results = Mapping[str, Any]
LENGTH_ALERT_SHARE = 0.5  # finish reason "length" on more than this share of items: said loudly


class Context:
    """Lookups shared by the section builders: arms, styles, decimals per metric."""

    def __init__(self, results: Results, manifest: Mapping[str, Any] | None) -> None:
        self.results = results
        self.manifest = manifest or {}
        self.arms = [a["name"] for a in results.get("arms", [])]
        for row in results.get("scores", []):
            if row["arm"] not in self.arms:
                self.arms.append(row["arm"])
        self.kinds = arm_kinds(results)
        self.style = {name: index for index, name in enumerate(self.arms)}
        self.scores = {(r["task"], r["arm"], r["metric"]): r for r in results.get("scores", [])}
        self._decimals: dict[tuple[str, str], int] = {}
        by_metric: dict[tuple[str, str], list[Any]] = {}
        scales: dict[tuple[str, str], Any] = {}
        for row in results.get("scores", []):
            key = (row["task"], row["metric"])
            by_metric.setdefault(key, []).append(row.get("value"))
            scales[key] = row.get("scale", 1.0)
        for key, values in by_metric.items():
            self._decimals[key] = decimals_for(values, scales[key])

    def unit_of(self, task: str, metric: str) -> str | None:
        """The metric's ``unit`` (``proportion``, ``points``, ``native``) from its scores."""
        for arm in self.arms:
            row = self.scores.get((task, arm, metric))
            if row is not None and row.get("unit"):
                return str(row["unit"])
        return None

    def decimals(self, task: str, metric: str, scale: Any) -> int:
        """Decimals of one metric of one task (one precision per scale and metric)."""
        return self._decimals.get((task, metric), decimals_for([], scale))

    def tasks(self) -> list[str]:
        """Task names in results order, then any name that only has score rows (groups)."""
        names = [t["name"] for t in self.results.get("tasks", [])]
        for row in self.results.get("scores", []):
            if row["task"] not in names:
                names.append(row["task"])
        return names

    def task_info(self, name: str) -> Mapping[str, Any]:
        return next((t for t in self.results.get("tasks", []) if t["name"] == name), {})


def build_document(results: Results, manifest: Mapping[str, Any] | None = None) -> list[Section]:
    """Every section of the report, in reading order (see the module docstring)."""
    ctx = Context(results, manifest)
    sections = [headline_section(results), summary_section(ctx)]
    sections += [task_section(ctx, task) for task in ctx.tasks() if _has_rows(ctx, task)]
    sections += evidence.sections(ctx)
    for builder in (cost_section, health_section, facts_section):
        section = builder(ctx)
        if section is not None:
            sections.append(section)
    return sections


def _has_rows(ctx: Context, task: str) -> bool:
    return any(key[0] == task for key in ctx.scores)


# ---- numbers as cells ----


def delta_cell(ctx: Context, row: Mapping[str, Any], *, with_ci: bool = True) -> Cell:
    """``+68.0* [+62.0, +73.7]``: the delta, its star when significant, its interval."""
    scale = row.get("scale", 1.0)
    digits = ctx.decimals(row["task"], row["metric"], scale)
    star = "*" if is_significant(row) else ""
    text = fmt(row.get("delta"), scale, decimals=digits, signed=True) + star
    if with_ci:
        interval = fmt_interval(row.get("ci_low"), row.get("ci_high"), scale, digits, signed=True)
        text = f"{text} {interval}".strip()
    return Cell(text, _tone(row) if star else "")


def score_cell(ctx: Context, row: Mapping[str, Any] | None) -> str:
    """``87.7 [84.0, 91.3]`` in display units; empty when the arm has no score."""
    if row is None:
        return ""
    scale = row.get("scale", 1.0)
    digits = ctx.decimals(row["task"], row["metric"], scale)
    value = fmt(row.get("value"), scale, decimals=digits)
    interval = fmt_interval(row.get("ci_low"), row.get("ci_high"), scale, digits)
    return f"{value} {interval}".strip()


def _tone(row: Mapping[str, Any]) -> str:
    verdict = row.get("verdict")
    if verdict == "improved":
        return "up"
    if verdict == "regressed":
        return "down"
    return ""


def verdict_cell(ctx: Context, row: Mapping[str, Any]) -> Cell:
    """``▲ improved`` / ``▼ trails`` ...: symbol and word, toned by the verdict."""
    return Cell(f"{verdict_symbol(row)} {verdict_word(row, ctx.kinds)}".strip(), _tone(row))


def mde_text(ctx: Context, row: Mapping[str, Any]) -> str:
    """The minimum detectable effect in display units (with its unit), or "–"."""
    scale = row.get("scale", 1.0)
    mde = row.get("mde")
    if not is_number(mde):
        return "–"
    digits = ctx.decimals(row["task"], row["metric"], scale)
    return f"{fmt(mde, scale, decimals=digits)} {delta_unit(scale)}".strip()


def non_inferiority_text(row: Mapping[str, Any]) -> str:
    value = row.get("non_inferiority")
    if value is True:
        return "shown"
    if value is False:
        return "not shown"
    return ""


# ---- the verdicts ----


def summary_section(ctx: Context) -> Section:
    """Verdicts of every comparison, guardrails apart, and the CI gate's outcome."""
    comparisons = ctx.results.get("comparisons", [])
    guardrails = {t["name"] for t in ctx.results.get("tasks", []) if t.get("role") == "guardrail"}
    blocks: list[Any] = [gate_note(ctx.results)]
    groups = (
        (
            "vs base",
            lambda r: reference_kind(r, ctx.kinds) == "base" and r["task"] not in guardrails,
        ),
        (
            "guardrails (must not get worse)",
            lambda r: reference_kind(r, ctx.kinds) == "base" and r["task"] in guardrails,
        ),
        ("adapters vs the full fine-tune", lambda r: reference_kind(r, ctx.kinds) == "full"),
        (
            "between fine-tuned arms",
            lambda r: reference_kind(r, ctx.kinds) not in ("base", "full"),
        ),
    )
    for caption, keep in groups:
        rows = [r for r in comparisons if keep(r)]
        if rows:
            blocks.append(verdict_table(ctx, rows, caption))
    if not comparisons:
        blocks.append(Note("No comparisons: the run has a single arm."))
    note = correction_note(ctx.results)
    if note:
        blocks.append(Note(note))
    for advice in ctx.results.get("advice", []):
        blocks.append(Note(f"Advice: {advice['message']}", "warning"))
    return Section("summary", "Verdicts", tuple(blocks))


def verdict_table(ctx: Context, rows: Sequence[Mapping[str, Any]], caption: str) -> Table:
    """One line per comparison: verdict, Δ with CI, adjusted p, test, MDE, reason."""
    header = (
        "task",
        "metric",
        "arm",
        "vs",
        "verdict",
        "Δ [CI]",
        "p adj",
        "test",
        "MDE",
        "non-inferior",
        "reason",
    )
    body = []
    for row in rows:
        body.append(
            (
                row["task"],
                metric_label(row["metric"], row.get("scale"), row.get("unit")),
                row["arm"],
                row["reference_arm"],
                verdict_cell(ctx, row),
                delta_cell(ctx, row),
                fmt_p(row.get("p_adjusted")),
                str(row.get("test", "")),
                mde_text(ctx, row),
                non_inferiority_text(row),
                str(row.get("reason", "")),
            )
        )
    return Table(header, tuple(body), caption=caption, kind="verdicts", align="lllllrrlrll")


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


# ---- per task ----


def task_section(ctx: Context, task: str) -> Section:
    """Scores with CIs, differences with CIs, their charts, confusion matrices."""
    info = ctx.task_info(task)
    metrics = list(dict.fromkeys(key[2] for key in ctx.scores if key[0] == task))
    n = max((r.get("n") or 0 for k, r in ctx.scores.items() if k[0] == task), default=0)
    facts = [f"n = {n}"]
    if info.get("kind"):
        facts.append(str(info["kind"]))
    if info.get("role"):
        facts.append(f"role: {info['role']}")
    if info.get("source"):
        facts.append(f"source: {info['source']}")
    blocks: list[Any] = [Note("; ".join(facts))]
    cut = next(
        (r for r in ctx.results.get("truncation") or [] if r["task"] == task and r.get("cut")),
        None,
    )
    if cut is not None:
        blocks.append(
            Note(cut_sentence(cut), "alert" if cut.get("verdicts_withheld") else "warning")
        )
    blocks.append(scores_table(ctx, task, metrics))
    blocks += [scores_chart(ctx, task, metric) for metric in metrics]
    comparisons = [c for c in ctx.results.get("comparisons", []) if c["task"] == task]
    if comparisons:
        blocks.append(differences_table(ctx, task, metrics, comparisons))
        for metric in metrics:
            chart = deltas_chart(ctx, task, metric, comparisons)
            if chart is not None:
                blocks.append(chart)
    blocks += classification_blocks(ctx, task)
    blocks += seed_blocks(ctx, task)
    return Section(f"task-{_slug(task)}", f"Task: {task}", tuple(blocks))


def scores_table(ctx: Context, task: str, metrics: Sequence[str]) -> Table:
    arms = [a for a in ctx.arms if any((task, a, m) in ctx.scores for m in metrics)]
    rows = []
    for metric in metrics:
        scale = next(
            (
                ctx.scores[(task, a, metric)].get("scale")
                for a in arms
                if (task, a, metric) in ctx.scores
            ),
            1.0,
        )
        rows.append(
            (
                metric_label(metric, scale, ctx.unit_of(task, metric)),
                *(score_cell(ctx, ctx.scores.get((task, a, metric))) for a in arms),
            )
        )
    confidence = ctx.results.get("statistics", {}).get("confidence", 0.95)
    caption = f"scores with {confidence:.0%} bootstrap confidence intervals"
    return Table(("metric", *arms), tuple(rows), caption=caption, kind="scores")


def differences_table(
    ctx: Context, task: str, metrics: Sequence[str], comparisons: Sequence[Mapping[str, Any]]
) -> Table:
    pairs = list(dict.fromkeys((c["arm"], c["reference_arm"]) for c in comparisons))
    index = {(c["metric"], c["arm"], c["reference_arm"]): c for c in comparisons}
    rows = []
    for metric in metrics:
        scale = next((c.get("scale") for c in comparisons if c["metric"] == metric), 1.0)
        cells: list[str | Cell] = [
            f"{metric} (Δ {delta_unit(scale)})".replace(" ()", "") if delta_unit(scale) else metric
        ]
        for arm, ref in pairs:
            row = index.get((metric, arm, ref))
            cells.append(delta_cell(ctx, row) if row else "")
        rows.append(tuple(cells))
    header = ("metric", *(f"{a} − {r}" for a, r in pairs))
    caption = "paired differences with confidence intervals; * = significant (see Verdicts)"
    return Table(header, tuple(rows), caption=caption, kind="differences")


def scores_chart(ctx: Context, task: str, metric: str) -> Chart:
    rows = []
    scale = 1.0
    for arm in ctx.arms:
        row = ctx.scores.get((task, arm, metric))
        if row is None:
            continue
        scale = row.get("scale", 1.0)
        rows.append(
            svg.IntervalRow(
                label=arm,
                value=_shown(row.get("value"), scale),
                low=_shown(row.get("ci_low"), scale),
                high=_shown(row.get("ci_high"), scale),
                style=ctx.style.get(arm, 0),
                filled=True,
                text=score_cell(ctx, row),
            )
        )
    label = metric_label(metric, scale, ctx.unit_of(task, metric))
    title = f"{task}: {label} per arm with confidence intervals"
    return Chart("scores", svg.interval_chart(rows, title=title, kind="scores"), title)


def deltas_chart(
    ctx: Context, task: str, metric: str, comparisons: Sequence[Mapping[str, Any]]
) -> Chart | None:
    rows = []
    scale = 1.0
    for row in comparisons:
        if row["metric"] != metric:
            continue
        scale = row.get("scale", 1.0)
        rows.append(
            svg.IntervalRow(
                label=f"{row['arm']} − {row['reference_arm']}",
                value=_shown(row.get("delta"), scale),
                low=_shown(row.get("ci_low"), scale),
                high=_shown(row.get("ci_high"), scale),
                style=ctx.style.get(row["arm"], 0),
                filled=is_significant(row),
                text=f"{delta_cell(ctx, row).text}  {verdict_word(row, ctx.kinds)}",
            )
        )
    if not rows:
        return None
    unit = delta_unit(scale)
    title = f"{task}: {metric} differences{f' ({unit})' if unit else ''}; filled = significant"
    return Chart(
        "deltas", svg.interval_chart(rows, title=title, kind="deltas", zero_line=True), title
    )


def _shown(value: Any, scale: Any) -> float | None:
    return float(value) * float(scale or 1.0) if is_number(value) else None


def classification_blocks(ctx: Context, task: str) -> list[Any]:
    """Confusion matrix per arm (chart + table) and per-class precision/recall/F1."""
    reports = [r for r in ctx.results.get("classification", []) if r["task"] == task]
    blocks: list[Any] = []
    for report in reports:
        arm = report["arm"]
        labels = list(report["labels"])
        matrix = [list(row) for row in report["confusion_matrix"]]
        outside = report.get("predicted_outside_labels") or [0] * len(labels)
        columns = list(labels)
        if any(outside):
            columns.append("(other)")
            matrix = [[*row, extra] for row, extra in zip(matrix, outside)]
        title = f"{task}: confusion matrix of {arm} (rows: gold, columns: predicted)"
        blocks.append(Chart("confusion", svg.heatmap(labels, columns, matrix, title=title), title))
        blocks.append(
            Table(
                ("gold \\ predicted", *columns),
                tuple((label, *(fmt_count(v) for v in row)) for label, row in zip(labels, matrix)),
                caption=f"confusion matrix: {arm}",
                kind="confusion",
            )
        )
        per_class = report.get("per_class", {})
        counts = report.get("class_counts", {})
        blocks.append(
            Table(
                ("class", "support", "precision (%)", "recall (%)", "F1 (%)"),
                tuple(
                    (
                        label,
                        fmt_count(counts.get(label)),
                        *(
                            fmt(per_class.get(label, {}).get(k), 100, decimals=1)
                            for k in ("precision", "recall", "f1")
                        ),
                    )
                    for label in labels
                ),
                caption=f"per class: {arm}",
                kind="per-class",
            )
        )
        if report.get("imbalanced") and arm == ctx.arms[0]:
            blocks.append(
                Note(
                    f"{task} is imbalanced (largest / smallest class = "
                    f"{report['imbalance_ratio']:.1f}): read f1_macro beside acc.",
                    "warning",
                )
            )
    return blocks


def seed_blocks(ctx: Context, task: str) -> list[Any]:
    rows = [r for r in ctx.results.get("seed_groups", []) if r["task"] == task]
    if not rows:
        return []
    body = []
    for row in rows:
        scale = row.get("scale", 1.0)
        digits = ctx.decimals(task, row["metric"], scale)
        spread = row.get("spread_exceeds_effect")
        body.append(
            (
                row["group"],
                metric_label(row["metric"], scale),
                str(row.get("n_seeds", "")),
                f"{fmt(row.get('mean'), scale, decimals=digits)} ± "
                f"{fmt(row.get('std'), scale, decimals=digits)}",
                fmt(row.get("mean_delta_vs_reference"), scale, decimals=digits, signed=True),
                Cell("yes: not credited", "warn") if spread else ("no" if spread is False else "–"),
            )
        )
    return [
        Table(
            ("seed group", "metric", "seeds", "mean ± std", "mean Δ vs base", "spread ≥ effect"),
            tuple(body),
            caption="adapters trained with several seeds",
            kind="seeds",
        )
    ]


# ---- cost ----


def cost_section(ctx: Context) -> Section | None:
    """What each arm cost: parameters, size, wall time, tokens, tokens/s, peak memory."""
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
                str(row.get("kind", "")),
                fmt_params(trainable) + share,
                fmt_params(total),
                fmt_bytes(row.get("size_on_disk_bytes")),
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
                "eval wall time",
                "tokens",
                "tokens/s",
                "peak memory",
            ),
            tuple(body),
            caption="what each arm cost",
            kind="cost",
            align="llrrrrrrr",
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
        blocks.append(
            Table(
                ("package", "version"),
                tuple(sorted(packages.items())),
                caption="package versions",
                kind="versions",
                align="ll",
            )
        )
    timings = _timing_rows(m.get("timings_s", {}))
    if timings:
        blocks.append(
            Table(("stage", "seconds"), tuple(timings), caption="timings", kind="timings")
        )
    blocks.append(signatures_table(r))
    return Section("facts", "Run facts", tuple(blocks))


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


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-") or "x"


def slug(text: str) -> str:
    """A string usable as an HTML id."""
    return _slug(text)


def scale_of_task_metric(ctx: Context, task: str, metric: str) -> Any:
    """The display scale of a task's metric (1.0 when unknown)."""
    row = next((r for k, r in ctx.scores.items() if k[0] == task and k[2] == metric), None)
    return row.get("scale", 1.0) if row else 1.0


__all__ = ["Context", "build_document", "is_proportion"]
