"""Does a served model answer like its local weights? Per item, for your own deployment.

    python benchmarks/server_agreement.py URL MODEL LOCAL_PATH [--tokenizer PATH]
        [--items FILE.jsonl] [--limit 40] [--request-option KEY=VALUE ...]
        [--tolerance 1e-3] [--device cpu] [--dtype float32] [--max-new-tokens 16]

URL is the server's OpenAI-compatible base (``http://localhost:8000/v1``), MODEL the name
it serves the model under, LOCAL_PATH the same weights on disk. The script

1. probes the server as ``fteval run --backend openai`` does (echoed log-probabilities
   against generated ones, the tokenizer's token count against the server's) and prints
   what it found;
2. scores every item's continuation given its context on both (log-likelihood, when the
   probe accepts the server's echo) and prints the per-item |served - local| in nats;
3. decodes every item's context greedily on both (``--max-new-tokens``, stop at a newline)
   and prints whether the texts are equal.

Items are ``{"context": ..., "continuation": ...}`` lines of ``--items``, or 40 built-in
ones. ``--tokenizer`` (default: LOCAL_PATH) gives the exact token boundary when the server
takes token-id prompts. Use ``--request-option`` for what makes the server's greedy
decoding plain (``repeat_penalty=1.0`` for llama.cpp; docs/scale.md lists each server's).

Exit status: 0 when every log-likelihood is within ``--tolerance`` and every greedy text
is equal; 1 otherwise; 2 when the server is refused or unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SUBJECTS = [
    "the capital of France", "water", "the sun", "a triangle", "the year 1969",
    "photosynthesis", "the Pacific Ocean", "a prime number", "Mount Everest", "the moon",
]  # fmt: skip
FRAMES = [
    ("{S} is", " a well-known example."),
    ("Question: what is {s}?\nAnswer:", " It is described in many books."),
    ("Everyone knows that {s}", " is worth learning about."),
    ("{S}, in one word:", " interesting"),
]


def builtin_items() -> list[dict[str, str]]:
    """40 short context/continuation pairs in English."""
    return [
        {
            "context": context.format(s=subject, S=subject[0].upper() + subject[1:]),
            "continuation": continuation,
        }
        for context, continuation in FRAMES
        for subject in SUBJECTS
    ]


def read_items(path: str | None, limit: int) -> list[dict[str, str]]:
    if path is None:
        return builtin_items()[:limit]
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("context"), str) or not isinstance(row.get("continuation"), str):
            raise SystemExit(f"{path}, row {number}: needs string fields context and continuation")
        items.append(row)
    return items[:limit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("model")
    parser.add_argument("local_path")
    parser.add_argument("--tokenizer", help="the model's tokenizer (default: LOCAL_PATH)")
    parser.add_argument("--items", help="JSONL of {context, continuation}")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--request-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="nats")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()

    from fteval.backends import make_backend
    from fteval.backends.base import GENERATE
    from fteval.backends.openai_protocol import parse_request_options
    from fteval.errors import FtevalError
    from fteval.records import ArmSpec, GenerateRequest, LoglikelihoodRequest

    items = read_items(args.items, args.limit)
    served = make_backend(
        "openai", [ArmSpec("base", "base", f"openai:{args.model}@{args.url}", "base")],
        progress=False, api_key_env=args.api_key_env,
        tokenizer=args.tokenizer or args.local_path,
        request_options=parse_request_options(args.request_option),
    )  # fmt: skip
    try:
        served.check_servers([GENERATE])
    except FtevalError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    facts = served.identity("base").facts
    echo = facts["endpoint"]["echo_check"]
    print(f"echoed log-probabilities: {echo['status']}: {echo['detail']}")
    print(f"tokenization: {facts['tokenization']['detail']}")
    print(f"prompts sent as: {'token ids' if facts['endpoint']['token_ids'] else 'text'}")

    local = make_backend(
        "hf", [ArmSpec("base", "base", args.local_path, "base")], progress=False,
        device=args.device, dtype=args.dtype,
    )  # fmt: skip
    local.prepare()
    pairs = [LoglikelihoodRequest(i["context"], i["continuation"]) for i in items]
    prompts = [GenerateRequest(i["context"], ("\n",), args.max_new_tokens) for i in items]
    differences: list[float] | None = None
    if facts["endpoint"]["echo_logprobs"]:
        ours, theirs = local.loglikelihood("base", pairs), served.loglikelihood("base", pairs)
        differences = [abs(a.logprob - b.logprob) for a, b in zip(theirs, ours)]
    texts_local = [r.texts[0] for r in local.generate("base", prompts)]
    texts_served = [r.texts[0] for r in served.generate("base", prompts)]
    served.close()

    print(f"\n{'item':>4}  {'|Δ loglik| (nats)':>18}  greedy  context")
    for index, item in enumerate(items):
        delta = "refused" if differences is None else f"{differences[index]:.2e}"
        same = "same" if texts_local[index] == texts_served[index] else "DIFF"
        print(f"{index:>4}  {delta:>18}  {same:>6}  {item['context'][:40]!r}")
        if same == "DIFF":
            print(f"{'':>26}served {texts_served[index]!r}\n{'':>26}local  {texts_local[index]!r}")
    equal = sum(a == b for a, b in zip(texts_local, texts_served))
    print(f"\ngreedy generations equal: {equal}/{len(items)}")
    within = True
    if differences is not None:
        close = sum(d <= args.tolerance for d in differences)
        within = close == len(items)
        print(
            f"log-likelihoods within {args.tolerance:g} nats: {close}/{len(items)} "
            f"(max |Δ| {max(differences):.2e})"
        )
    else:
        print("log-likelihoods: not compared (the probe refuses this server's echo)")
    return 0 if within and equal == len(items) else 1


if __name__ == "__main__":
    raise SystemExit(main())
