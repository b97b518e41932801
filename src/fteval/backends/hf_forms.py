"""Deployment forms for the HF backend: each form of an arm loaded as its own model.

A form arm (``backends.forms``) is served by a model built for it alone, loaded when its
turn comes and freed after it, as the full fine-tune is:

* ``merged``: the base in the run's dtype, the adapter attached and merged into it
  (``merge_and_unload``): the checkpoint a merge-then-ship deployment writes. In a 16-bit
  dtype the merge rounds, as it does when that checkpoint is written.
* ``merged-<q>``: that merged model written to a temporary folder (safetensors) and
  loaded back quantized by bitsandbytes, as a quantized deployment of it loads; the
  folder is deleted once the model is loaded.
* ``unmerged``: the base in the run's dtype with the adapter computed beside each layer.
* ``base-<q>``: the base loaded quantized, the adapter unmerged on it (QLoRA's way; a
  merge into quantized weights would round the update away).
* ``<q>`` of the full fine-tune: its checkpoint loaded quantized.

``weight_bytes`` measures what a form holds: ``memory`` (its parameters and buffers as
loaded, ``get_memory_footprint``) and ``serialized`` (the bytes of its state dict, what
``save_pretrained`` writes for it, within a file header).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from fteval.backends import hf_loading as loading
from fteval.backends.forms import FORMS, Form
from fteval.backends.hf_models import LoadedModel, LoadSpec, free_memory
from fteval.backends.hf_quant import Quantization
from fteval.errors import AdapterError
from fteval.records import ArmSpec

logger = logging.getLogger(__name__)


def form_of(arm: ArmSpec) -> Form:
    """The local form a form arm is served as.

    Raises:
        KeyError: the arm is not a local form arm.
    """
    return FORMS[arm.form]


def quantization_of(form: Form, compute_dtype: str) -> Quantization | None:
    """The form's bitsandbytes settings, computing in ``compute_dtype``."""
    if form.quantization is None:
        return None
    return Quantization(form.quantization, compute_dtype=compute_dtype)


def load_form(
    load: Callable[[LoadSpec], LoadedModel], spec: LoadSpec, arm: ArmSpec, source: ArmSpec,
    form: Form,
) -> LoadedModel:  # fmt: skip
    """The model that serves form arm ``arm`` of ``source`` (see the module docstring).

    Args:
        load: loads one spec (the backend's ``ModelLoader``, threads chosen).
        spec: what to load: the full fine-tune's spec for its forms, the base's for an
            adapter's (with the form's quantization where the base is served quantized).
        arm: the form arm.
        source: the arm it derives from.
        form: its form.

    Raises:
        AdapterError: the adapter cannot be attached.
    """
    if source.kind == "full" or not form.merge:
        loaded = load(spec)
        if source.kind == "adapter":
            loaded.model = attach(loaded.model, source)
        return loaded
    merged = load(spec)
    merged.model = attach(merged.model, source).merge_and_unload().eval()
    quantization = quantization_of(form, spec.dtype)
    if quantization is None:
        return merged
    with tempfile.TemporaryDirectory(prefix=f"fteval-{arm.name}-") as folder:
        with loading.quiet_transformers():
            merged.model.save_pretrained(folder)
        del merged
        free_memory(spec.device)
        reloaded = dataclasses.replace(
            spec, path=folder, quantization=quantization, allow_pickle=False
        )
        with _errors_only():  # notices about the config fteval just wrote, not the user's
            return load(reloaded)


@contextlib.contextmanager
def _errors_only() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def attach(model: Any, source: ArmSpec) -> Any:
    """``model`` with ``source``'s adapter attached and active (PEFT, not trainable)."""
    from peft import PeftModel

    try:
        with loading.quiet_transformers():
            wrapped = PeftModel.from_pretrained(
                model, source.path, adapter_name=source.name, is_trainable=False
            )
    except Exception as error:
        if not loading.caused_by_the_files(error):
            raise
        raise AdapterError(
            f"adapter {source.name!r} ({source.path}): could not load: {error}"
        ) from error
    return wrapped.eval()


def weight_bytes(model: Any) -> dict[str, int]:
    """``memory``: parameters and buffers as loaded (bytes); ``serialized``: the bytes of
    the state dict, each storage once (what ``save_pretrained`` writes, within a header)."""
    import torch

    footprint = getattr(model, "get_memory_footprint", None)
    memory = (
        int(footprint())
        if callable(footprint)
        else sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    )
    seen: set[tuple[int, int]] = set()
    serialized = 0
    for value in model.state_dict().values():
        if not isinstance(value, torch.Tensor):
            continue
        key = (value.untyped_storage().data_ptr(), int(value.storage_offset()))
        if value.numel() and key in seen:
            continue  # a tied weight, written once
        seen.add(key)
        serialized += value.numel() * value.element_size()
    return {"memory": memory, "serialized": serialized}
