"""Notifications in the page: a toast when a run finishes while the page is open, and the number of
active runs in the browser tab's title, e.g. "(2) Cosmos Run Dashboard".

Each browser session remembers (gr.State) the runs it last saw active; a run that has left that set
is toasted once, with its outcome. On page load the set is only filled: runs that were already
finished when the page opened are never toasted. A run that starts and ends between two ticks is
never seen active, so it gets no toast (the table still shows it).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from app.event_options import QUIET
from cosmos_core.api import CosmosAPI, CosmosError, Refresh

TITLE = "Cosmos Run Dashboard"
SET_TITLE_JS = "(title) => { if (title) { document.title = title; } }"
TOAST_SECONDS = 10
MAX_ERROR_CHARS = 300
TOASTS: dict[str, Callable[..., None]] = {"completed": gr.Success, "failed": gr.Warning, "cancelled": gr.Info}
Watch = Callable[[list[str] | None], list[Any]]
log = logging.getLogger(__name__)


def page_title(active: int) -> str:
    return f"({active}) {TITLE}" if active else TITLE


def left(seen: list[str] | None, active: list[str]) -> list[str]:
    """The runs seen active before that are no longer (None: the page just opened, nothing seen)."""
    now = set(active)
    return [run_id for run_id in seen or [] if run_id not in now]


def toast(run: dict, prompt_name: str) -> tuple[str, str]:
    """(level, HTML message) for a run that finished: its id, its prompt's name, its outcome and why."""
    text = f"Run {run['id']} ({html.escape(prompt_name)}) {run['status']}"
    if run["status"] == "failed" and run["error"]:
        error = " ".join(run["error"].split())
        text += ": " + html.escape(error if len(error) <= MAX_ERROR_CHARS else error[:MAX_ERROR_CHARS - 1] + "…")
    return run["status"], text


def watcher(api: CosmosAPI) -> Watch:
    """For the tab's load and timer renders: (runs seen active) -> (runs active now, the page title), each
    gr.skip() when unchanged; toasts the runs that left. Reads the database only (the render synced)."""

    def watch(seen: list[str] | None) -> list[Any]:
        try:
            active = sorted(api.active_run_ids())
            for run_id in left(seen, active):
                _toast(api, run_id)
        except Exception:  # keep the page alive; the next tick tries again
            log.exception("run notifications failed")
            return [gr.skip(), gr.skip()]
        if active == seen:
            return [gr.skip(), gr.skip()]  # a quiet tick sends nothing
        same_count = seen is not None and len(seen) == len(active)
        return [active, gr.skip() if same_count else page_title(len(active))]

    return watch


def page_title_box() -> dict[str, Any]:
    """The session's runs seen active ("seen"), and a hidden box ("title") whose change sets the tab's
    title with a line of JS (no event of its own on the server)."""
    title = gr.Textbox(TITLE, visible="hidden", elem_id="page-title")
    title.change(None, title, None, js=SET_TITLE_JS, **QUIET)
    return {"seen": gr.State(None), "title": title}


def _toast(api: CosmosAPI, run_id: str) -> None:
    try:
        run = api.get_run(run_id, Refresh.NONE)
    except CosmosError:
        return  # deleted meanwhile
    names = api.get_prompts([run["prompt_id"]])
    level, text = toast(run, names.get(run["prompt_id"], {}).get("name", run["prompt_id"]))
    show = TOASTS.get(level)
    if show is not None:
        show(text, duration=TOAST_SECONDS, title=f"Run {level}")
