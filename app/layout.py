"""The page's components, created in place inside `gr.Blocks`; each function returns them by name.

The elem_ids `runs-table`, `refresh-now`, `run-status`, `run-progress`, `run-video`, `run-log`,
`retry-download`, `cancel-run` and `new-run` are a stable test contract (SPEC.md); so are `run-details`
(the panel, hidden until a run is open), `no-host` and the Add host form's (app/onboarding.py). In the
panel, `run-video` and `run-log` show when the run has a video or a log (else `run-missing` says why),
and each action's button (the upscale's `upscale-controls`) only on a run it applies to (app/applies.py).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from cosmos_core.api import MAX_RUNS, SORT_KEYS, STATUSES, STRENGTHS, SWEPT

from . import compare, judging, run_table, tables
from .handlers import ALL, DEFAULT_MODEL, KNOBS, ModelForm

KINDS = ["inference", "upscale", "enhance"]
VIDEO_TYPES = [".mp4", ".mov", ".avi", ".mkv", ".webm"]
# The new-run form's inputs, in the order the start handler receives them.
FORM_FIELDS = ["prompt", "upload", "picked", "depth", "seg", "negative", "name", "model", "host",
               "vis", "edge", "depth_w", "seg_w", "steps", "guidance", "seed", "sigma_max", "blur_strength",
               "canny_threshold", "fps", "distilled", "upsample_prompt"]  # fmt: skip
NO_HOST = ("No host serves this model yet: add one with Add host (Hosts tab), or list the model in a host's "
           "models in cosmos.toml")


def header() -> dict[str, Any]:
    with gr.Row(equal_height=True):
        gr.Markdown("# Cosmos Run Dashboard")
        refresh_now = gr.Button("Refresh now", elem_id="refresh-now", scale=0, variant="secondary")
    return {
        "refresh_now": refresh_now,
        "counts": gr.Markdown(elem_id="run-counts"),
        "banner": gr.Markdown(elem_id="host-banner"),
        "notice": gr.Markdown(elem_id="notice"),
    }


def runs_tab(hosts: list[str]) -> dict[str, Any]:
    """Filters, the experiment table with its pager, and the selected run's details."""
    with gr.Row():
        ui: dict[str, Any] = {
            "status_f": gr.Dropdown([ALL, *STATUSES], value=ALL, label="Status", elem_id="filter-status"),
            "kind_f": gr.Dropdown([ALL, *KINDS], value=ALL, label="Kind", elem_id="filter-kind"),
            "host_f": gr.Dropdown([ALL, *hosts], value=ALL, label="Host", elem_id="filter-host"),
            "sweep_f": gr.Dropdown([ALL], value=ALL, label="Sweep", allow_custom_value=True, elem_id="filter-sweep"),
            "search": gr.Textbox(label="Search", placeholder="run id, prompt name or text, note, sweep id (Enter)",
                                 elem_id="filter-search", scale=2),
            "starred_f": gr.Checkbox(label="★ Starred only", elem_id="filter-starred", scale=0),
        }  # fmt: skip
    ui |= table_controls()
    columns = run_table.shown_columns(None)
    ui["table"] = gr.Dataframe(headers=run_table.headers(columns), datatype=run_table.datatypes(columns),
                               column_widths=run_table.widths(columns), elem_id="runs-table", interactive=False,
                               wrap=True, max_height=420,
                               label="Runs (click a run to open it; tick 2-9 to compare them)")
    with gr.Row():
        ui["newer"] = gr.Button("◀ Newer", interactive=False, scale=0, size="sm")
        ui["pager"] = gr.Markdown(elem_id="pager")
        ui["older"] = gr.Button("Older ▶", interactive=False, scale=0, size="sm")
    return ui | details()


def table_controls() -> dict[str, Any]:
    """The table's order, its columns, and the runs picked for Compare."""
    sorts = [(run_table.COLUMNS[key].header if key in run_table.COLUMNS else key, key) for key in SORT_KEYS]
    ui: dict[str, Any] = {"picked": gr.State([])}
    with gr.Row():
        ui["sort_f"] = gr.Dropdown(sorts, value="created", label="Sort by", elem_id="table-sort")
        ui["order_f"] = gr.Radio(["descending", "ascending"], value="descending", label="Order",
                                 elem_id="table-order")
        ui["picked_note"] = gr.Markdown(run_table.picked_text([]), elem_id="table-picked")
        with gr.Column(scale=0, min_width=160):
            ui["compare_picked"] = gr.Button("Compare picked", interactive=False, elem_id="compare-picked", size="sm")
            ui["clear_picked"] = gr.Button("Clear", interactive=False, elem_id="clear-picked", size="sm")
    with gr.Accordion("Columns", open=False, elem_id="table-columns-box"):
        ui["columns_f"] = gr.CheckboxGroup([(run_table.COLUMNS[k].header, k) for k in run_table.CHOOSABLE],
                                           value=run_table.DEFAULT_SHOWN, show_label=False, elem_id="table-columns")
    return ui


