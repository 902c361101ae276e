"""The experiment table's events: a click opens a run or ticks it for Compare, Compare picked, the
sweep filter's choices, and the links a sweep id carries (`?sweep=ID`: the table filtered to it,
`?compare=ID`: its Compare view), followed when the page loads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from app.event_options import PRIVATE

from . import compare, run_table
from .handlers import ALL, Handlers


def picked_updates(picked: list[str]) -> list[Any]:
    """The picked state, its note, and whether Compare picked and Clear can be pressed."""
    return [picked, run_table.picked_text(picked),
            gr.update(interactive=2 <= len(picked) <= compare.MAX_RUNS), gr.update(interactive=bool(picked))]


def clicked(picked: list[str], evt: gr.SelectData) -> list[Any]:
    """A click in the tick column picks or unpicks the row's run (at most MAX_RUNS: the oldest pick
    goes); anywhere else in the row it opens the run. -> [selected, *picked_updates]"""
    row = evt.row_value or []
    if len(row) <= run_table.FIXED.index(run_table.ID):
        return [gr.skip()] * 5
    run_id = run_table.cell_text(row[run_table.FIXED.index(run_table.ID)])
    if evt.index[1] != run_table.FIXED.index(run_table.PICK):
        return [run_id, *[gr.skip()] * 4]
    return [gr.skip(), *picked_updates(run_table.toggled(picked, run_id)[-compare.MAX_RUNS:])]


def sweep_choices(handlers: Handlers, current: str | None = None) -> dict[str, Any]:
    """The sweep filter's choices: all, then the newest sweeps (and `current`, if older)."""
    sweeps = handlers.api.recent_sweeps()
    extra = [current] if current and current != ALL and current not in sweeps else []
    return {"choices": [ALL, *extra, *sweeps]}


def from_url(handlers: Handlers) -> Callable[[gr.Request], list[Any]]:
    """On page load: the sweep filter's choices, and what `?sweep=` or `?compare=` asks for.
    -> [sweep filter, tabs, compare pick, compare grid]"""

    def load(request: gr.Request) -> list[Any]:
        params = request.query_params if request is not None else {}
        sweep, compared = params.get("sweep"), params.get("compare")
        if compared:
            return [gr.update(**sweep_choices(handlers)), gr.Tabs(selected="compare"), compared,
                    handlers.compare(compared)]
        value = {"value": sweep} if sweep else {}
        return [gr.update(**sweep_choices(handlers, sweep), **value), gr.skip(), gr.skip(), gr.skip()]

    return load


def wire(handlers: Handlers, ui: dict[str, Any], rerender: Callable[[Any], Any]) -> None:
    """The table's click, the picked runs' buttons, the sweep filter's choices when it opens."""
    picked_outputs = [ui["picked"], ui["picked_note"], ui["compare_picked"], ui["clear_picked"]]
    rerender(ui["table"].select(clicked, ui["picked"], [ui["selected"], *picked_outputs], **PRIVATE))
    rerender(ui["clear_picked"].click(lambda: picked_updates([]), None, picked_outputs, **PRIVATE))

    def compare_picked(picked: list[str]) -> list[Any]:
        ids = " ".join(picked)
        return [ids, gr.Tabs(selected="compare"), handlers.compare(ids)]

    ui["compare_picked"].click(compare_picked, ui["picked"], [ui["compare_pick"], ui["tabs"], ui["compare_grid"]],
                               **PRIVATE)
    ui["sweep_f"].focus(lambda current: gr.update(**sweep_choices(handlers, current)), ui["sweep_f"], ui["sweep_f"],
                        **PRIVATE)
