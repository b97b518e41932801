"""A results object holding every section of the results contract (docs/records.md),
with hand-set numbers, so that reports can be tested before the producers land."""

from __future__ import annotations

import copy
from typing import Any

ARMS = [
    {"name": "base", "kind": "base", "group": "base", "identity": {"path": "/m/base"}},
    {"name": "lora", "kind": "adapter", "group": "lora", "identity": {"path": "/m/lora"}},
    {"name": "qlora-r64", "kind": "adapter", "group": "qlora-r64", "identity": {"path": "/m/q"}},
    {"name": "full", "kind": "full", "group": "full", "identity": {"path": "/m/full"}},
]
VALUES = {  # (task, metric) -> arm -> value (metric units), scale, higher_is_better
    ("intents", "acc"): ({"base": 0.40, "lora": 0.80, "qlora-r64": 0.78, "full": 0.85}, 100.0),
    ("intents", "f1_macro"): ({"base": 0.35, "lora": 0.79, "qlora-r64": 0.77, "full": 0.84}, 100.0),
    ("summaries", "bleu"): ({"base": 12.5, "lora": 15.8, "qlora-r64": 15.0, "full": 16.1}, 1.0),
    ("mmlu", "acc_micro"): ({"base": 0.45, "lora": 0.44, "qlora-r64": 0.45, "full": 0.43}, 100.0),
    ("mmlu_stem", "acc"): ({"base": 0.41, "lora": 0.30, "qlora-r64": 0.40, "full": 0.39}, 100.0),
}


def _score(task: str, metric: str, arm: str, value: float, scale: float) -> dict[str, Any]:
    width = 0.04 if scale == 100 else 1.2
    return {
        "task": task,
        "arm": arm,
        "metric": metric,
        "value": value,
        "ci_low": value - width,
        "ci_high": value + width,
        "n": 200,
        "scale": scale,
        "higher_is_better": True,
        "signature": f"{metric}|ci:percentile|seed:1",
    }


def _comparison(
    task: str, metric: str, arm: str, ref: str, values: dict, scale: float, verdict: str
) -> dict[str, Any]:
    if "a" in values:  # section_comparison: the arm and reference values given apart
        arm_value, ref_value = values["a"], values["r"]
    else:
        arm_value, ref_value = values[arm], values[ref]
    delta = arm_value - ref_value
    width = 0.03 if scale == 100 else 0.9
    return {
        "task": task,
        "metric": metric,
        "arm": arm,
        "reference_arm": ref,
        "reference_kind": "full" if ref == "full" else "base",
        "value": arm_value,
        "reference_value": ref_value,
        "delta": delta,
        "ci_low": delta - width,
        "ci_high": delta + width,
        "p_value": 0.001,
        "p_adjusted": 0.004,
        "test": "mcnemar_exact" if scale == 100 else "paired_permutation",
        "verdict": verdict,
        "reason": f"{verdict} because",
        "mde": 0.05 if scale == 100 else 1.1,
        "n": 200,
        "scale": scale,
        "higher_is_better": True,
        "signature": "sig",
    }


def section_comparison(
    task: str,
    arm: str,
    ref: str,
    delta: float,
    section: str,
    subject: dict,
    *,
    metric: str = "acc",
    verdict: str | None = None,
) -> dict[str, Any]:
    """A comparison record as a results section nests it (a proportion metric)."""
    row = _comparison(task, metric, arm, ref, {"a": 0.5 + delta, "r": 0.5}, 100.0, "")
    row.update(arm=arm, reference_arm=ref)
    row["verdict"] = verdict or _verdict(delta, 0.03, ref)
    row.update(
        section=section,
        subject=subject,
        significant=row["verdict"] in ("improved", "regressed"),
        correction_family=f"task {task}: {ref}→{arm} ({section})",
        family_size=2,
    )
    return row


def _verdict(delta: float, width: float, ref: str) -> str:
    if delta - width > 0:
        return "improved"
    if delta + width < 0:
        return "regressed"
    return "no significant difference"


