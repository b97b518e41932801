"""Records: the typed items that flow through the pipeline, their JSON form, the run directory.

``types`` holds the dataclasses (examples, requests, responses, samples, arms); ``jsonio``
the deterministic JSON and atomic writers; ``rundir`` the run directory's files.
"""

from fteval.records.jsonio import (
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    dumps,
    read_jsonl,
    sha256_file,
)
from fteval.records.types import (
    ARM_KINDS,
    SCHEMA_VERSION,
    ArmSpec,
    Example,
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Request,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
    SampleResult,
    SamplingParams,
    as_reference_list,
    base_arm_name,
    is_empty_prediction,
    prompt_hash,
)

__all__ = [
    "ARM_KINDS",
    "SCHEMA_VERSION",
    "ArmSpec",
    "Example",
    "GenerateRequest",
    "GenerationResult",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "Request",
    "RollingLoglikelihoodRequest",
    "RollingLoglikelihoodResult",
    "SampleResult",
    "SamplingParams",
    "append_jsonl",
    "as_reference_list",
    "atomic_write_json",
    "atomic_write_text",
    "base_arm_name",
    "dumps",
    "is_empty_prediction",
    "prompt_hash",
    "read_jsonl",
    "sha256_file",
]
