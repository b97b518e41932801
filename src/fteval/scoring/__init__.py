"""Per-sample scores: metric values attached to samples, and per task x arm statistics."""

from fteval.scoring.samples import ArmStats, TaskInfo, arm_stats, attach_scores, prediction_of

__all__ = ["ArmStats", "TaskInfo", "arm_stats", "attach_scores", "prediction_of"]
