"""Loading errors: what bad files cause is bad input (exit 2); the rest keeps its traceback."""

from __future__ import annotations

import pytest

from fteval.backends import hf_loading
from fteval.errors import BackendError


@pytest.mark.parametrize(
    "error",
    [
        OSError("Can't load tokenizer for 'x'"),
        ValueError("Unrecognized model in x"),
        KeyError("model_type"),
        RuntimeError("Error(s) in loading state_dict for GPT2: size mismatch for wte"),
    ],
)
def test_errors_the_files_cause_are_reported_as_bad_input_with_their_cause(monkeypatch, error):
    transformers = pytest.importorskip("transformers")

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fail)
    with pytest.raises(BackendError, match="x: could not load a tokenizer") as caught:
        hf_loading.load_tokenizer("x", trust_remote_code=False)
    assert caught.value.__cause__ is error  # kept for --verbose and the log


@pytest.mark.parametrize(
    "error", [MemoryError(), RuntimeError("CUDA error: an illegal memory access"), TypeError("bug")]
)
def test_out_of_memory_and_library_bugs_are_not_bad_input(monkeypatch, error):
    transformers = pytest.importorskip("transformers")

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fail)
    monkeypatch.setattr(hf_loading, "check_weight_format", lambda path, allow_pickle: True)
    with pytest.raises(type(error)) as caught:
        hf_loading.load_causal_lm(
            "x", dtype=None, device="cpu", allow_pickle=False, trust_remote_code=False
        )
    assert caught.value is error


def test_torch_out_of_memory_is_not_bad_input():
    torch = pytest.importorskip("torch")
    assert not hf_loading.caused_by_the_files(torch.OutOfMemoryError("CUDA out of memory"))
