"""The Hosts tab's editing of a configured host: its image, checkout, models, GPU slots and docker run
arguments, or removing it.

The core writes the config file (cosmos_core.config_edit: its comments and layout kept); the page only
gathers the values, shows what the host has now, and says in one line what happened.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import gradio as gr

from app.event_options import PRIVATE
from cosmos_core.api import MODELS, CosmosError

from .onboarding import host_choices

if TYPE_CHECKING:
    from .handlers import Handlers

FIELDS = ("image", "remote_dir", "models", "gpus", "run_args")  # what the form edits, as hosts edit names them


def edit_form() -> dict[str, Any]:
    """elem_ids `edit-host-name`, `-image`, `-remote-dir`, `-models`, `-gpus`, `-run-args`, `-save`, `-remove`,
    `-status`."""
    with gr.Accordion("Edit or remove a host", open=False, elem_id="edit-host"):
        name = gr.Dropdown([], label="Host", elem_id="edit-host-name")
        with gr.Row():
            fields = {"image": gr.Textbox(label="Image", elem_id="edit-host-image"),
                      "remote_dir": gr.Textbox(label="Checkout on the host (remote_dir)",
                                               elem_id="edit-host-remote-dir"),
                      "models": gr.CheckboxGroup(list(MODELS), label="Models", elem_id="edit-host-models"),
                      "gpus": gr.Number(None, label="GPUs (empty or 0: what nvidia-smi finds)", precision=0,
                                        elem_id="edit-host-gpus")}
        fields["run_args"] = gr.Textbox(label="docker run arguments (run_args; empty: the default)",
                                        elem_id="edit-host-run-args")
        with gr.Row():
            save = gr.Button("Save to the config file", variant="primary", elem_id="edit-host-save", scale=0)
            remove = gr.Button("Remove host", variant="stop", elem_id="edit-host-remove", scale=0)
        status = gr.Markdown(elem_id="edit-host-status")
    return {"edit_name": name, "edit_fields": fields, "edit_save": save, "edit_remove": remove,
            "edit_status": status}


def _host(handlers: Handlers, name: str | None) -> dict | None:
    """The host as the config file has it now; None when there is no such host."""
    return next((h for h in handlers.api.list_hosts() if h["name"] == name), None)


def current(handlers: Handlers, name: str | None) -> list[Any]:
    """The form's fields as the host has them now (empty when none is chosen)."""
    host = _host(handlers, name)
    if host is None:
        return ["", "", [], None, ""]
    return [host["image"], host["remote_dir"], host.get("models") or [], host.get("gpus"),
            shlex.join(host.get("run_args") or [])]


def save(handlers: Handlers, name: str | None, image: str, remote_dir: str, models: list[str],
         gpus: float | None, run_args: str) -> str:
    if not name:
        return "❌ choose a host first"
    try:
        words = shlex.split(run_args or "")
    except ValueError as exc:
        return f"❌ run_args: {exc} in {run_args!r}; nothing was written"
    changes = {"image": image, "remote_dir": remote_dir, "models": models, "gpus": int(gpus) if gpus else None}
    if words != ((_host(handlers, name) or {}).get("run_args") or []):  # unchanged: the file keeps its spelling
        changes["run_args"] = words
    try:
        handlers.api.edit_host(name, changes)
    except CosmosError as exc:
        return f"❌ {exc}"
    return f"✅ Saved host **{name}** to the config file; **Check hosts now** checks it as it is."


def remove(handlers: Handlers, name: str | None) -> str:
    if not name:
        return "❌ choose a host first"
    try:
        handlers.api.remove_host(name)
    except CosmosError as exc:
        return f"❌ {exc}"
    return f"✅ Removed host **{name}** from the config file; its runs stay in the history."


def wire(handlers: Handlers, ui: dict[str, Any], rerender: Any) -> None:
    """Choosing a host shows its values; Save and Remove write the file, then every host list is redrawn."""
    fields = [ui["edit_fields"][key] for key in FIELDS]
    names = ui["edit_name"]
    ui["hosts_tab"].select(lambda: gr.update(choices=handlers.api.host_names()), None, names, **PRIVATE)
    names.change(lambda name: current(handlers, name), names, fields, **PRIVATE)
    choices = [ui["form"]["fields"]["host"], ui["host_f"], ui["sweep_fields"]["host"], names]
    for button, action, inputs in ((ui["edit_save"], save, [names, *fields]), (ui["edit_remove"], remove, [names])):
        done = button.click(lambda *values, act=action: act(handlers, *values), inputs, ui["edit_status"], **PRIVATE)
        done = done.then(handlers.check_hosts, None, ui["hosts"], **PRIVATE)
        rerender(done.then(lambda model: host_choices(handlers, model), ui["form"]["fields"]["model"], choices,
                           **PRIVATE))
