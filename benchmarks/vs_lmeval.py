"""fteval against lm-evaluation-harness, side by side, on the same models and items.

For each workload, fteval evaluates base + LoRA + full fine-tune in one run (response
cache off) and lm-evaluation-harness runs three times (one per arm, the adapter through
its ``peft=`` argument), one process after the other on this machine. Printed per
workload: the wall-time ratio (fteval / the sum of lm-eval's three), the peak-RSS ratio
(fteval / lm-eval's largest), the largest per-item log-likelihood difference, and
whether predictions and accuracies are equal. Then: a second fteval run adding one adapter
(base and first adapter from the cache) as a share of the first, a run answered wholly
from the cache, fteval's peak RSS against the base + full weights, and the statistics
stage for 14,000 items x 10 metrics x 3 arms.

What is built, all locally and cached under ``--workdir`` (default
``~/.cache/fteval-bench``):

* lm-evaluation-harness (``--lmeval-version``, default 0.4.13) in its own virtual
  environment, with the CPU build of the torch fteval runs on and the same transformers
  and peft versions (equal numerics); never a dependency of fteval.
* A byte-level BPE tokenizer trained with ``tokenizers`` on the Python standard
  library's source (``--vocab`` tokens: 50,000 for the GPT-2 shape, 32,000 for the Llama
  shape), so the LM head costs what it costs in real models.
* Randomly initialised models (``--shape gpt2|llama``; ``--size small`` is GPT-2 small:
  12 layers, width 768, ~100M parameters), a LoRA adapter (rank 16 on the attention
  projections, non-zero), a second adapter, and a "full fine-tune" (the base plus noise),
  saved with safetensors.
* Items generated from the same text (seeded): MMLU-style questions with letter answers
  (single-token choices), the same with answer texts as choices (multi-token), documents
  for rolling perplexity, and prompts for greedy generation with a stop string.

Guardrails: per-item log-likelihoods within 1e-4 of lm-eval's (float32); for rolling
perplexity, whose per-document sums run to thousands of nats (where one float32 step of
lm-eval's own summation is above 1e-4), within 1e-6 of the document's log-likelihood.
Predictions (choice argmax, generated text) and accuracies must be equal.

Both sides score the same tokens: lm-eval gets ``add_bos_token=False`` (fteval's
``--add-bos-token false``), the same ``max_length``, batch size and dtype (float32).

Run ``python benchmarks/vs_lmeval.py`` for the full measurement (tens of minutes on a
few CPU cores), or ``--size tiny --items 12`` to check that everything runs. Timings mean
something only on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

WORKLOADS = ("single", "multi", "rolling", "generate", "adapter", "cached", "stats")
TARGETS = {  # fteval / lm-eval wall time, by workload
    "single": 0.60,
    "multi": 0.50,
    "rolling": 0.85,
    "generate": 0.80,
}
ADAPTER_TARGET = 0.55  # second run (one adapter added) / first run
RSS_TARGET = 1.10  # fteval peak RSS / (base + full weight bytes)
CACHED_TARGET_S = 2.0
STATS_SHARE_TARGET = 0.10
LOGPROB_GUARDRAIL = 1e-4
LETTERS = ("A", "B", "C", "D")

SIZES = {  # shape -> size -> config
    "gpt2": {
        "small": {"n_layer": 12, "n_embd": 768, "n_head": 12},
        "tiny": {"n_layer": 2, "n_embd": 64, "n_head": 2},
    },
    "llama": {
        "small": {
            "num_hidden_layers": 12,
            "hidden_size": 768,
            "intermediate_size": 2048,
            "num_attention_heads": 12,
            "num_key_value_heads": 12,
        },
        "tiny": {
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
        },
    },
}
DEFAULT_VOCAB = {("gpt2", "small"): 50000, ("llama", "small"): 32000}


# ---- settings ----


@dataclass(frozen=True)
class Settings:
    """What one benchmark run measures."""

    shape: str
    size: str
    vocab: int
    items: int
    docs: int
    context_words: int
    doc_words: int
    gen_tokens: int
    batch_size: int
    max_length: int
    threads: int | None
    workloads: tuple[str, ...]
    workdir: Path
    lmeval_version: str
    seed: int = 0

    @property
    def tag(self) -> str:
        return f"{self.shape}-{self.size}-v{self.vocab}"


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SIZES), default="gpt2")
    parser.add_argument("--size", choices=["small", "tiny"], default="small")
    parser.add_argument("--vocab", type=int, help="BPE vocabulary (default 50000 / 32000)")
    parser.add_argument("--items", type=int, default=400, help="items per choice/gen task")
    parser.add_argument("--docs", type=int, help="documents for rolling perplexity")
    parser.add_argument("--context-words", type=int, default=220, help="words per question")
    parser.add_argument("--doc-words", type=int, default=1500, help="words per document")
    parser.add_argument("--gen-tokens", type=int, default=32, help="max new tokens")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--threads", type=int, help="CPU threads for both tools")
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help=f"comma-separated: {WORKLOADS}"
    )
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "fteval-bench")
    parser.add_argument("--lmeval-version", default="0.4.13")
    args = parser.parse_args(argv)
    workloads = tuple(w for w in args.workloads.split(",") if w)
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; known: {WORKLOADS}")
    vocab = args.vocab or DEFAULT_VOCAB.get((args.shape, args.size), 2000)
    return Settings(
        shape=args.shape,
        size=args.size,
        vocab=vocab,
        items=args.items,
        docs=args.docs or max(4, args.items // 8),
        context_words=args.context_words,
        doc_words=args.doc_words,
        gen_tokens=args.gen_tokens,
        batch_size=args.batch_size,
        max_length=args.max_length,
        threads=args.threads,
        workloads=workloads,
        workdir=args.workdir.expanduser(),
        lmeval_version=args.lmeval_version,
    )


# ---- lm-evaluation-harness in its own environment ----


def lmeval_python(settings: Settings) -> Path:
    """The benchmark venv's python, with lm-eval installed (created once)."""
    venv = settings.workdir / f"lmeval-{settings.lmeval_version}"
    python = venv / "bin" / "python"
    marker = venv / ".fteval-bench-ready"
    if marker.is_file():
        return python
    print(f"installing lm-evaluation-harness {settings.lmeval_version} into {venv}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    torch_version = metadata.version("torch").split("+")[0]
    # the CPU build first (the local one); lm-eval's own torch requirement is then met
    subprocess.run([*pip, f"torch=={torch_version}"], check=True)
    same = [f"{p}=={metadata.version(p)}" for p in ("transformers", "peft")]
    subprocess.run([*pip, f"lm-eval=={settings.lmeval_version}", *same], check=True)
    installed = subprocess.run(
        [str(python), "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if installed[1] != "None" and "+cpu" not in installed[0]:
        raise SystemExit(f"{venv}: pip installed a CUDA torch ({installed}); remove the venv")
    marker.write_text(json.dumps({"torch": installed[0], "lm_eval": settings.lmeval_version}))
    return python


# ---- assets: tokenizer, models, adapters ----


def corpus_files() -> list[Path]:
    """The Python standard library's sources: real text, on every machine, offline."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in stdlib.rglob("*.py") if "test" not in p.parts)


def corpus_texts() -> list[str]:
    """Each readable standard-library source file's text."""
    texts = []
    for path in corpus_files():
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return texts


def corpus_sentences(limit_chars: int = 6_000_000) -> list[str]:
    """Comment and docstring lines of the standard library, as plain sentences."""
    sentences, size = [], 0
    for path in corpus_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for line in text.splitlines():
            line = line.strip().lstrip("#").strip()
            words = re.findall(r"[A-Za-z][A-Za-z'-]*", line)
            if len(words) >= 6 and line[:1].isalpha():
                sentence = " ".join(words) + "."
                sentences.append(sentence)
                size += len(sentence)
        if size > limit_chars:
            break
    return sentences


def train_tokenizer(folder: Path, vocab: int, shape: str) -> Any:
    """A byte-level BPE of ``vocab`` tokens trained on the standard library's source."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<pad>"] if shape == "gpt2" else ["<s>", "</s>", "<pad>", "<unk>"]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(corpus_texts(), trainer)
    if shape == "gpt2":
        named = {"bos_token": specials[0], "eos_token": specials[0], "pad_token": "<pad>"}
    else:
        named = {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "pad_token": "<pad>",
            "unk_token": "<unk>",
        }
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, **named)
    tokenizer.save_pretrained(folder)
    return tokenizer


def model_config(settings: Settings, tokenizer: Any) -> Any:
    from transformers import GPT2Config, LlamaConfig

    common = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "initializer_range": 0.08,  # spread-out logits: greedy choices are not near-ties
    }
    shape = SIZES[settings.shape][settings.size]
    if settings.shape == "gpt2":
        return GPT2Config(n_positions=settings.max_length, **shape, **common)
    return LlamaConfig(
        max_position_embeddings=settings.max_length, tie_word_embeddings=True, **shape, **common
    )


def build_assets(settings: Settings) -> dict[str, Path]:
    """base/, lora/, lora2/, full/ under workdir/assets/<tag> (built once)."""
    root = settings.workdir / "assets" / f"{settings.tag}-L{settings.max_length}"
    paths = {name: root / name for name in ("base", "lora", "lora2", "full")}
    if (root / ".ready").is_file():
        return paths
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    shutil.rmtree(root, ignore_errors=True)
    print(f"building models under {root}", flush=True)
    tokenizer = train_tokenizer(paths["base"], settings.vocab, settings.shape)
    torch.manual_seed(settings.seed)
    base = AutoModelForCausalLM.from_config(model_config(settings, tokenizer))
    base.save_pretrained(paths["base"])
    with torch.no_grad():
        for param in base.parameters():
            param.add_(0.01 * torch.randn_like(param))
    base.save_pretrained(paths["full"])
    tokenizer.save_pretrained(paths["full"])
    targets = (
        ["c_attn", "c_proj"]
        if settings.shape == "gpt2"
        else ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    for offset, name in enumerate(("lora", "lora2"), start=1):
        torch.manual_seed(settings.seed + offset)
        model = AutoModelForCausalLM.from_pretrained(paths["base"])
        lora = LoraConfig(
            r=16,
            lora_alpha=32,
            target_modules=targets,
            init_lora_weights=False,
            fan_in_fan_out=settings.shape == "gpt2",
            task_type="CAUSAL_LM",
        )
        wrapped = get_peft_model(model, lora)
        with torch.no_grad():
            for key, param in wrapped.named_parameters():
                if "lora_B" in key:
                    param.mul_(0.05)
        wrapped.save_pretrained(paths[name])
        config = json.loads((paths[name] / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = str(paths["base"])
        (paths[name] / "adapter_config.json").write_text(json.dumps(config))
    (root / ".ready").write_text("ok")
    return paths


def weight_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


# ---- items ----


def build_items(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Seeded items of each workload, from the corpus sentences."""
    rng = random.Random(settings.seed)
    sentences = corpus_sentences()
    words = [w for s in sentences[:20000] for w in s.rstrip(".").split()]

    def passage(n_words: int) -> str:
        out: list[str] = []
        while len(" ".join(out).split()) < n_words:
            out.append(rng.choice(sentences))
        return " ".join(out)

    def phrase(lo: int, hi: int) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))

    single, multi, generate = [], [], []
    for i in range(settings.items):
        question = f"{passage(settings.context_words)}\nQuestion: {phrase(6, 12)}?"
        options = [phrase(1, 8) for _ in LETTERS]
        gold = rng.randrange(len(LETTERS))
        listed = "\n".join(f"{letter}. {text}" for letter, text in zip(LETTERS, options))
        single.append(
            {
                "id": f"i{i}",
                "prompt": f"{question}\n{listed}\nAnswer:",
                "label": LETTERS[gold],
                "gold": gold,
            }
        )
        multi.append(
            {
                "id": f"i{i}",
                "prompt": f"{question}\nAnswer:",
                "options": options,
                "label": gold,
                "gold": gold,
            }
        )
        generate.append(
            {
                "id": f"i{i}",
                "prompt": f"{passage(settings.context_words // 2)}\nQ: {phrase(4, 8)}?\nA:",
                "answer": phrase(1, 3),
            }
        )
    rolling = [{"id": f"d{i}", "text": passage(settings.doc_words)} for i in range(settings.docs)]
    return {"single": single, "multi": multi, "rolling": rolling, "generate": generate}


def write_tasks(settings: Settings, folder: Path) -> dict[str, dict[str, Path]]:
    """Data, fteval task YAML and lm-eval task YAML per workload (same JSONL for both)."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    items = build_items(settings)
    out: dict[str, dict[str, Path]] = {}
    for name, rows in items.items():
        data = folder / f"{name}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        fteval_spec, lmeval_spec = task_specs(name, data, settings)
        fteval_path = folder / f"fteval_{name}.yaml"
        fteval_path.write_text(yaml.safe_dump(fteval_spec, sort_keys=False))
        lmeval_dir = folder / "lmeval"
        lmeval_dir.mkdir(exist_ok=True)
        (lmeval_dir / f"bench_{name}.yaml").write_text(yaml.safe_dump(lmeval_spec, sort_keys=False))
        out[name] = {"data": data, "fteval": fteval_path, "lmeval_dir": lmeval_dir}
    return out


def task_specs(name: str, data: Path, settings: Settings) -> tuple[dict, dict]:
    """The fteval and lm-eval task definitions of one workload over ``data``."""
    lmeval: dict[str, Any] = {
        "task": f"bench_{name}",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
    }
    fteval: dict[str, Any] = {"name": f"bench_{name}", "data": str(data), "id_field": "id"}
    if name == "single":
        fteval.update(
            template="{prompt}",
            choices=list(LETTERS),
            label_field="label",
            metrics=["acc", "acc_norm"],
        )
        lmeval.update(
            output_type="multiple_choice",
            doc_to_text="{{prompt}}",
            doc_to_choice=list(LETTERS),
            doc_to_target="{{gold}}",
            metric_list=[{"metric": "acc"}, {"metric": "acc_norm"}],
        )
    elif name == "multi":
        fteval.update(
            template="{prompt}",
            choices_field="options",
            label_field="label",
            metrics=["acc", "acc_norm"],
        )
        lmeval.update(
            output_type="multiple_choice",
            doc_to_text="{{prompt}}",
            doc_to_choice="{{options}}",
            doc_to_target="{{gold}}",
            metric_list=[{"metric": "acc"}, {"metric": "acc_norm"}],
        )
    elif name == "rolling":
        fteval.update(type="perplexity", text_field="text", metrics=["perplexity", "cross_entropy"])
        lmeval.update(
            output_type="loglikelihood_rolling",
            doc_to_text="",
            doc_to_target="{{text}}",
            metric_list=[{"metric": "word_perplexity"}],
        )
    else:
        fteval.update(
            type="generate",
            template="{prompt}",
            reference_field="answer",
            stop=["\n"],
            max_new_tokens=settings.gen_tokens,
            metrics=["exact_match"],
        )
        lmeval.update(
            output_type="generate_until",
            doc_to_text="{{prompt}}",
            doc_to_target="{{answer}}",
            target_delimiter=" ",
            generation_kwargs={
                "until": ["\n"],
                "do_sample": False,
                "max_gen_toks": settings.gen_tokens,
            },
            metric_list=[{"metric": "exact_match"}],
        )
    return fteval, lmeval


# ---- running and measuring ----


@dataclass
class Measured:
    """Wall time (s) and peak resident memory (bytes) of one child process."""

    wall_s: float
    peak_rss: int
    output: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def measure(command: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run ``command``; its wall time and peak resident memory.

    The peak is the child's ``VmRSS`` polled every 10 ms, not ``ru_maxrss``: that one
    keeps what the child inherited from this process before ``exec`` (this process holds
    torch after building the models), and fteval resets the kernel's high-water mark
    before each arm (to report each arm's own peak).
    """
    began = time.monotonic()
    polled = [0]
    with log.open("w") as handle:
        child = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        done = threading.Event()
        watcher = threading.Thread(target=_poll_rss, args=(child.pid, polled, done), daemon=True)
        watcher.start()
        _, status = os.waitpid(child.pid, 0)
        done.set()
        watcher.join()
    wall = time.monotonic() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"{command[:4]} failed ({child.returncode}); log {log}:\n{tail}")
    return Measured(wall, polled[0], log.read_text(errors="replace"))


