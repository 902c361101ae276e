"""Judging in the page (issue 20.4): the selected run's star and note, and the Sweep tab, a sweep's runs
with the parameters that vary across it and their scores, best first, the best marked.

Test hooks (elem_ids): `star-run`, `run-note`, `save-note`, `open-sweep` (the selected run's), the runs
filter `filter-starred`, and the Sweep tab's `sweep-pick`, `sweep-sort`, `sweep-show`, `sweep-summary`,
`sweep-table`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr
import pandas as pd

from app.applies import required_run
from app.event_options import PRIVATE
from cosmos_core.api import SCORES, CosmosAPI, CosmosError, Refresh, count, format_seconds, sweep_cell

TITLES = {"id": "id", "best": "best", "status": "status", "gpu_seconds": "GPU time", "starred": "★",
          "note": "note", "prompt_id": "prompt"}
HINT = "Give a sweep id (sw_…), or open one from a run of a sweep (Open sweep)."


def run_marks() -> dict[str, Any]:
    """The selected run's star and note (inside the run's panel)."""
    with gr.Row(equal_height=True):
        ui = {
            "star": gr.Button("☆ Star", elem_id="star-run", scale=0),
            "note": gr.Textbox(label="Note (one line, at most 200 characters; empty clears it)", max_lines=1,
                               elem_id="run-note", scale=3),
            "save_note": gr.Button("Save note", elem_id="save-note", scale=0),
            "open_sweep": gr.Button("Open sweep", elem_id="open-sweep", visible=False, scale=0),
        }  # fmt: skip
    return ui


def sweep_tab() -> dict[str, Any]:
    with gr.Row(equal_height=True):
        ui = {
            "sweep_pick": gr.Textbox(label="Sweep id", placeholder="sw_… (Enter)", elem_id="sweep-pick", scale=3),
            "sweep_sort": gr.Dropdown(list(SCORES), value=SCORES[0], label="Sort by (higher is better)",
                                      elem_id="sweep-sort"),
            "sweep_show": gr.Button("Show sweep", elem_id="sweep-show", scale=0),
        }  # fmt: skip
    ui["sweep_summary"] = gr.Markdown(HINT, elem_id="sweep-summary")
    ui["sweep_table"] = gr.Dataframe(elem_id="sweep-table", interactive=False, wrap=True, max_height=480,
                                     label="The sweep's runs, best first; only the parameters that vary are shown")
    return ui


def sweep_frame(view: Mapping[str, Any]) -> pd.DataFrame:
    columns = view["columns"]
    rows = [[sweep_cell(c, row[c]) for c in columns] for row in view["runs"]]
    return pd.DataFrame(rows, columns=[TITLES.get(c, c) for c in columns])


def sweep_summary(view: Mapping[str, Any]) -> str:
    counts, score = view["counts"], view["sort_by"]
    best = [row for row in view["runs"] if row["best"]]
    lines = [f"**Sweep {view['sweep_id']}**: {count(sum(counts.values()), 'run')} ("
             + ", ".join(f"{status} {n}" for status, n in counts.items())
             + f") · GPU time {format_seconds(view['gpu_seconds'])} in all · sorted by **{score}**"]
    if best:
        lines.append("🏆 Best by " + score + ": " + ", ".join(f"**{row['id']}** ({row[score]:.3f})" for row in best))
    else:
        lines.append(f"No run has a {score} score yet: the best is marked once one has.")
    return "\n\n".join(lines)


def show_sweep(api: CosmosAPI, sweep_id: str, sort_by: str) -> tuple[Any, str]:
    """(the table, the summary) of the sweep, or (no change, why not)."""
    sweep_id = (sweep_id or "").strip()
    if not sweep_id:
        return gr.skip(), HINT
    try:
        view = api.sweep_view(sweep_id, sort_by or SCORES[0], Refresh.NONE)
    except CosmosError as exc:
        return pd.DataFrame(), f"❌ {exc}"
    return sweep_frame(view), sweep_summary(view)


def toggle_star(api: CosmosAPI, run_id: str | None) -> str:
    run = api.get_run(required_run(run_id), Refresh.NONE)
    run = api.mark(run["id"], starred=not run["starred"])
    return f"{'★ Starred' if run['starred'] else 'Unstarred'} {run['id']}."


def save_note(api: CosmosAPI, run_id: str | None, text: str) -> str:
    run = api.mark(required_run(run_id), note=text or "")
    return f"Note on {run['id']} saved." if run["note"] else f"Note on {run['id']} cleared."



def wire(api: CosmosAPI, ui: dict[str, Any], rerender: Callable[[Any], Any],
         notice: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Star, Save note and Open sweep on the selected run; the Sweep tab's show and sort. `notice` turns
    an action into one that answers a one-line message (a refusal too)."""
    selected = ui["selected"]
    rerender(ui["star"].click(notice(lambda run_id: toggle_star(api, run_id)), selected, ui["notice"], **PRIVATE))
    for event in (ui["save_note"].click, ui["note"].submit):
        rerender(event(notice(lambda run_id, text: save_note(api, run_id, text)), [selected, ui["note"]],
                       ui["notice"], **PRIVATE))
    shown = [ui["sweep_table"], ui["sweep_summary"]]
    inputs = [ui["sweep_pick"], ui["sweep_sort"]]
    for event in (ui["sweep_show"].click, ui["sweep_pick"].submit, ui["sweep_sort"].change):
        event(lambda sweep_id, score: show_sweep(api, sweep_id, score), inputs, shown, **PRIVATE)

    def open_sweep(run_id: str | None, score: str) -> list[Any]:
        try:
            sweep_id = api.get_run(required_run(run_id), Refresh.NONE)["sweep_id"] or ""
        except CosmosError as exc:
            return [gr.skip(), gr.skip(), f"❌ {exc}", gr.skip()]
        return [sweep_id, *show_sweep(api, sweep_id, score), gr.Tabs(selected="sweep-view")]

    ui["open_sweep"].click(open_sweep, [selected, ui["sweep_sort"]], [ui["sweep_pick"], *shown, ui["tabs"]],
                           **PRIVATE)