def details() -> dict[str, Any]:
    """The selected run: `run-status` always (a hint when no run is open), the rest once one is."""
    ui: dict[str, Any] = {"run_status": gr.Markdown(elem_id="run-status")}
    with gr.Column(visible=False, elem_id="run-details") as ui["run_details"]:
        ui |= _run_panel()
    return ui


def _run_panel() -> dict[str, Any]:
    ui: dict[str, Any] = {"run_progress": gr.Markdown(elem_id="run-progress")}
    with gr.Row():
        with gr.Column():
            ui["run_missing"] = gr.Markdown(visible=False, elem_id="run-missing")  # why no video (or log)
            ui["run_video"] = gr.Video(elem_id="run-video", interactive=False, label="Output video", height=360,
                                       visible=False)
            ui["run_enhanced"] = gr.Textbox(label="Enhanced prompt", visible=False, interactive=False, lines=3,
                                        buttons=["copy"], elem_id="run-enhanced")
            with gr.Row():  # each shown only on a run the core would take it for (applies.py)
                ui["retry"] = gr.Button("Retry download", elem_id="retry-download", visible=False)
                ui["cancel"] = gr.Button("Cancel", elem_id="cancel-run", visible=False, variant="stop")
                ui["enhance"] = gr.Button("Enhance prompt", elem_id="enhance-prompt", visible=False)
                ui["rerun"] = gr.Button("Run again", elem_id="rerun-run", visible=False)
            with gr.Row(equal_height=True, visible=False, elem_id="upscale-controls") as ui["upscale_controls"]:
                ui["weight"] = gr.Slider(0, 1, value=0.5, step=0.05, label="Upscale control weight",
                                         elem_id="upscale-weight")
                ui["upscale"] = gr.Button("Upscale to 4K", elem_id="upscale-run")
            ui |= judging.run_marks()
        with gr.Column():
            ui["run_prompt"] = gr.Markdown(elem_id="run-prompt")
            ui["run_log"] = gr.Textbox(label="Log (last 200 lines)", lines=16, max_lines=16, interactive=False,
                                       autoscroll=True, elem_id="run-log", visible=False)
    return ui


def new_run_form(models: list[tuple[str, str]], form: ModelForm) -> dict[str, Any]:
    """The form's components: "fields" by FORM_FIELDS name, the start and cancel buttons, the start's
    steps (with their timer), its status line.
    `form` gives the default model's hosts, knob values and which knobs it takes."""
    f: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            f["upload"] = gr.File(label="Input video (upload)", file_types=VIDEO_TYPES, elem_id="new-run-video")
            f["picked"] = gr.Dropdown([], value=None, label="…or a video used before", elem_id="new-run-picked")
            with gr.Row():
                f["depth"] = gr.File(label="Depth video (optional)", file_types=VIDEO_TYPES, elem_id="new-run-depth")
                f["seg"] = gr.File(label="Segmentation video (optional)", file_types=VIDEO_TYPES,
                                   elem_id="new-run-seg")
        with gr.Column():
            f["prompt"] = gr.Textbox(label="Prompt", lines=4, elem_id="new-run-prompt")
            f["negative"] = gr.Textbox(label="Negative prompt", lines=2)
            f["name"] = gr.Textbox(label="Name (optional)")
            with gr.Row():
                f["model"] = gr.Dropdown(models, value=DEFAULT_MODEL, label="Model", elem_id="new-run-model")
                f["host"] = gr.Dropdown(**host_choices(form.hosts), label="Host", elem_id="new-run-host")
    knob = {name: {"value": k.value, "visible": k.shown} for name, k in form.knobs.items()}
    with gr.Row():
        for name, control in zip(KNOBS["weights"], ("vis", "edge", "depth", "seg"), strict=True):
            f[name] = gr.Slider(0, 1, step=0.05, label=f"{control} weight", **knob[name])
    with gr.Row():
        f["steps"] = gr.Number(precision=0, minimum=1, label="Steps", **knob["steps"])
        f["guidance"] = gr.Number(label="Guidance", **knob["guidance"])
        f["seed"] = gr.Number(precision=0, label="Seed", **knob["seed"])
        f["sigma_max"] = gr.Number(label="sigma_max", info="empty: the model's default", elem_id="new-run-sigma-max",
                                   **knob["sigma_max"])
    with gr.Row(equal_height=True):
        f["blur_strength"] = gr.Dropdown(list(STRENGTHS), label="Blur strength (vis)", elem_id="new-run-blur",
                                         **knob["blur_strength"])
        f["canny_threshold"] = gr.Dropdown(list(STRENGTHS), label="Canny threshold (edge)", elem_id="new-run-canny",
                                           **knob["canny_threshold"])
        f["fps"] = gr.Number(precision=0, label="FPS", elem_id="new-run-fps", **knob["fps"])
        f["distilled"] = gr.Checkbox(label="Distilled edge model", elem_id="new-run-distilled", **knob["distilled"])
        f["upsample_prompt"] = gr.Checkbox(label="Upsample prompt first", elem_id="new-run-upsample",
                                           **knob["upsample_prompt"])
    with gr.Row():
        start = gr.Button("Start run", variant="primary", elem_id="new-run-start")
        cancel = gr.Button("Cancel start", variant="stop", visible=False, elem_id="new-run-cancel")
    return {
        "fields": {name: f[name] for name in FORM_FIELDS},
        "start": start,
        "cancel": cancel,  # shown while a start goes on (start_watch.py)
        "steps": gr.Markdown(visible=False, elem_id="new-run-steps"),  # the start's steps and their times
        "step_timer": gr.Timer(1, active=False),  # counts the current step's time while a start goes on
        "status": gr.Markdown(elem_id="new-run-status", min_height=60),
    }