def _poll_rss(pid: int, peak: list[int], done: threading.Event) -> None:
    status = Path(f"/proc/{pid}/status")
    while not done.is_set():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak[0] = max(peak[0], int(line.split()[1]) * 1024)
        except (OSError, ValueError):
            return
        done.wait(0.01)


def child_env(settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_DATASETS_CACHE": str(settings.workdir / "hf-datasets"),
    }
    if settings.threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(settings.threads)
    return env


def run_fteval(
    settings: Settings,
    paths: dict[str, Path],
    task: Path,
    out: Path,
    *,
    adapters: dict[str, Path],
    full: bool = True,
    cache: Path | None = None,
) -> Measured:
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "fteval",
        "run",
        "--base",
        str(paths["base"]),
        "--task",
        str(task),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--batch-size",
        str(settings.batch_size),
        "--max-length",
        str(settings.max_length),
        "--add-bos-token",
        "false",
        "--cache-dir",
        str(cache) if cache else "off",
        "--quiet",
    ]
    for name, path in adapters.items():
        command += ["--adapter", f"{name}={path}"]
    if full:
        command += ["--full", str(paths["full"])]
    if settings.threads:
        command += ["--threads", str(settings.threads)]
    env = child_env(settings)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).parents[1] / "src"), env.get("PYTHONPATH")])
    )
    measured = measure(command, env, out.parent / f"{out.name}.log")
    manifest = json.loads((out / "manifest.json").read_text())
    measured.extra = {
        "manifest": manifest,
        "results": json.loads((out / "results.json").read_text()),
    }
    return measured


