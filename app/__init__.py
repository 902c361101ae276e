"""The Gradio dashboard: layout and handlers only; all work goes through CosmosAPI."""

from .dashboard import build_app

__all__ = ["build_app"]