def host_choices(hosts: list[str]) -> dict[str, Any]:
    """The Host dropdown's choices for a model: the hosts serving it, the first one picked."""
    return {"choices": hosts, "value": hosts[0] if hosts else None, "info": None if hosts else NO_HOST}


def new_sweep_form(models: list[tuple[str, str]], hosts: list[str]) -> dict[str, Any]:
    """Prompts × lists of values: the runs it makes are counted before anything starts."""
    f: dict[str, Any] = {}
    with gr.Row():
        f["prompts"] = gr.Dropdown([], multiselect=True, label="Prompts", elem_id="new-sweep-prompts", scale=3)
        f["model"] = gr.Dropdown(models, value=DEFAULT_MODEL, label="Model")
        f["host"] = gr.Dropdown(["", *hosts], value="", label="Host (empty: the least busy)", elem_id="new-sweep-host")
    with gr.Row():
        for swept in SWEPT:  # the CLI's lists too: the New sweep tab sweeps what `cosmos sweep` does
            f[swept.name] = gr.Textbox(label=swept.label, placeholder=swept.example,
                                       elem_id=f"new-sweep-{swept.name.replace('_', '-')}")
    with gr.Row():
        f["weights"] = gr.Textbox(label="Control weights VIS,EDGE,DEPTH,SEG (several: separate with ;)",
                                  placeholder="0,0.3,0,0; 0,0.5,0,0", elem_id="new-sweep-weights", scale=3)
        f["max_runs"] = gr.Number(MAX_RUNS, precision=0, minimum=1, label="At most this many runs",
                                  elem_id="new-sweep-max-runs")
    return {
        "sweep_fields": f,
        "sweep_preview": gr.Markdown("Choose one or more prompts.", elem_id="new-sweep-preview"),
        "sweep_start": gr.Button("Start sweep", variant="primary", elem_id="new-sweep-start"),
        "sweep_status": gr.Markdown(elem_id="new-sweep-status"),
    }


def gallery_tab() -> dict[str, Any]:
    """Completed runs' videos, newest first, filtered like the runs table; a click opens the run."""
    return {
        "gallery": gr.Gallery(label="Completed runs, newest first (filtered like the runs table)", columns=4,
                              height=560, allow_preview=False, elem_id="run-gallery"),
        "gallery_ids": gr.State([]),
    }


def compare_tab() -> dict[str, Any]:
    """Side by side: a sweep's videos, or 2-9 runs', played together."""
    with gr.Row(equal_height=True):
        pick = gr.Textbox(label="A sweep id, or 2-9 run ids", placeholder="sw_… or rs_… rs_… (Enter)",
                          elem_id="compare-pick", scale=4)
        show = gr.Button("Compare", elem_id="compare-show", scale=0)
    grid = gr.HTML(compare.line(compare.USAGE), elem_id="compare-grid", js_on_load=compare.SYNC_JS)
    return {"compare_pick": pick, "compare_show": show, "compare_grid": grid}


def hosts_tab() -> dict[str, Any]:
    return {
        "check": gr.Button("Check hosts now", elem_id="check-hosts", scale=0),
        "hosts": gr.Dataframe(headers=tables.HOST_COLUMNS, interactive=False, wrap=True,
                                    elem_id="hosts-table", label="Configured hosts"),
    }
