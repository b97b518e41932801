"""Training of the demo's three models: a small base LM, a LoRA adapter and a full fine-tune.

All three use a byte-level tokenizer (``transformers.ByT5Tokenizer``) that needs no
vocabulary files. The stages:

1. :func:`pretrain_base` trains a small GPT-2 from scratch as a plain language model on
   unlabeled support-desk text. It never sees an intent label or the prompt format.
2. :func:`train_lora` trains a LoRA adapter on the labelled train split, formatted exactly
   as the evaluation scores it: ``prompt + " " + label``, with the loss on the label tokens.
3. :func:`train_full` trains every weight of a copy of the base on the same data.

Step budgets are fixed (see :class:`TrainSettings`) so that a build takes about two
minutes on two CPU cores. Randomness comes from explicit seeds: a ``torch.Generator`` for
batch sampling, and a forked global torch RNG (restored afterwards) for weight init.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from fteval.demo._scoring import encode

logger = logging.getLogger(__name__)

#: Parameter names of GPT-2's Conv1D layers (attention qkv/out, MLP in/out).
GPT2_CONV1D_MODULES: tuple[str, ...] = ("c_attn", "c_proj", "c_fc")

_IGNORE = -100  # label value the loss skips


@dataclass(frozen=True)
class TrainSettings:
    """Fixed settings of the demo build. The defaults are the shipped build.

    Attributes:
        seed: seed of every generator used in training.
        n_layer: transformer blocks of the base GPT-2.
        n_embd: hidden size.
        n_head: attention heads.
        n_positions: longest sequence in tokens (bytes).
        block_size: tokens per pretraining sequence.
        pretrain_steps: optimizer steps of base pretraining.
        pretrain_batch: sequences per pretraining step.
        pretrain_lr: peak learning rate of pretraining.
        finetune_batch: examples per step of both fine-tunes.
        lora_steps: optimizer steps of LoRA training.
        lora_lr: peak learning rate of LoRA training.
        lora_r: LoRA rank.
        lora_alpha: LoRA scaling numerator (scale = alpha / r).
        full_steps: optimizer steps of the full fine-tune.
        full_lr: peak learning rate of the full fine-tune.
        warmup_fraction: share of each stage's steps with linear warm-up (0..1).
        weight_decay: AdamW weight decay.
    """

    seed: int = 0
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 256
    block_size: int = 128
    pretrain_steps: int = 500
    pretrain_batch: int = 32
    pretrain_lr: float = 3e-3
    finetune_batch: int = 32
    lora_steps: int = 200
    lora_lr: float = 2.5e-3
    lora_r: int = 16
    lora_alpha: int = 32
    full_steps: int = 200
    full_lr: float = 5e-4
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01

    @classmethod
    def tiny(cls, steps: int = 2) -> TrainSettings:
        """A build of ``steps`` optimizer steps per stage, for tests (seconds, not minutes).

        The models it makes load and run like the shipped ones but are not trained enough
        to beat the base model.
        """
        return cls(
            pretrain_steps=steps,
            lora_steps=steps,
            full_steps=steps,
            pretrain_batch=4,
            finetune_batch=4,
        )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return asdict(self)


def make_tokenizer() -> Any:
    """A byte-level tokenizer that needs no files (ids 0..2 are pad, ``</s>``, unk)."""
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


def _schedule(total: int, warmup_fraction: float) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to 10% of the peak learning rate."""
    warmup = max(1, round(total * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _optimise(
    model: torch.nn.Module,
    batches: Iterator[dict[str, torch.Tensor]],
    *,
    steps: int,
    lr: float,
    settings: TrainSettings,
    desc: str,
    progress: bool,
) -> float:
    """Run ``steps`` AdamW steps over ``batches``; return the mean loss of the last 10%."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(steps, settings.warmup_fraction)
    )
    model.train()
    tail: list[float] = []
    bar = tqdm(
        range(steps), desc=desc, unit="step", file=sys.stderr, disable=not progress, leave=True
    )
    for step in bar:
        loss = model(**next(batches)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        if step >= steps - max(1, steps // 10):
            tail.append(value)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{value:.3f}")
    bar.close()
    model.eval()
    return sum(tail) / len(tail) if tail else float("nan")


# ---- stage 1: the base model ----


def _pretrain_batches(
    stream: torch.Tensor, settings: TrainSettings, generator: torch.Generator
) -> Iterator[dict[str, torch.Tensor]]:
    """Random windows of ``block_size`` tokens from the concatenated corpus."""
    block = settings.block_size
    if stream.numel() <= block:
        raise ValueError(f"pretraining corpus has {stream.numel()} tokens; need more than {block}")
    offsets = torch.arange(block)
    while True:
        starts = torch.randint(
            0, stream.numel() - block, (settings.pretrain_batch,), generator=generator
        )
        input_ids = stream[starts[:, None] + offsets]
        yield {"input_ids": input_ids, "labels": input_ids}


def pretrain_base(
    texts: Sequence[str],
    out_dir: Path,
    *,
    settings: TrainSettings,
    progress: bool = True,
) -> dict[str, float]:
    """Train a small GPT-2 from scratch on ``texts`` and save it with its tokenizer.

    Args:
        texts: unlabeled documents; each is followed by ``</s>`` in the training stream.
        out_dir: folder to write (``save_pretrained`` of model and tokenizer, safetensors).
        settings: model size and step budget.
        progress: show a progress bar on stderr.

    Returns:
        ``{"final_loss": ...}``: mean training loss (nats per byte) over the last 10% of steps.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = make_tokenizer()
    generator = torch.Generator().manual_seed(settings.seed)
    order = torch.randperm(len(texts), generator=generator).tolist()
    ids: list[int] = []
    for i in order:
        ids.extend(encode(tokenizer, texts[i]))
        ids.append(tokenizer.eos_token_id)
    stream = torch.tensor(ids, dtype=torch.long)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=settings.n_positions,
        n_embd=settings.n_embd,
        n_layer=settings.n_layer,
        n_head=settings.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        loss_type="ForCausalLM",
    )
    # GPT-2 initialises from the global RNG; fork it so the caller's state is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = GPT2LMHeadModel(config)
    loss = _optimise(
        model,
        _pretrain_batches(stream, settings, generator),
        steps=settings.pretrain_steps,
        lr=settings.pretrain_lr,
        settings=settings,
        desc="demo: pretraining base",
        progress=progress,
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"final_loss": loss, "corpus_tokens": float(stream.numel())}


# ---- stages 2 and 3: fine-tuning on the labelled split ----


def encode_examples(
    tokenizer: Any, prompts: Sequence[str], continuations: Sequence[str]
) -> list[tuple[list[int], list[int]]]:
    """Token ids of each (prompt, continuation) pair, encoded separately and unpadded.

    Encoding the two parts separately is what the loglikelihood scorer does; with a byte
    tokenizer it equals encoding the concatenation.
    """
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
    return [(encode(tokenizer, p), encode(tokenizer, c)) for p, c in zip(prompts, continuations)]


def _collate(pairs: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch whose labels cover only the continuation tokens."""
    length = max(len(p) + len(c) for p, c in pairs)
    input_ids = torch.full((len(pairs), length), pad_id, dtype=torch.long)
    labels = torch.full_like(input_ids, _IGNORE)
    attention = torch.zeros_like(input_ids)
    for row, (prompt, cont) in enumerate(pairs):
        n = len(prompt) + len(cont)
        input_ids[row, :n] = torch.tensor(prompt + cont)
        labels[row, len(prompt) : n] = torch.tensor(cont)
        attention[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def _finetune_batches(
    pairs: Sequence[tuple[list[int], list[int]]],
    batch_size: int,
    pad_id: int,
    generator: torch.Generator,
    *,
    pool: int = 8,
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless epochs of shuffled, length-grouped batches.

    Each epoch is shuffled, cut into pools of ``pool`` batches, and each pool is sorted by
    length before it is cut into batches, so that a batch pads little (about a third less
    compute on this data). Batch order is shuffled again. A short last batch is dropped.
    """
    batch_size = min(batch_size, len(pairs))
    lengths = [len(p) + len(c) for p, c in pairs]
    while True:
        order = torch.randperm(len(pairs), generator=generator).tolist()
        batches: list[list[int]] = []
        for start in range(0, len(order), batch_size * pool):
            chunk = sorted(order[start : start + batch_size * pool], key=lengths.__getitem__)
            batches.extend(
                chunk[i : i + batch_size] for i in range(0, len(chunk) - batch_size + 1, batch_size)
            )
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield _collate([pairs[i] for i in batches[b]], pad_id)


def _labelled_pairs(
    tokenizer: Any, rows: Sequence[dict[str, str]], template: str, delimiter: str
) -> list[tuple[list[int], list[int]]]:
    prompts = [template.format(text=row["text"]) for row in rows]
    return encode_examples(tokenizer, prompts, [delimiter + row["label"] for row in rows])


def _train_on_labels(
    model: Any,
    tokenizer: Any,
    rows: Any,
    template: str,
    delimiter: str,
    *,
    settings: TrainSettings,
    seed: int,
    steps: int,
    lr: float,
    desc: str,
    progress: bool,
) -> tuple[int, float]:
    """Train ``model`` on ``prompt + delimiter + label`` (loss on the label tokens).

    Returns:
        (trainable parameter count, final loss).
    """
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    generator = torch.Generator().manual_seed(seed)
    pairs = _labelled_pairs(tokenizer, rows, template, delimiter)
    loss = _optimise(
        model,
        _finetune_batches(pairs, settings.finetune_batch, tokenizer.pad_token_id, generator),
        steps=steps,
        lr=lr,
        settings=settings,
        desc=desc,
        progress=progress,
    )
    return trainable, loss


def train_lora(
    base_dir: Path,
    rows: Sequence[dict[str, str]],
    out_dir: Path,
    *,
    template: str,
    delimiter: str,
    base_reference: str,
    settings: TrainSettings,
    progress: bool = True,
) -> dict[str, float]:
    """Train a LoRA adapter on ``rows`` over the base in ``base_dir`` and save it.

    Args:
        base_dir: where the base model and tokenizer are now.
        rows: labelled rows ``{"text", "label"}``.
        out_dir: folder to write (adapter + tokenizer, safetensors).
        template: prompt template with a ``{text}`` field.
        delimiter: string between prompt and label (the task's ``target_delimiter``).
        base_reference: written as the adapter's ``base_model_name_or_path`` (the base's
            final location, which may differ from ``base_dir`` during an atomic build).
        settings: LoRA rank, step budget and learning rate.
        progress: show a progress bar on stderr.

    Returns:
        ``{"final_loss": ..., "trainable_params": ...}``.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    tokenizer = make_tokenizer()
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    config = LoraConfig(
        task_type="CAUSAL_LM",
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(GPT2_CONV1D_MODULES),
        fan_in_fan_out=True,
        bias="none",
    )
    # LoRA's A matrices are initialised from the global RNG; fork it (see pretrain_base).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed + 1)
        model = get_peft_model(base, config)
    trainable, loss = _train_on_labels(
        model, tokenizer, rows, template, delimiter, settings=settings,
        seed=settings.seed + 1, steps=settings.lora_steps, lr=settings.lora_lr,
        desc="demo: training LoRA adapter", progress=progress,
    )  # fmt: skip
    model.peft_config["default"].base_model_name_or_path = base_reference
    with warnings.catch_warnings():
        # peft looks for a config at base_reference to see whether the vocabulary changed;
        # the final base folder does not exist yet during an atomic build, and it did not.
        warnings.filterwarnings("ignore", message="Could not find a config file")
        model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"final_loss": loss, "trainable_params": float(trainable)}


def train_full(
    base_dir: Path,
    rows: Sequence[dict[str, str]],
    out_dir: Path,
    *,
    template: str,
    delimiter: str,
    settings: TrainSettings,
    progress: bool = True,
) -> dict[str, float]:
    """Fine-tune every weight of a copy of the base in ``base_dir`` on ``rows`` and save it.

    Args:
        base_dir: where the base model and tokenizer are now (left unchanged).
        rows: labelled rows ``{"text", "label"}``.
        out_dir: folder to write (model + tokenizer, safetensors).
        template: prompt template with a ``{text}`` field.
        delimiter: string between prompt and label.
        settings: step budget and learning rate.
        progress: show a progress bar on stderr.

    Returns:
        ``{"final_loss": ..., "trainable_params": ...}``.
    """
    from transformers import AutoModelForCausalLM

    tokenizer = make_tokenizer()
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    trainable, loss = _train_on_labels(
        model, tokenizer, rows, template, delimiter, settings=settings,
        seed=settings.seed + 2, steps=settings.full_steps, lr=settings.full_lr,
        desc="demo: full fine-tune", progress=progress,
    )  # fmt: skip
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"final_loss": loss, "trainable_params": float(trainable)}
