"""Reports generated from results (terminal, Markdown)."""

from fteval.report.markdown import render_markdown
from fteval.report.terminal import render_terminal

__all__ = ["render_markdown", "render_terminal"]
