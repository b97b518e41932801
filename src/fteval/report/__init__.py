"""Reports generated from results: terminal, Markdown, HTML, the model card."""

from fteval.report.html import render_html
from fteval.report.markdown import render_markdown
from fteval.report.modelcard import model_index, render_model_card, render_model_cards
from fteval.report.terminal import render_terminal, terminal_width, use_color

__all__ = [
    "model_index",
    "render_html",
    "render_markdown",
    "render_model_card",
    "render_model_cards",
    "render_terminal",
    "terminal_width",
    "use_color",
]