def full_results() -> dict[str, Any]:
    """Every section of the contract, for 4 arms and 3 tasks plus a task group."""
    scores, comparisons = [], []
    for (task, metric), (values, scale) in VALUES.items():
        for arm, value in values.items():
            scores.append(_score(task, metric, arm, value, scale))
        width = 0.03 if scale == 100 else 0.9
        for arm, ref in (
            ("lora", "base"),
            ("qlora-r64", "base"),
            ("full", "base"),
            ("lora", "full"),
            ("qlora-r64", "full"),
        ):
            verdict = _verdict(values[arm] - values[ref], width, ref)
            comparisons.append(_comparison(task, metric, arm, ref, values, scale, verdict))
    results: dict[str, Any] = {
        "schema_version": "1",
        "arms": copy.deepcopy(ARMS),
        "tasks": [
            {
                "name": "intents",
                "kind": "multiple_choice",
                "metrics": ["acc", "f1_macro"],
                "labels": ["login", "billing"],
                "n_examples": 200,
                "source": "intents.yaml",
            },
            {
                "name": "summaries",
                "kind": "generate",
                "metrics": ["bleu"],
                "labels": [],
                "n_examples": 200,
                "source": "cnn_dailymail",
            },
            {
                "name": "mmlu_stem",
                "kind": "multiple_choice",
                "metrics": ["acc"],
                "labels": [],
                "n_examples": 200,
                "source": "cais/mmlu",
                "role": "guardrail",
            },
        ],
        "scores": scores,
        "comparisons": comparisons,
        "advice": [
            {
                "task": "intents",
                "metric": "acc",
                "arm": "qlora-r64",
                "gap_points": -7.0,
                "message": "qlora-r64 trails the full fine-tune by 7.0 points on intents acc.",
            }
        ],
        "classification": [
            {
                "task": "intents",
                "arm": arm,
                "labels": ["login", "billing"],
                "class_counts": {"login": 150, "billing": 50},
                "imbalance_ratio": 3.0,
                "imbalanced": True,
                "confusion_matrix": [[140, 10], [30, 20]],
                "predicted_outside_labels": [0, 0],
                "per_class": {
                    "login": {"precision": 0.82, "recall": 0.93, "f1": 0.87},
                    "billing": {"precision": 0.67, "recall": 0.4, "f1": 0.5},
                },
            }
            for arm in ("base", "lora", "qlora-r64", "full")
        ],
        "seed_groups": [],
        "generation": [
            {
                "task": "summaries",
                "arm": "base",
                "n": 200,
                "empty_predictions": 3,
                "generated_tokens": 25000,
                "finish_reasons": {"length": 180, "stop": 20},
            },
            {
                "task": "summaries",
                "arm": "lora",
                "n": 200,
                "empty_predictions": 0,
                "generated_tokens": 9000,
                "finish_reasons": {"length": 10, "stop": 190},
            },
        ],
        "statistics": {
            "confidence": 0.95,
            "bootstrap_resamples": 2000,
            "permutations": 10000,
            "ci_method": "percentile",
            "correction": "holm",
            "alpha": 0.05,
            "seed": 1234,
        },
        "task_groups": [
            {
                "name": "mmlu",
                "parent": None,
                "level": "group",
                "members": ["mmlu_stem"],
                "aggregations": ["micro", "macro"],
            },
            {
                "name": "mmlu_stem",
                "parent": "mmlu",
                "level": "category",
                "members": ["x"],
                "aggregations": ["micro"],
            },
        ],
        "robustness": [
            {
                "task": "intents",
                "arm": arm,
                "perturbation": "typo",
                "perturbation_signature": "s",
                "metric": "acc",
                "n": 200,
                "k": 3,
                "paired": True,
                "changed_share": 0.9,
                "clean": clean,
                "perturbed": clean - drop,
                "worst_of_k": clean - drop - 0.05,
                "ratio": (clean - drop) / clean,
                "brittle": (clean - drop) / clean < 0.9,
                "brittle_threshold": 0.9,
                "scale": 100.0,
                "higher_is_better": True,
                "under_perturbation": section_comparison(
                    "intents", arm, arm, -drop, "robustness", {"perturbation": "typo"}
                ),
                "vs_base": None
                if arm == "base"
                else section_comparison(
                    "intents", arm, "base", -0.1, "robustness", {"perturbation": "typo"}
                ),
            }
            for arm, clean, drop in (("base", 0.40, 0.02), ("lora", 0.80, 0.12))
        ],
        "slices": [
            {
                "task": "intents",
                "field": "channel",
                "slice": channel,
                "arm": arm,
                "metric": "acc",
                "n": 100,
                "value": value,
                "ci_low": value - 0.05,
                "ci_high": value + 0.05,
                "is_worst": channel == "chat",
                "scale": 100.0,
                "unit": "proportion",
                "higher_is_better": True,
                "vs_base": section_comparison(
                    "intents",
                    arm,
                    "base",
                    value - 0.4,
                    "slices",
                    {"field": "channel", "slice": channel},
                ),
                "task_delta_better": True,
                "regressed_while_task_improved": value < 0.4,
            }
            for channel, arm, value in (("email", "lora", 0.9), ("chat", "lora", 0.3))
        ],
        "slice_summary": [
            {
                "task": "intents",
                "field": "channel",
                "arm": "lora",
                "metric": "acc",
                "worst_slice": "chat",
                "best_slice": "email",
                "best_worst_gap": 0.6,
                "gap_ci_low": 0.5,
                "gap_ci_high": 0.7,
                "scale": 100.0,
                "note": "both slices are picked by their own estimates",
            }
        ],
        "calibration": [
            {
                "task": "intents",
                "arm": arm,
                "n": 200,
                "accuracy": acc,
                "mean_confidence": conf,
                "overconfidence": conf - acc,
                "overconfidence_ci_low": conf - acc - 0.02,
                "overconfidence_ci_high": conf - acc + 0.02,
                "ece": abs(conf - acc),
                "ece_equal_mass": 0.1,
                "n_bins": 15,
                "brier": 0.2,
                "nll": 0.6,
                "temperature": 1.7,
                "ece_after_temperature": 0.03,
                "n_validation": 100,
                "reliability": {
                    "bin_lower": [0.0, 0.5],
                    "bin_upper": [0.5, 1.0],
                    "count": [50, 150],
                    "mean_confidence": [0.4, 0.95],
                    "accuracy": [0.3, 0.7],
                },
                "overconfident": conf - acc > 0.1,
                "scale": 100.0,
                "message": f"{arm} is overconfident on intents" if conf - acc > 0.1 else "",
                "vs_base": {}
                if arm == "base"
                else {
                    "ece": section_comparison(
                        "intents", arm, "base", 0.1, "calibration", {}, metric="ece"
                    )
                },
            }
            for arm, acc, conf in (("base", 0.4, 0.45), ("lora", 0.8, 0.97))
        ],
        "training": [
            {
                "arm": "lora",
                "source": "trainer_state.json",
                "steps": [10, 20, 30, 40],
                "train_loss": [2.0, 1.2, 0.8, 0.5],
                "eval_loss": [2.1, 1.5, None, 1.7],
                "best_step": 20,
                "best_eval_loss": 1.5,
                "final_step": 40,
                "final_eval_loss": 1.7,
                "train_val_gap": -1.2,
                "overfitting": True,
                "message": "validation loss rose after step 20 while training loss fell",
            }
        ],
        "checkpoints": [
            {
                "series": "lora-steps",
                "task": "intents",
                "metric": "acc",
                "arms": ["lora", "qlora-r64"],
                "steps": [100, 200],
                "values": [0.8, 0.78],
                "validation_values": None,
                "selected_on": "test items",
                "best_arm": "lora",
                "best_step": 100,
                "last_is_best": False,
                "scale": 100.0,
                "higher_is_better": True,
                "last_vs_best": section_comparison(
                    "intents",
                    "qlora-r64",
                    "lora",
                    -0.02,
                    "checkpoints",
                    {"series": "lora-steps", "selected_on": "test items"},
                    verdict="no significant difference",
                ),
            }
        ],
        "contamination": [
            {
                "task": "intents",
                "source": "train.jsonl",
                "arms": ["lora"],
                "n": 200,
                "exact": 4,
                "near": 6,
                "threshold": 0.8,
                "ngram": 8,
                "duplicates_in_test": 2,
                "duplicate_groups": [["a", "b"]],
                "by_arm": [
                    {
                        "arm": "lora",
                        "metric": "acc",
                        "scale": 100.0,
                        "clean_n": 190,
                        "clean_value": 0.79,
                        "overlap_n": 10,
                        "overlap_value": 0.95,
                        "clean_vs_base": section_comparison(
                            "intents",
                            "lora",
                            "base",
                            0.39,
                            "contamination",
                            {"source": "train.jsonl", "subset": "clean"},
                        ),
                        "overlap_vs_base": section_comparison(
                            "intents",
                            "lora",
                            "base",
                            0.5,
                            "contamination",
                            {"source": "train.jsonl", "subset": "overlap"},
                        ),
                    }
                ],
            }
        ],
        "deployment": [
            {
                "task": "intents",
                "arm": "lora-int8",
                "form": "merged-int8",
                "source_arm": "lora",
                "metric": "acc",
                "value": 0.78,
                "source_value": 0.80,
                "scale": 100.0,
                "parity": {
                    **section_comparison(
                        "intents",
                        "lora-int8",
                        "lora",
                        -0.02,
                        "deployment",
                        {},
                        verdict="no significant difference",
                    ),
                    "non_inferiority": False,
                    "non_inferiority_margin": 0.01,
                },
                "held": False,
                "memory_bytes": 270_000_000,
                "source_memory_bytes": 500_000_000,
            }
        ],
        "truncation": [
            {
                "task": "mmlu_stem",
                "n": 200,
                "cut": 180,
                "share_cut": 0.9,
                "median_tokens_cut": 738.0,
                "max_tokens_cut": 10250,
                "question_cut": 150,
                "share_question_cut": 0.75,
                "max_length": 256,
                "fitted": 0,
                "fitted_field": None,
                "verdicts_withheld": True,
            }
        ],
        "judge": [
            {
                "task": "summaries",
                "arm": "lora",
                "opponent": "base",
                "judge": "judge-7b",
                "n": 200,
                "wins": 120,
                "ties": 20,
                "losses": 58,
                "unreadable": 2,
                "win_rate": 0.65,
                "lc_win_rate": 0.61,
                "mean_length": 310.0,
                "opponent_mean_length": 250.0,
            }
        ],
        "cost": [
            {
                "arm": "base",
                "kind": "base",
                "trainable_params": None,
                "total_params": 6_738_415_616,
                "size_on_disk_bytes": 13_476_839_424,
                "eval_wall_s": 120.5,
                "tokens": 50_000,
                "tokens_per_s": 415.0,
                "peak_memory_bytes": 15_000_000_000,
                "memory_kind": "cuda",
            },
            {
                "arm": "lora",
                "kind": "adapter",
                "trainable_params": 4_194_304,
                "total_params": 6_742_609_920,
                "size_on_disk_bytes": 16_794_200,
                "eval_wall_s": 130.0,
                "tokens": 50_000,
                "tokens_per_s": 384.6,
                "peak_memory_bytes": 15_100_000_000,
                "memory_kind": "cuda",
            },
            {
                "arm": "full",
                "kind": "full",
                "trainable_params": 6_738_415_616,
                "total_params": 6_738_415_616,
                "size_on_disk_bytes": 13_476_839_424,
                "eval_wall_s": 125.0,
                "tokens": 50_000,
                "tokens_per_s": 400.0,
                "peak_memory_bytes": 15_000_000_000,
                "memory_kind": "cuda",
            },
        ],
    }
    return results


