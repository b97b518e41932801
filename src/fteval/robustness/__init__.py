"""What the clean score hides: perturbations, subgroups, calibration, training health,
contamination — pure and seeded, built from samples and the manifest (docs/robustness.md).

``perturb`` (the perturbations and their registry), ``paraphrase`` (WordNet synonyms),
``variants`` (perturbed and validation copies of a task), ``slices``, ``calibration``,
``training``, ``contamination`` and ``drops`` (the robustness rows); ``sections`` builds
every results section from a run's samples.
"""

from fteval.robustness.perturb import (
    PERTURBATIONS,
    PerturbationSpec,
    parse_perturbation,
    parse_perturbations,
)
from fteval.robustness.sections import SECTIONS, RobustnessOptions, build_sections
from fteval.robustness.variants import is_variant, perturbed_tasks, preview, validation_task

__all__ = [
    "PERTURBATIONS",
    "SECTIONS",
    "PerturbationSpec",
    "RobustnessOptions",
    "build_sections",
    "is_variant",
    "parse_perturbation",
    "parse_perturbations",
    "perturbed_tasks",
    "preview",
    "validation_task",
]
