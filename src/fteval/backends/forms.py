"""Deployment forms: what shipping an arm can mean, named once (no model libraries here).

A *form* is another way of serving an arm's weights: the adapter merged into its base, the
merged model quantized, the adapter on a quantized base (the QLoRA way), the full
fine-tune quantized, or the arm as a server serves it (``openai:MODEL[@URL]``). A run
evaluates each form as an arm of its own (kind ``form``) and compares it with the arm it
derives from, item by item (docs/deployment.md).

``FORMS`` lists the local forms: for each, the source arm kinds it applies to, whether the
adapter is merged into the base, and the bitsandbytes quantization of the weights served
(of the merged model, of the base under an unmerged adapter, or of the full fine-tune).
"""

from __future__ import annotations

from dataclasses import dataclass

QUANTIZATIONS = ("nf4", "fp4", "int8")
"""bitsandbytes quantizations: 4-bit NormalFloat (QLoRA), 4-bit float, LLM.int8()."""

SERVED_PREFIX = "openai:"


@dataclass(frozen=True)
class Form:
    """One local deployment form.

    Attributes:
        name: what ``--form NAME=ARM:FORM`` calls it.
        sources: the kinds of arm it can be made from (``adapter``, ``full``).
        merge: the adapter is merged into the base weights (``merge_and_unload``).
        quantization: the bitsandbytes quantization of the served weights, or None.
        measures: what comparing it with its source measures, in words.
    """

    name: str
    sources: tuple[str, ...]
    merge: bool
    quantization: str | None
    measures: str


def _forms() -> dict[str, Form]:
    forms = [
        Form("merged", ("adapter",), True, None,
             "the adapter merged into the base in the run's dtype (merge_and_unload)"),
        Form("unmerged", ("adapter",), False, None,
             "the adapter computed beside each layer (PEFT), nothing merged"),
    ]  # fmt: skip
    for method in QUANTIZATIONS:
        forms.append(
            Form(f"merged-{method}", ("adapter",), True, method,
                 f"the adapter merged in the run's dtype, then the model quantized to {method}")
        )  # fmt: skip
        forms.append(
            Form(f"base-{method}", ("adapter",), False, method,
                 f"the adapter unmerged on a {method}-quantized base (QLoRA's way)")
        )  # fmt: skip
        forms.append(
            Form(method, ("full",), False, method, f"the full fine-tune quantized to {method}")
        )
    return {form.name: form for form in forms}


FORMS: dict[str, Form] = _forms()


def is_served(form: str) -> bool:
    """Whether ``form`` names a served model (``openai:MODEL[@URL]``)."""
    return form.startswith(SERVED_PREFIX)


def check_form(form: str, source_kind: str) -> None:
    """Refuse a form that does not exist, or does not apply to an arm of ``source_kind``.

    Raises:
        ValueError: naming the form, the source's kind and the forms that apply.
    """
    if is_served(form):
        if not form.removeprefix(SERVED_PREFIX):
            raise ValueError(f"form {form!r} names no served model (openai:MODEL[@URL])")
        return
    applicable = [name for name, spec in FORMS.items() if source_kind in spec.sources]
    spec = FORMS.get(form)
    if spec is None or source_kind not in spec.sources:
        raise ValueError(
            f"form {form!r} does not apply to an arm of kind {source_kind!r}; its forms: "
            f"{', '.join(applicable) or 'none'}, or openai:MODEL[@URL] (a served copy)"
        )
