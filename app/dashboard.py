"""The page: `build_app` lays it out (layout.py) and wires its events to `Handlers`.

Every event that changes what a tab shows ends in a render: the tab's view is
rebuilt and only the components that changed are sent (`gr.skip()` for the
rest), with what was sent remembered in the tab's `sent` state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gradio as gr

from app.event_options import PRIVATE, QUIET
from cosmos_core.api import CosmosAPI, CosmosError, Refresh, StartReport, StartStep, sizes

from . import host_edit, judging, layout, messages, notifications, onboarding, rerun_form, run_table, table_events
from .handlers import ALL, DEFAULT_MODEL, KNOB_FIELDS, Handlers, NewRun, Query, diff
from .start_watch import StartWatches
from .sweep_form import SweepForm, started_text

# View key -> the component (layout name) that shows it, in the order of the render outputs.
RENDERED = {
    "table": "table", "counts": "counts", "banner": "banner", "pager": "pager", "newer": "newer",
    "older": "older", "hosts": "hosts", "run_status": "run_status", "run_progress": "run_progress",
    "run_video": "run_video", "run_log": "run_log", "run_missing": "run_missing", "run_enhanced": "run_enhanced",
    "run_prompt": "run_prompt", "run_can_retry": "retry", "run_can_cancel": "cancel",
    "run_can_upscale": "upscale_controls", "run_can_enhance": "enhance", "run_can_rerun": "rerun",
    "run_shown": "run_details", "no_host": "no_host", "run_star_label": "star", "run_note": "note",
    "run_can_open_sweep": "open_sweep",
}  # fmt: skip
SHOWN_WHEN_SET = ("run_video", "run_log", "run_missing", "run_enhanced")  # a value to show, else hidden
PROGRESS_EVERY_SECONDS = 0.2
log = logging.getLogger(__name__)


def build_app(api: CosmosAPI) -> gr.Blocks:
    """The dashboard page. Videos are served straight from outputs_dir (static
    paths: never copied to Gradio's cache, never re-hashed)."""
    gr.set_static_paths([api.config.storage.outputs_dir])
    handlers = Handlers(api)
    hosts = handlers.api.host_names()
    with gr.Blocks(title="Cosmos Run Dashboard", analytics_enabled=False, fill_width=True) as demo:  # a wide table
        ui: dict[str, Any] = {"selected": gr.State(None), "page": gr.State(0), "sent": gr.State({})}
        ui |= layout.header()
        with gr.Tabs(selected="runs") as ui["tabs"]:
            with gr.Tab("Runs", id="runs"):
                ui |= onboarding.no_host_panel(handlers)
                ui |= layout.runs_tab(hosts)
            with gr.Tab("New run", id="new", elem_id="new-run") as ui["new_tab"]:
                ui["form"] = layout.new_run_form(handlers.model_choices(), handlers.model_form(DEFAULT_MODEL))
            with gr.Tab("New sweep", id="sweep", elem_id="new-sweep") as ui["sweep_tab"]:
                ui |= layout.new_sweep_form(handlers.model_choices(), hosts)
            with gr.Tab("Gallery", id="gallery") as ui["gallery_tab"]:
                ui |= layout.gallery_tab()
            with gr.Tab("Compare", id="compare"):
                ui |= layout.compare_tab()
            with gr.Tab("Sweep view", id="sweep-view", elem_id="sweep-view"):
                ui |= judging.sweep_tab()
            with gr.Tab("Hosts", id="hosts") as ui["hosts_tab"]:
                ui |= layout.hosts_tab()
                ui |= host_edit.edit_form()
                with gr.Accordion("Add host", open=not hosts, elem_id="hosts-add-host"):
                    ui["hosts_add_host"] = onboarding.add_host_form("hosts-add-host",
                                                                    onboarding.default_known_hosts(handlers))
        ui["timer"] = gr.Timer(api.config.ui.refresh_seconds)
        ui |= notifications.page_title_box()
        messages.wire(ui)  # first: a trigger's listeners run in the order they were added
        rerender = _wire_refresh(handlers, ui, demo)
        _wire_actions(handlers, ui, rerender)
        _wire_form(handlers, ui, rerender)
        _wire_sweep(handlers, ui, rerender)
        _wire_gallery(handlers, ui, rerender)
        judging.wire(api, ui, rerender, _notice)
        for form in (ui["add_host"], ui["hosts_add_host"]):
            onboarding.wire(handlers, ui, form, rerender)
        host_edit.wire(handlers, ui, rerender)
        for event in (ui["compare_show"].click, ui["compare_pick"].submit):
            event(handlers.compare, ui["compare_pick"], ui["compare_grid"], **PRIVATE)
    return demo


def _wire_gallery(handlers: Handlers, ui: dict[str, Any], rerender: Callable[[Any], Any]) -> None:
    """Filled when opened, with the runs table's filters; a click opens that run in the Runs tab."""
    filters = [ui["kind_f"], ui["host_f"], ui["search"]]
    ui["gallery_tab"].select(handlers.gallery, filters, [ui["gallery"], ui["gallery_ids"]], **PRIVATE)

    def open_run(ids: list[str], evt: gr.SelectData) -> list[Any]:
        return [ids[evt.index], gr.Tabs(selected="runs")]

    rerender(ui["gallery"].select(open_run, ui["gallery_ids"], [ui["selected"], ui["tabs"]], **PRIVATE))


def _wire_sweep(handlers: Handlers, ui: dict[str, Any], rerender: Callable[[Any], Any]) -> None:
    """The New sweep tab: its prompt choices when opened, the count as the lists change (an earlier start's
    error goes), the start. A started sweep is said once, in the notice, and the page goes to its runs: the
    Runs tab filtered to the sweep, the other filters cleared so that none hides them."""
    fields = ui["sweep_fields"]
    inputs = list(fields.values())
    others = [ui[name] for name in ("status_f", "kind_f", "host_f", "search", "starred_f")]

    def form(*values: Any) -> SweepForm:
        return SweepForm.of(dict(zip(fields, values, strict=True)))

    def start(*values: Any) -> list[Any]:
        started = _notice(handlers.start_sweep)(form(*values))
        if isinstance(started, str):
            return [started, "", *[gr.skip()] * (3 + len(others))]
        sweep_id = started["sweep_id"]
        return ["", started_text(sweep_id, len(started["runs"])), gr.Tabs(selected="runs"), 0,
                gr.update(**table_events.sweep_choices(handlers, sweep_id), value=sweep_id), ALL, ALL, ALL, "", False]

    ui["sweep_tab"].select(lambda: gr.update(choices=handlers.prompt_choices()), None, fields["prompts"], **PRIVATE)
    for field in inputs:
        field.change(lambda *values: [form(*values).preview(), ""], inputs, [ui["sweep_preview"], ui["sweep_status"]],
                     **QUIET)
    outputs = [ui["sweep_status"], ui["notice"], ui["tabs"], ui["page"], ui["sweep_f"], *others]
    rerender(ui["sweep_start"].click(start, inputs, outputs, **PRIVATE))


def _render(handlers: Handlers, refresh: Refresh, watch: notifications.Watch | None = None) -> Callable[..., list]:
    """An event function that re-renders a tab: (filters, page, selected, sent, seen) -> changed outputs, what
    `watch` (toasts) makes of `seen`, the runs the tab saw active: the page title, then the two states, seen
    and sent (only on load and ticks, which never overlap: two renders at once would toast a run twice)."""

    def render(status: str, kind: str, host: str, text: str, starred: bool, sweep: str | None, sort: str, order: str,
               columns: list[str], picked: list[str], page: int, run_id: str | None, sent: dict,
               seen: list[str] | None) -> list:
        query = Query(status, kind, host, text or "", page, bool(starred), sweep or ALL, sort or "created",
                      order == "ascending", tuple(columns or ()), tuple(picked or ()))
        try:
            view = handlers.render(query, run_id, refresh)
        except Exception as exc:  # keep the page alive; the next tick tries again
            log.exception("refresh failed")
            view = {"banner": f"❌ refresh failed: {type(exc).__name__}: {exc}"}
        changed, sent = diff(view, sent)
        seen, title = watch(seen) if watch is not None else (gr.skip(), gr.skip())
        return [_update(k, changed[k]) if k in changed else gr.skip() for k in RENDERED] + [title, seen, sent]

    return render


def _update(key: str, value: Any) -> Any:
    """A changed view value as the component update Gradio expects."""
    if key in ("newer", "older"):
        return gr.update(interactive=value)
    if key in ("run_shown", "no_host") or key.startswith("run_can_"):
        return gr.update(visible=value)
    if key == "run_star_label":
        return gr.update(value=value)
    if key in SHOWN_WHEN_SET:
        return gr.update(value=value, visible=bool(value))
    if key == "table":  # its columns may have changed: their kinds and widths with them
        datatype, widths = run_table.column_props(list(value.columns))
        return gr.update(value=value, datatype=datatype, column_widths=widths)
    return value


def _render_args(ui: dict[str, Any]) -> tuple[list, list]:
    inputs = [ui[k] for k in ("status_f", "kind_f", "host_f", "search", "starred_f", "sweep_f", "sort_f", "order_f",
                              "columns_f", "picked", "page", "selected", "sent", "seen")]
    return inputs, [ui[name] for name in RENDERED.values()] + [ui["title"], ui["seen"], ui["sent"]]


def _wire_refresh(handlers: Handlers, ui: dict[str, Any], demo: gr.Blocks) -> Callable[[Any], Any]:
    """Page load, the timer, Refresh now, filters, paging, selecting a run. Returns
    `rerender(event)`, which re-renders the tab after an event."""
    inputs, outputs = _render_args(ui)
    shown = _render(handlers, Refresh.NONE)
    watch = notifications.watcher(handlers.api)

    def rerender(event: Any) -> Any:
        return event.then(shown, inputs, outputs, **QUIET)

    url_outputs = [ui["sweep_f"], ui["tabs"], ui["compare_pick"], ui["compare_grid"]]
    demo.load(table_events.from_url(handlers), None, url_outputs, **QUIET).then(
        _render(handlers, Refresh.NONE, watch), inputs, outputs, **QUIET)
    ui["timer"].tick(_render(handlers, Refresh.AUTO, watch), inputs, outputs, concurrency_limit=None, **QUIET)
    ui["refresh_now"].click(_render(handlers, Refresh.FORCE), inputs, outputs, show_progress="minimal",
                            show_progress_on=ui["table"], **PRIVATE)
    filters = [ui["status_f"].change, ui["kind_f"].change, ui["host_f"].change, ui["search"].submit,
               ui["starred_f"].change, ui["sweep_f"].input, ui["sort_f"].change,
               ui["order_f"].change]  # sweep_f: also set by a link
    rerender(gr.on(filters, lambda: 0, None, ui["page"], **PRIVATE))
    rerender(ui["columns_f"].change(lambda: None, None, None, **PRIVATE))
    rerender(ui["newer"].click(lambda page: max(page - 1, 0), ui["page"], ui["page"], **PRIVATE))
    rerender(ui["older"].click(lambda page: page + 1, ui["page"], ui["page"], **PRIVATE))
    table_events.wire(handlers, ui, rerender)
    return rerender


def _wire_actions(handlers: Handlers, ui: dict[str, Any], rerender: Callable[[Any], Any]) -> None:
    selected, notice = ui["selected"], ui["notice"]
    rerender(ui["retry"].click(_notice(handlers.retry), selected, notice, **PRIVATE))
    rerender(ui["cancel"].click(_notice(handlers.cancel), selected, notice, **PRIVATE))
    rerender(ui["upscale"].click(_started(handlers.upscale), [selected, ui["weight"]], [notice, selected],
                                 **PRIVATE))
    rerender(ui["enhance"].click(_started(handlers.enhance), selected, [notice, selected], **PRIVATE))
    for event in (ui["hosts_tab"].select, ui["check"].click):  # check_host is remote: only on demand
        event(handlers.check_hosts, None, ui["hosts"], **PRIVATE)


def _wire_form(handlers: Handlers, ui: dict[str, Any], rerender: Callable[[Any], Any]) -> None:
    form, fields = ui["form"], ui["form"]["fields"]
    starts = StartWatches(handlers.cancel)
    watching = [form["steps"], form["cancel"], form["step_timer"], form["start"]]

    def begin(request: gr.Request) -> list[Any]:  # one start at a time per page: Start waits for this one
        starts.begin(_session(request))
        return [gr.update(value=starts.view(_session(request)), visible=True), gr.update(visible=True),
                gr.Timer(active=True), gr.update(interactive=False)]

    def start(request: gr.Request, *values: Any, progress: gr.Progress = gr.Progress()) -> list[Any]:  # noqa: B008
        session = _session(request)
        run = _notice(handlers.start)(_form_values(values), starts.listener(session, _step_reporter(progress)))
        starts.end(session)
        if isinstance(run, str):
            return [run, gr.skip(), gr.skip(), gr.skip()]
        if run["status"] == "cancelled":
            return [f"Run {run['id']} was cancelled while starting: nothing of it runs on {run['host']}.",
                    gr.skip(), gr.skip(), gr.skip()]
        # Said once, in the notice, which the Runs tab it opens shows (the form's status line is left empty).
        return ["", f"✅ Started run {run['id']} on {run['host']}.", gr.Tabs(selected="runs"), run["id"]]

    def finish(request: gr.Request) -> list[Any]:
        return [starts.view(_session(request)), gr.update(visible=False), gr.Timer(active=False),
                gr.update(interactive=True)]

    def cancel(request: gr.Request) -> str:
        return starts.cancel(_session(request))

    def steps(request: gr.Request) -> str:
        return starts.view(_session(request))

    outputs = [form["status"], ui["notice"], ui["tabs"], ui["selected"]]
    inputs = list(fields.values())
    started = form["start"].click(begin, None, watching, **QUIET).then(
        start, inputs, outputs, show_progress_on=form["status"], **PRIVATE)
    rerender(started)
    started.then(finish, None, watching, **QUIET)
    form["cancel"].click(cancel, None, form["steps"], concurrency_limit=None, **QUIET)
    form["step_timer"].tick(steps, None, form["steps"], concurrency_limit=None, **QUIET)

    ui["new_tab"].select(lambda: gr.update(choices=handlers.video_choices()), None, fields["picked"], **PRIVATE)
    knobs = [fields[name] for name in KNOB_FIELDS]
    # `input`, not `change`: Run again sets the model with the run's knobs, which a reset must not undo.
    fields["model"].input(_model_switch(handlers), fields["model"], [fields["host"], *knobs], **PRIVATE)
    ui["rerun"].click(_refill(handlers), ui["selected"], [*fields.values(), form["status"], ui["notice"], ui["tabs"]],
                      **PRIVATE)


def _session(request: gr.Request) -> str:
    """The browser session an event came from (a start and its Cancel share it)."""
    return request.session_hash or ""


def _refill(handlers: Handlers) -> Callable[[str | None], list[Any]]:
    """Run again: New run filled from the selected run (rerun_form.py), opened; a refusal in the notice."""

    def fill(run_id: str | None) -> list[Any]:
        refill = _notice(rerun_form.refill)(handlers, run_id)
        if isinstance(refill, str):
            return [gr.skip()] * len(layout.FORM_FIELDS) + [gr.skip(), refill, gr.skip()]
        shown = {name: knob.shown for name, knob in refill.form.knobs.items()}
        updates = {name: gr.update(value=value, visible=shown[name]) if name in shown else value
                   for name, value in refill.values.items()}
        updates["host"] = gr.update(**layout.host_choices(refill.form.hosts) | {"value": refill.values["host"]})
        updates["picked"] = gr.update(choices=refill.videos, value=refill.values["picked"])
        return [updates[name] for name in layout.FORM_FIELDS] + [refill.note, gr.skip(), gr.Tabs(selected="new")]

    return fill


def _model_switch(handlers: Handlers) -> Callable[[str], list[Any]]:
    """On a new model: the hosts serving it, and every knob back to its default, shown if it applies."""

    def switch(model_name: str) -> list[Any]:
        form = handlers.model_form(model_name)
        knobs = [gr.update(value=k.value, visible=k.shown) for k in form.knobs.values()]
        return [gr.update(**layout.host_choices(form.hosts)), *knobs]

    return switch


def _notice(action: Callable[..., Any]) -> Callable[..., Any]:
    """Run an action; its CosmosError (or any bug) becomes a one-line message in the page."""

    def run(*args: Any) -> Any:
        try:
            return action(*args)
        except CosmosError as exc:
            return f"❌ {exc}"
        except Exception as exc:  # a bug: log it with its traceback, show one line
            log.exception("dashboard action failed")
            return f"❌ internal error: {type(exc).__name__}: {exc}"

    return run


def _started(action: Callable[..., tuple[str, str]]) -> Callable[..., list[Any]]:
    """An action that starts a run: show its notice and select the new run."""

    def run(*args: Any) -> list[Any]:
        result = _notice(action)(*args)
        return [result, gr.skip()] if isinstance(result, str) else [f"✅ {result[0]}", result[1]]

    return run


def _step_reporter(progress: Callable[..., Any]) -> Callable[[StartReport], None]:
    """The start's progress bar: an upload's bytes at most every PROGRESS_EVERY_SECONDS, each other step
    as it begins."""
    last = [0.0]

    def report(step: StartReport) -> None:
        now = time.monotonic()
        if step.step is not StartStep.UPLOADING:
            progress(None, desc=step.words().capitalize())
        elif step.detail and (now - last[0] >= PROGRESS_EVERY_SECONDS or step.sent >= step.total):
            last[0] = now
            progress(step.sent / step.total if step.total else 1.0,
                     desc=f"Uploading {step.detail}: {sizes(step.sent, step.total)}")  # "12/512 B" … "0.3/1.2 GB"

    return report


def _form_values(values: tuple[Any, ...]) -> NewRun:
    v = dict(zip(layout.FORM_FIELDS, values, strict=True))
    return NewRun(
        prompt=v["prompt"] or "", upload=v["upload"], picked=v["picked"], depth=v["depth"], seg=v["seg"],
        negative=v["negative"] or "", name=v["name"] or "", model=v["model"], host=v["host"],
        weights=(v["vis"], v["edge"], v["depth_w"], v["seg_w"]), steps=_number(int, v["steps"]),
        guidance=_number(float, v["guidance"]), seed=_number(int, v["seed"]),
        sigma_max=_number(float, v["sigma_max"]), blur_strength=v["blur_strength"],
        canny_threshold=v["canny_threshold"], fps=_number(int, v["fps"]), distilled=v["distilled"],
        upsample_prompt=v["upsample_prompt"],
    )  # fmt: skip


def _number(kind: type[int] | type[float], value: Any) -> Any:
    """A Number field's value as `kind`; None when the field is empty (the model's default)."""
    return None if value is None else kind(value)