def grouped_results(members: int = 6) -> dict[str, Any]:
    """``full_results`` whose category ``mmlu_stem`` holds ``members`` subject tasks, each
    with acc per arm, comparisons and calibration rows, as an MMLU run has."""
    results = full_results()
    names = [f"mmlu_subject_{i}" for i in range(members)]
    for group in results["task_groups"]:
        if group["name"] == "mmlu_stem":
            group["members"] = names
    for i, task in enumerate(names):
        values = {"base": 0.40 + 0.01 * i, "lora": 0.38, "qlora-r64": 0.41, "full": 0.46}
        results["tasks"].append(
            {
                "name": task,
                "kind": "multiple_choice",
                "metrics": ["acc"],
                "labels": [],
                "n_examples": 200,
                "source": "cais/mmlu",
                "groups": ["mmlu", "mmlu_stem"],
                "primary_metric": "acc",
            }
        )
        results["scores"] += [_score(task, "acc", a, v, 100.0) for a, v in values.items()]
        for arm, ref in (("lora", "base"), ("qlora-r64", "base"), ("full", "base")):
            verdict = _verdict(values[arm] - values[ref], 0.03, ref)
            results["comparisons"].append(
                _comparison(task, "acc", arm, ref, values, 100.0, verdict)
            )
        for row in [r for r in results["calibration"] if r["task"] == "intents"]:
            results["calibration"].append({**copy.deepcopy(row), "task": task})
    return results


def renamed(results: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``results`` with every string (and mapping key) equal to a key of ``names`` renamed:
    arms, tasks, labels, slices... to try long names on every table and chart."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return names.get(value, value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {names.get(k, k): walk(v) for k, v in value.items()}
        return value

    return walk(copy.deepcopy(results))


def all_table_cells(sections) -> list[str]:
    """Every cell text of every table in a document."""
    from fteval.report.document import Section, Table

    cells = []
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Table):
                cells += [str(c) for row in block.rows for c in row]
            elif isinstance(block, Section):
                cells += all_table_cells([block])
    return cells
