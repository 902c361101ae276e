"""The page: layout, and the wiring of events to `Handlers`.

Every event that changes what a tab shows ends in `render`: it rebuilds the
tab's view and sends only the components that changed (`gr.skip()` for the
rest), remembering what was sent in the tab's `sent` state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gradio as gr

from cosmos_core.api import CosmosAPI, CosmosError, Refresh

from . import tables
from .handlers import ALL, Handlers, NewRun, Query, diff

RENDER_KEYS = [
    "table", "counts", "banner", "pager", "newer", "older", "hosts", "run_status", "run_video", "run_log",
    "run_enhanced", "run_prompt", "run_can_retry", "run_can_cancel", "run_can_upscale", "run_can_enhance",
]  # fmt: skip
STATUSES = ["pending", "uploading", "running", "completed", "failed", "cancelled"]
KINDS = ["inference", "upscale", "enhance"]
PROGRESS_EVERY_SECONDS = 0.2
log = logging.getLogger(__name__)


def _update(key: str, value: Any) -> Any:
    """A changed view value as the component update Gradio expects."""
    if key in ("newer", "older") or key.startswith("run_can_"):
        return gr.update(interactive=value)
    if key == "run_enhanced":
        return gr.update(value=value, visible=bool(value))
    return value


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


def _upload_reporter(progress: gr.Progress) -> Callable[[str, int, int], None]:
    """An on_upload callback that moves the progress bar at most every PROGRESS_EVERY_SECONDS."""
    last = [0.0]

    def report(name: str, sent: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS or sent >= total:
            last[0] = now
            progress(sent / total if total else 1.0,
                     desc=f"Uploading {name}: {sent / 1e6:.1f} / {total / 1e6:.1f} MB")

    return report


def build_app(api: CosmosAPI) -> gr.Blocks:
    """The dashboard page. Videos are served straight from outputs_dir (static
    paths: never copied to Gradio's cache, never re-hashed)."""
    gr.set_static_paths([api.config.storage.outputs_dir])
    h = Handlers(api)
    hosts = h.host_names()
    with gr.Blocks(title="Cosmos Run Dashboard") as demo:
        selected = gr.State(None)
        page = gr.State(0)
        sent = gr.State({})
        with gr.Row(equal_height=True):
            gr.Markdown("# Cosmos Run Dashboard")
            refresh_now = gr.Button("Refresh now", elem_id="refresh-now", scale=0, variant="secondary")
        counts = gr.Markdown(elem_id="run-counts")
        banner = gr.Markdown(elem_id="host-banner")
        notice = gr.Markdown(elem_id="notice")
        with gr.Tabs(selected="runs") as tabs:
            with gr.Tab("Runs", id="runs"):
                with gr.Row():
                    status_f = gr.Dropdown([ALL, *STATUSES], value=ALL, label="Status", elem_id="filter-status")
                    kind_f = gr.Dropdown([ALL, *KINDS], value=ALL, label="Kind", elem_id="filter-kind")
                    host_f = gr.Dropdown([ALL, *hosts], value=ALL, label="Host", elem_id="filter-host")
                    search = gr.Textbox(label="Search", placeholder="run id, prompt name or text (Enter)",
                                        elem_id="filter-search", scale=2)
                table = gr.Dataframe(headers=tables.RUN_COLUMNS, elem_id="runs-table", interactive=False, wrap=True,
                                     column_widths=tables.RUN_COLUMN_WIDTHS, max_height=420,
                                     label="Runs (newest first; click a run to open it)")
                with gr.Row():
                    newer = gr.Button("◀ Newer", interactive=False, scale=0, size="sm")
                    pager = gr.Markdown(elem_id="pager")
                    older = gr.Button("Older ▶", interactive=False, scale=0, size="sm")
                run_status = gr.Markdown(elem_id="run-status")
                with gr.Row():
                    with gr.Column():
                        video = gr.Video(elem_id="run-video", interactive=False, label="Output video", height=360)
                        enhanced = gr.Textbox(label="Enhanced prompt", visible=False, interactive=False,
                                              lines=3, buttons=["copy"], elem_id="run-enhanced")
                        with gr.Row():
                            retry = gr.Button("Retry download", elem_id="retry-download", interactive=False)
                            cancel = gr.Button("Cancel", elem_id="cancel-run", interactive=False, variant="stop")
                            enhance = gr.Button("Enhance prompt", elem_id="enhance-prompt", interactive=False)
                        with gr.Row(equal_height=True):
                            weight = gr.Slider(0, 1, value=0.5, step=0.05, label="Upscale control weight")
                            upscale = gr.Button("Upscale to 4K", elem_id="upscale-run", interactive=False)
                    with gr.Column():
                        prompt_md = gr.Markdown(elem_id="run-prompt")
                        run_log = gr.Textbox(label="Log (last 200 lines)", lines=16, max_lines=16,
                                             interactive=False, autoscroll=True, elem_id="run-log")
            with gr.Tab("New run", id="new", elem_id="new-run") as new_tab:
                form = _new_run_form(hosts)
            with gr.Tab("Hosts", id="hosts") as hosts_tab:
                gr.Markdown("No host is configured: add a `[[hosts]]` block to cosmos.toml.", visible=not hosts)
                check = gr.Button("Check hosts now", elem_id="check-hosts", scale=0)
                hosts_table = gr.Dataframe(headers=tables.HOST_COLUMNS, interactive=False, wrap=True,
                                           elem_id="hosts-table", label="Configured hosts")
        timer = gr.Timer(api.config.ui.refresh_seconds)

        outputs = [table, counts, banner, pager, newer, older, hosts_table, run_status, video, run_log, enhanced,
                   prompt_md, retry, cancel, upscale, enhance, sent]
        view_inputs = [status_f, kind_f, host_f, search, page, selected, sent]

        def render(refresh: Refresh) -> Callable[..., list[Any]]:
            def fn(status: str, kind: str, host: str, text: str, page_no: int, run_id: str | None,
                   memo: dict) -> list[Any]:
                try:
                    view = h.render(Query(status, kind, host, text or "", page_no), run_id, refresh)
                except Exception as exc:  # keep the page alive; the next tick tries again
                    log.exception("refresh failed")
                    view = {"banner": f"❌ refresh failed: {type(exc).__name__}: {exc}"}
                changed, memo = diff(view, memo)
                return [_update(k, changed[k]) if k in changed else gr.skip() for k in RENDER_KEYS] + [memo]

            return fn

        quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        shown = render(Refresh.NONE)
        demo.load(shown, view_inputs, outputs, **quiet)
        timer.tick(render(Refresh.AUTO), view_inputs, outputs, concurrency_limit=None, **quiet)
        refresh_now.click(render(Refresh.FORCE), view_inputs, outputs, api_visibility="private")

        gr.on([status_f.change, kind_f.change, host_f.change, search.submit], lambda: 0, None, page,
              api_visibility="private").then(shown, view_inputs, outputs, **quiet)
        newer.click(lambda p: max(p - 1, 0), page, page, api_visibility="private").then(
            shown, view_inputs, outputs, **quiet)
        older.click(lambda p: p + 1, page, page, api_visibility="private").then(shown, view_inputs, outputs, **quiet)

        def pick(evt: gr.SelectData) -> str | None:
            return evt.row_value[0] if evt.row_value else None

        table.select(pick, None, selected, api_visibility="private").then(shown, view_inputs, outputs, **quiet)

        retry.click(_notice(h.retry), selected, notice, api_visibility="private").then(
            shown, view_inputs, outputs, **quiet)
        cancel.click(_notice(h.cancel), selected, notice, api_visibility="private").then(
            shown, view_inputs, outputs, **quiet)
        for button, action in ((upscale, lambda run_id, w: h.upscale(run_id, w)),
                               (enhance, lambda run_id, w: h.enhance(run_id))):
            button.click(_started(action), [selected, weight], [notice, selected], api_visibility="private").then(
                shown, view_inputs, outputs, **quiet)

        def start(*values: Any, progress: gr.Progress = gr.Progress()) -> list[Any]:  # noqa: B008 (Gradio's idiom)
            try:
                run = h.start(_form_values(values), on_upload=_upload_reporter(progress))
            except CosmosError as exc:
                return [f"❌ {exc}", gr.skip(), gr.skip(), gr.skip()]
            except Exception as exc:
                log.exception("starting a run failed")
                return [f"❌ internal error: {type(exc).__name__}: {exc}", gr.skip(), gr.skip(), gr.skip()]
            message = f"✅ Started run {run['id']} on {run['host']}."
            return [message, message, gr.Tabs(selected="runs"), run["id"]]

        form["start"].click(start, form["inputs"], [form["status"], notice, tabs, selected],
                            show_progress_on=form["status"], api_visibility="private").then(
            shown, view_inputs, outputs, **quiet)
        new_tab.select(lambda: gr.update(choices=h.video_choices()), None, form["picked"], api_visibility="private")
        for event in (hosts_tab.select, check.click):
            event(h.check_hosts, None, hosts_table, api_visibility="private")
    return demo


def _started(action: Callable[[str | None, float], tuple[str, str]]) -> Callable[..., list[Any]]:
    """An action that starts a run: show its notice and select the new run."""

    def run(run_id: str | None, weight: float) -> list[Any]:
        result = _notice(action)(run_id, weight)
        return [result, gr.skip()] if isinstance(result, str) else [f"✅ {result[0]}", result[1]]

    return run


FORM_FIELDS = ["prompt", "upload", "picked", "depth", "seg", "negative", "name", "host",
               "vis", "edge", "depth_w", "seg_w", "steps", "guidance", "seed"]  # fmt: skip


def _form_values(values: tuple[Any, ...]) -> NewRun:
    v = dict(zip(FORM_FIELDS, values, strict=True))
    return NewRun(
        prompt=v["prompt"] or "", upload=v["upload"], picked=v["picked"], depth=v["depth"], seg=v["seg"],
        negative=v["negative"] or "", name=v["name"] or "", host=v["host"],
        weights=(v["vis"], v["edge"], v["depth_w"], v["seg_w"]),
        steps=int(v["steps"] or 0), guidance=float(v["guidance"] or 0), seed=int(v["seed"] or 0),
    )  # fmt: skip


def _new_run_form(hosts: list[str]) -> dict[str, Any]:
    """The new-run form's components: "inputs" in FORM_FIELDS order, plus the start button and status."""
    videos = [".mp4", ".mov", ".avi", ".mkv", ".webm"]
    with gr.Row():
        with gr.Column():
            upload = gr.File(label="Input video (upload)", file_types=videos, elem_id="new-run-video")
            picked = gr.Dropdown([], value=None, label="…or a video used before", elem_id="new-run-picked")
            with gr.Row():
                depth = gr.File(label="Depth video (optional)", file_types=videos)
                seg = gr.File(label="Segmentation video (optional)", file_types=videos)
        with gr.Column():
            prompt = gr.Textbox(label="Prompt", lines=4, elem_id="new-run-prompt")
            negative = gr.Textbox(label="Negative prompt", lines=2)
            name = gr.Textbox(label="Name (optional)")
            host = gr.Dropdown(hosts, value=hosts[0] if hosts else None, label="Host", elem_id="new-run-host",
                               info=None if hosts else "No host configured: add [[hosts]] to cosmos.toml")
    with gr.Row():
        weights = [gr.Slider(0, 1, value=0.25, step=0.05, label=f"{c} weight") for c in ("vis", "edge", "depth", "seg")]
    with gr.Row():
        steps = gr.Number(35, precision=0, minimum=1, label="Steps")
        guidance = gr.Number(5.0, label="Guidance")
        seed = gr.Number(1, precision=0, label="Seed")
    start = gr.Button("Start run", variant="primary", elem_id="new-run-start")
    status = gr.Markdown(elem_id="new-run-status", min_height=60)
    inputs = [prompt, upload, picked, depth, seg, negative, name, host, *weights, steps, guidance, seed]
    return {"inputs": inputs, "start": start, "status": status, "picked": picked}
