"""Options every event listener of the page takes.

The page's events are its own: none is offered as a named API endpoint (Gradio's "Use via API" and the
client libraries would otherwise let anyone who can reach the page call them directly). QUIET events are
also the page's quiet bookkeeping (timers, a title, a start's steps): no spinner on their outputs."""

from __future__ import annotations

from typing import Any

PRIVATE: dict[str, Any] = {"api_visibility": "private"}
QUIET: dict[str, Any] = {**PRIVATE, "show_progress": "hidden"}