def run_lmeval(
    settings: Settings,
    python: Path,
    paths: dict[str, Path],
    task: dict[str, Path],
    name: str,
    arm: str,
    out: Path,
) -> Measured:
    shutil.rmtree(out, ignore_errors=True)
    pretrained = paths["full"] if arm == "full" else paths["base"]
    model_args = (
        f"pretrained={pretrained},dtype=float32,add_bos_token=False,"
        f"max_length={settings.max_length}"
    )
    if arm == "lora":
        model_args += f",peft={paths['lora']}"
    command = [
        str(python),
        "-m",
        "lm_eval",
        "run",
        "--model",
        "hf",
        "--model_args",
        model_args,
        "--tasks",
        f"bench_{name}",
        "--include_path",
        str(task["lmeval_dir"]),
        "--batch_size",
        str(settings.batch_size),
        "--device",
        "cpu",
        "--output_path",
        str(out),
        "--log_samples",
    ]
    measured = measure(command, child_env(settings), out.parent / f"{out.name}.log")
    samples = sorted(out.rglob(f"samples_bench_{name}_*.jsonl"))
    results = sorted(out.rglob("results_*.json"))
    if not samples or not results:
        raise SystemExit(f"lm-eval wrote no samples/results under {out}")
    rows = [json.loads(line) for line in samples[-1].read_text().splitlines() if line.strip()]
    measured.extra = {"samples": rows, "results": json.loads(results[-1].read_text())}
    return measured


