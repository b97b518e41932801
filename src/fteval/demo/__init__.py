"""The embedded default: synthetic support-intent data, toy models, and ``fteval demo``."""

from fteval.demo.run import run_demo

__all__ = ["run_demo"]
