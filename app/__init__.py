"""The Gradio dashboard: layout and handlers only; all work goes through CosmosAPI."""

from .dashboard import build_app
from .serving import launch_options

__all__ = ["build_app", "launch_options"]