# ---- comparing ----


def fteval_items(run: Measured, name: str) -> dict[str, dict[str, Any]]:
    """arm -> example index -> (log-likelihoods | generation, prediction)."""
    out: dict[str, dict[str, Any]] = {}
    run_dir = Path(run.extra["manifest"]["config"]["out"])
    for line in (run_dir / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        index = int(sample["example_id"][1:])
        if name in ("single", "multi"):
            value = (sample["choice_logprobs"], argmax(sample["choice_logprobs"]))
        elif name == "rolling":
            value = ([sample["prediction"]["logprob"]], None)
        else:
            value = (None, sample["generation"])
        out.setdefault(sample["arm"], {})[index] = value
    return out


def lmeval_items(run: Measured, name: str) -> dict[int, Any]:
    """example index -> (log-likelihoods | None, prediction)."""
    out: dict[int, Any] = {}
    for sample in run.extra["samples"]:
        filtered = sample["filtered_resps"]
        if name in ("single", "multi"):
            logprobs = [float(r[0]) for r in filtered]
            out[int(sample["doc_id"])] = (logprobs, argmax(logprobs))
        elif name == "rolling":
            value = filtered[0] if isinstance(filtered, list) else filtered
            value = value[0] if isinstance(value, list) else value
            out[int(sample["doc_id"])] = ([float(value)], None)
        else:
            text = filtered[0] if isinstance(filtered, list) else filtered
            out[int(sample["doc_id"])] = (None, text)
    return out


def argmax(values: list[float]) -> int:
    """Index of the largest value; the first wins ties (as both tools do)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


def compare(name: str, ours: Measured, theirs: dict[str, Measured]) -> dict[str, Any]:
    """Largest |Δ log-likelihood| (absolute, and relative to the item's log-likelihood),
    differing predictions, and accuracy agreement, over every arm and item."""
    mine = fteval_items(ours, name)
    worst = worst_relative = 0.0
    differing, accuracy = [], {}
    for arm, run in theirs.items():
        for index, (logprobs, prediction) in lmeval_items(run, name).items():
            our_logprobs, our_prediction = mine[arm][index]
            if logprobs is not None:
                for a, b in zip(our_logprobs, logprobs):
                    worst = max(worst, abs(a - b))
                    worst_relative = max(worst_relative, abs(a - b) / max(1.0, abs(b)))
            if prediction is not None and prediction != our_prediction:
                differing.append(f"{arm}/{index}")
        accuracy[arm] = accuracy_pair(name, arm, ours, run)
    equal = all(a is None or math.isclose(a[0], a[1], abs_tol=1e-12) for a in accuracy.values())
    return {
        "max_abs_logprob_delta": worst,
        "max_relative_logprob_delta": worst_relative,
        "same_predictions": not differing,
        "differing_predictions": differing,
        "accuracy": accuracy,
        "accuracy_equal": equal,
    }


def within_guardrail(row: dict[str, Any]) -> bool:
    """|Δ| <= 1e-4 per item; for rolling perplexity (a document's log-likelihood runs to
    thousands of nats, where one float32 step of lm-eval's own sum exceeds 1e-4) relative
    to the document's log-likelihood."""
    if row["workload"] == "rolling":
        return row["max_relative_logprob_delta"] <= LOGPROB_GUARDRAIL / 100
    return row["max_abs_logprob_delta"] <= LOGPROB_GUARDRAIL


def accuracy_pair(name: str, arm: str, ours: Measured, run: Measured) -> tuple[float, float] | None:
    metric = {"single": "acc", "multi": "acc", "generate": "exact_match"}.get(name)
    if metric is None:
        return None
    mine = next(
        s["value"]
        for s in ours.extra["results"]["scores"]
        if s["arm"] == arm and s["metric"] == metric
    )
    task = run.extra["results"]["results"][f"bench_{name}"]
    key = next(k for k in task if k.split(",")[0] == metric)
    return float(mine), float(task[key])


# ---- the workloads ----


def side_by_side(settings, python, paths, tasks, name, root) -> dict[str, Any]:
    print(f"[{name}] fteval three-way run", flush=True)
    ours = run_fteval(
        settings,
        paths,
        tasks[name]["fteval"],
        root / f"fteval_{name}",
        adapters={"lora": paths["lora"]},
    )
    theirs = {}
    for arm in ("base", "lora", "full"):
        print(f"[{name}] lm-eval, arm {arm}", flush=True)
        theirs[arm] = run_lmeval(
            settings, python, paths, tasks[name], name, arm, root / f"lmeval_{name}_{arm}"
        )
    their_wall = sum(m.wall_s for m in theirs.values())
    their_rss = max(m.peak_rss for m in theirs.values())
    manifest = ours.extra["manifest"]
    timings = manifest.get("timings_s", {})
    row = {
        "workload": name,
        "fteval_s": round(ours.wall_s, 2),
        "lmeval_s": round(their_wall, 2),
        "time_ratio": ours.wall_s / their_wall,
        "target": TARGETS[name],
        "fteval_rss": ours.peak_rss,
        "lmeval_rss": their_rss,
        "rss_ratio": ours.peak_rss / their_rss,
        "token_counts": manifest.get("token_counts"),
        "stats_s": timings.get("results"),
        "fteval_total_s": timings.get("total"),
        **compare(name, ours, theirs),
    }
    return row


def adapter_rerun(settings, paths, tasks, root) -> dict[str, Any]:
    """First run base + lora (fresh cache), second adds lora2 (base, lora from the cache)."""
    cache = root / "adapter_cache"
    shutil.rmtree(cache, ignore_errors=True)
    task = tasks["multi"]["fteval"]
    print("[adapter] first run: base + lora", flush=True)
    first = run_fteval(
        settings,
        paths,
        task,
        root / "adapter_first",
        adapters={"lora": paths["lora"]},
        full=False,
        cache=cache,
    )
    print("[adapter] second run: base + lora + lora2", flush=True)
    second = run_fteval(
        settings,
        paths,
        task,
        root / "adapter_second",
        adapters={"lora": paths["lora"], "lora2": paths["lora2"]},
        full=False,
        cache=cache,
    )
    print("[cached] the second run again: every answer from the cache", flush=True)
    third = run_fteval(
        settings,
        paths,
        task,
        root / "adapter_cached",
        adapters={"lora": paths["lora"], "lora2": paths["lora2"]},
        full=False,
        cache=cache,
    )
    misses = sum(s["misses"] for s in third.extra["manifest"]["response_cache"].values())
    return {
        "first_s": first.wall_s,
        "second_s": second.wall_s,
        "ratio": second.wall_s / first.wall_s,
        "cached_s": third.wall_s,
        "cached_misses": misses,
    }


def stats_stage(per_item_s: float | None) -> dict[str, Any]:
    """The statistics stage for 14,000 items x 10 metrics x 3 arms (fake backend)."""
    import tempfile

    import yaml

    import fteval
    from fteval.backends.fake import FakeBackend
    from fteval.records import ArmSpec

    rng = random.Random(0)
    labels = list("abcd")
    metrics = [
        "acc",
        "acc_norm",
        "f1_macro",
        "f1_micro",
        "f1_weighted",
        "precision_macro",
        "precision_weighted",
        "recall_macro",
        "recall_weighted",
        "precision_micro",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [
            {"id": f"r{i}", "text": f"item {i}", "label": rng.choice(labels)} for i in range(14_000)
        ]
        (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / "task.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": "big",
                    "data": "data.jsonl",
                    "id_field": "id",
                    "template": "Q: {text}\nA:",
                    "choices": labels,
                    "label_field": "label",
                    "metrics": metrics,
                }
            )
        )
        arms = [
            ArmSpec("base", "base", "b", "base"),
            ArmSpec("lora", "adapter", "l", "lora"),
            ArmSpec("full", "full", "f", "full"),
        ]
        fteval.evaluate(
            "b",
            adapters={"lora": "l"},
            full="f",
            tasks=[str(folder / "task.yaml")],
            backend=FakeBackend(arms, skill={"lora": 0.3, "full": 0.4}),
            out=folder / "run",
            progress=False,
        )
        manifest = json.loads((folder / "run" / "manifest.json").read_text())
    stats_s = manifest["timings_s"]["results"]
    out: dict[str, Any] = {"stats_s": stats_s}
    if per_item_s:
        inference = per_item_s * 14_000
        out.update(inference_s_estimate=inference, share=stats_s / (stats_s + inference))
    return out


# ---- report ----


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def report(settings: Settings, rows: list[dict[str, Any]], extra: dict[str, Any], paths) -> str:
    lines = [
        f"fteval vs lm-evaluation-harness {settings.lmeval_version} — {settings.tag}, "
        f"{settings.items} items, batch {settings.batch_size}, max_length "
        f"{settings.max_length}, threads {settings.threads or 'auto/default'}, "
        f"{os.cpu_count()} CPUs",
        "",
        "| workload | fteval s | lm-eval s (3 runs) | time ratio | target | RSS ratio "
        "| max abs Δ logprob | same predictions | accuracy equal | executed/minimum |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for row in rows:
        counts = row.get("token_counts") or {}
        ratios = [k.get("executed_per_minimum") for arm in counts.values() for k in arm.values()]
        ratio = max((r for r in ratios if r), default=None)
        verdict = "ok" if row["time_ratio"] <= row["target"] else "MISSED"
        guard = "ok" if within_guardrail(row) else "OVER"
        lines.append(
            f"| {row['workload']} | {row['fteval_s']:.1f} | {row['lmeval_s']:.1f} | "
            f"{row['time_ratio']:.2f}x ({verdict}) | <= {row['target']:.2f}x | "
            f"{row['rss_ratio']:.2f} | {row['max_abs_logprob_delta']:.2e} "
            f"(rel {row['max_relative_logprob_delta']:.1e}, {guard}) | "
            f"{row['same_predictions']} | {row['accuracy_equal']} | "
            f"{ratio if ratio is not None else '-'} |"
        )
    weights = weight_bytes(paths["base"]) + weight_bytes(paths["full"])
    if rows:
        peak = max(r["fteval_rss"] for r in rows)
        lines += [
            "",
            f"peak RSS of fteval: {mib(peak)} = {peak / weights:.2f} x base + full "
            f"weights ({mib(weights)}); target <= {RSS_TARGET:.2f}x",
        ]
    if "adapter" in extra:
        a = extra["adapter"]
        lines += [
            f"second run adding one adapter: {a['second_s']:.1f} s = {a['ratio']:.2f} x "
            f"the first ({a['first_s']:.1f} s); target <= {ADAPTER_TARGET:.2f}x",
            f"run answered from the cache: {a['cached_s']:.2f} s ({a['cached_misses']} "
            f"misses); target <= {CACHED_TARGET_S:.1f} s",
        ]
    if "stats" in extra:
        s = extra["stats"]
        share = ""
        if "share" in s:
            share = (
                f", {s['share']:.1%} of a run whose inference takes "
                f"~{s['inference_s_estimate']:.0f} s (the single-token workload's fteval "
                "time per item x 14,000)"
            )
        lines.append(
            f"statistics for 14,000 items x 10 metrics x 3 arms: {s['stats_s']:.1f} s"
            f"{share}; target < {STATS_SHARE_TARGET:.0%}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    settings.workdir.mkdir(parents=True, exist_ok=True)
    paths = build_assets(settings)
    root = settings.workdir / "runs" / settings.tag
    root.mkdir(parents=True, exist_ok=True)
    tasks = write_tasks(settings, root / "tasks")
    side = [w for w in settings.workloads if w in TARGETS]
    python = lmeval_python(settings) if side else None
    rows = [side_by_side(settings, python, paths, tasks, name, root) for name in side]
    extra: dict[str, Any] = {}
    if "adapter" in settings.workloads or "cached" in settings.workloads:
        extra["adapter"] = adapter_rerun(settings, paths, tasks, root)
    if "stats" in settings.workloads:
        single = next((r for r in rows if r["workload"] == "single"), None)
        per_item = single["fteval_s"] / settings.items if single else None
        extra["stats"] = stats_stage(per_item)
    text = report(settings, rows, extra, paths)
    print("\n" + text)
    saved = root / f"report-{time.strftime('%Y%m%d-%H%M%S')}.json"
    saved.write_text(
        json.dumps(
            {
                "settings": {k: str(v) for k, v in vars(settings).items()},
                "rows": rows,
                "extra": extra,
                "table": text,
            },
            default=str,
            indent=2,
        )
    )
    print(f"\nsaved {saved}")


if __name__ == "__main__":
    main()
