"""On a GPU machine: do the vLLM and HF backends agree per item, and how fast is each?

Runs the same config twice, ``--backend hf`` then ``--backend vllm`` (response cache
off, same dtype), into two run directories, then compares them item by item:

* log-likelihood tasks: per choice, |vLLM - HF| log-likelihood; the share within
  ``--tolerance`` (default 1e-3 nats) and the largest difference; predictions agreeing;
* generation tasks: the share of items whose greedy output is the same text;
* throughput: items x arms per second of inference, from each manifest's timings.

    python benchmarks/vllm_agreement.py --base MODEL [--adapter NAME=PATH ...] \\
        [--full PATH] --task TASK [--task ...] [--limit 500] [--dtype bfloat16]

Exit status 0 when every log-likelihood is within tolerance and at least
``--min-greedy`` of the greedy outputs agree; 1 otherwise; 2 when vLLM is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--adapter", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--full")
    parser.add_argument("--task", action="append", required=True)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--min-greedy", type=float, default=0.9)
    parser.add_argument("--out", help="keep the two run directories here")
    args = parser.parse_args()
    try:
        import vllm  # noqa: F401
    except ModuleNotFoundError:
        print(
            "vllm is not installed: pip install 'fteval[vllm]' on a machine with a CUDA GPU "
            "(vLLM needs a CUDA build of torch)",
            file=sys.stderr,
        )
        return 2
    from fteval.config import build_config, parse_adapter_flags
    from fteval.pipeline.run import execute

    root = Path(args.out or tempfile.mkdtemp(prefix="fteval-vllm-"))
    common = {
        "base": args.base, "adapters": parse_adapter_flags(args.adapter), "full": args.full,
        "tasks": args.task, "limit": args.limit, "dtype": args.dtype, "cache_dir": "off",
        "bootstrap_resamples": 200, "permutations": 200,
    }  # fmt: skip
    runs = {}
    for backend in ("hf", "vllm"):
        out = root / backend
        extra = {"device": "cuda"} if backend == "hf" else {}
        execute(build_config({**common, "backend": backend, "out": str(out), **extra}))
        runs[backend] = out
    return report(runs["hf"], runs["vllm"], args.tolerance, args.min_greedy)


def samples(run: Path) -> dict[tuple[str, str, str], dict]:
    lines = (run / "samples.jsonl").read_text().splitlines()
    return {(s["task"], s["arm"], s["example_id"]): s for s in map(json.loads, lines)}


def throughput(run: Path, n_samples: int) -> float:
    manifest = json.loads((run / "manifest.json").read_text())
    seconds = sum(manifest["timings_s"]["inference"].values())
    return n_samples / seconds if seconds else float("nan")


def report(hf: Path, vllm: Path, tolerance: float, min_greedy: float) -> int:
    ours, theirs = samples(vllm), samples(hf)
    deltas, same_prediction, same_text, generated = [], 0, 0, 0
    for key, reference in theirs.items():
        answer = ours[key]
        if reference.get("choice_logprobs") is not None:
            deltas += [
                abs(a - b) for a, b in zip(answer["choice_logprobs"], reference["choice_logprobs"])
            ]
            same_prediction += answer["prediction"] == reference["prediction"]
        elif reference.get("generation") is not None:
            generated += 1
            same_text += answer["generation"] == reference["generation"]
    scored = len(theirs) - generated
    within = sum(d <= tolerance for d in deltas)
    print(f"items x arms: {len(theirs)} ({scored} log-likelihood, {generated} generation)")
    if deltas:
        print(
            f"log-likelihood: {within}/{len(deltas)} choices within {tolerance:g} nats; "
            f"max |Δ| {max(deltas):.2e}; same prediction {same_prediction}/{scored}"
        )
    if generated:
        print(f"greedy generation: same text on {same_text}/{generated} items")
    print(
        f"throughput (items x arms per inference second): HF {throughput(hf, len(theirs)):.1f}, "
        f"vLLM {throughput(vllm, len(ours)):.1f}"
    )
    greedy_ok = not generated or same_text / generated >= min_greedy
    return 0 if within == len(deltas) and greedy_ok else 1


if __name__ == "__main__":
    sys.exit(main())
