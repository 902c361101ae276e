"""Add host in the page, and the Runs tab's empty states.

Add host is two steps, as `ssh` is on first contact: **Connect** asks the host for its key and shows
its type and SHA256 fingerprint (nothing is written); **Trust and add** saves that key to known_hosts
and the host to the config file (CosmosAPI.scan_host_key, add_host), then checks the host. The form's
values are taken at Connect: editing a field afterwards asks for Connect again.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import gradio as gr

from app.event_options import PRIVATE
from cosmos_core.api import (
    CHECK_ITEMS,
    DEFAULT_KEY_FILE,
    DEFAULT_KNOWN_HOSTS,
    DEFAULT_MODEL,
    DEFAULT_RUN_ARGS,
    MODELS,
    CosmosError,
    key_check_command,
)

from .layout import host_choices as new_run_hosts
from .tables import CHECK_WORDS

if TYPE_CHECKING:
    from .handlers import Handlers

NO_HOST = ("### No GPU host yet\n"
           "Runs start on a GPU host you reach over SSH (with Docker, the Cosmos image and its checkpoints). "
           "**Add host** connects to it, shows you its key to trust, and saves the host to the config file.")
FIELDS = ("name", "hostname", "port", "user", "key_file", "known_hosts")  # scan_host_key's arguments
SETUP = ("image", "remote_dir", "models", "gpus", "run_args")  # how the host runs Cosmos: scan_host_key's `setup`


# -- what the page says: plain data --------------------------------------------------------


def key_prompt(scanned: Mapping[str, Any]) -> str:
    """What Connect found: the key to trust, or that it is trusted already."""
    who = f"`{scanned['user']}@{scanned['hostname']}:{scanned['port']}`"
    key = f"**{scanned['key_type']}** key `{scanned['fingerprint']}`"
    where = f"the host **{scanned['name']}** to `{scanned['config_file']}`"
    if scanned["trust"] == "known":
        return (f"✅ {who} presented the {key}, which `{scanned['known_hosts']}` already trusts. "
                f"**Add host** saves {where}.")
    return (f"🔑 {who} presented the {key}.\n\n"
            f"Is it the host's own? On the host, `{key_check_command(scanned['key_type'])}` prints it. "
            f"**Trust and add** saves the key to `{scanned['known_hosts']}` and {where}; nothing is written before.")


def added_text(added: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    """The host added, and what its check found."""
    saved = f" and its key to `{added['known_hosts']}`" if added["key_written"] else ""
    lines = [f"✅ Added **{added['name']}** to `{added['config_file']}`{saved}."]
    ssh = report.get("ssh", {})
    if ssh.get("status") != "ok":
        lines.append(f"❌ Check: cannot log in: {ssh.get('detail', '')}")
    else:
        items = [f"{item} {CHECK_WORDS.get(report[item]['status'], report[item]['status'])}: {report[item]['detail']}"
                 for item in CHECK_ITEMS[1:] if item in report]
        lines.append(f"Check: ssh ✅ ok · {' · '.join(items)}")
        lines.append("Ready: start a run in **New run**." if report.get("ok") else
                     f"Not ready yet: fix what is marked ❌ FAILED, on the host or in its table in "
                     f"`{added['config_file']}` (`image`, `remote_dir`, `docker`, `run_args`), then **Check hosts "
                     "now** in **Hosts**.")
    return "\n\n".join(lines)


class AddHost:
    """The form's two actions; each returns the line to show and what Connect found (None: nothing)."""

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers
        self.api = handlers.api

    def connect(self, *values: Any) -> tuple[str, dict | None]:
        """`values`: the FIELDS, then the SETUP (each empty for its default)."""
        reach = {name: "" if v is None else v for name, v in zip(FIELDS, values, strict=False)}
        setup = dict(zip(SETUP, values[len(FIELDS):], strict=False))
        if "gpus" in setup:
            setup["gpus"] = setup["gpus"] or None  # the page's empty number arrives as 0
        try:
            scanned = self.api.scan_host_key(**reach, setup=setup)
        except CosmosError as exc:
            return f"❌ {exc}", None
        return key_prompt(scanned), scanned

    def trust(self, scanned: dict | None) -> str:
        if not scanned:
            return "❌ press Connect first: the host's key must be seen before it is trusted"
        try:
            added = self.api.add_host(scanned)
        except CosmosError as exc:
            return f"❌ {exc}"
        return added_text(added, self.handlers.checks.check(added["name"]))


# -- the page ------------------------------------------------------------------------------


def default_known_hosts(handlers: Handlers) -> str:
    """The known_hosts the configured hosts use, else OpenSSH's own."""
    hosts = handlers.api.config.hosts
    return str(hosts[0].known_hosts) if hosts else DEFAULT_KNOWN_HOSTS


def no_host_panel(handlers: Handlers) -> dict[str, Any]:
    """The Runs tab's top with no host configured: what is missing, and the Add host form."""
    shown = not handlers.api.host_names()
    with gr.Column(visible=shown, elem_id="no-host") as panel:
        gr.Markdown(NO_HOST)
        open_form = gr.Button("Add host", elem_id="add-host-open", variant="primary", scale=0)
    form = add_host_form("add-host", default_known_hosts(handlers), visible=False)
    open_form.click(lambda: gr.update(visible=True), None, form["column"], **PRIVATE)
    return {"no_host": panel, "add_host": form}


def add_host_form(prefix: str, known_hosts: str, visible: bool = True) -> dict[str, Any]:
    """The form; elem_ids `{prefix}-name`, `-address`, `-port`, `-user`, `-key-file`, `-known-hosts`,
    `-image`, `-remote-dir`, `-models`, `-gpus`, `-run-args`, `-connect`, `-trust`, `-close` and `-status`."""
    def box(part: str, label: str, value: str = "", placeholder: str | None = None) -> gr.Textbox:
        return gr.Textbox(value, label=label, placeholder=placeholder, elem_id=f"{prefix}-{part}")

    with gr.Column(visible=visible, elem_id=f"{prefix}-form") as column:
        with gr.Row():
            fields: dict[str, gr.components.Component] = {"name": box("name", "Name", placeholder="gpu1"),
                      "hostname": box("address", "Address", placeholder="host name or IP address"),
                      "port": box("port", "Port", "22"), "user": box("user", "User", placeholder="ubuntu")}
        with gr.Row():
            fields["key_file"] = box("key-file", "Key file (your private key)", DEFAULT_KEY_FILE)
            fields["known_hosts"] = box("known-hosts", "known_hosts file", known_hosts)
        with gr.Row():  # how it runs Cosmos: empty fields keep the defaults shown
            fields["image"] = box("image", "Image", placeholder=f"{MODELS[DEFAULT_MODEL].image} (default)")
            fields["remote_dir"] = box("remote-dir", "Checkout on the host (remote_dir)",
                                       placeholder=f"/home/USER/{MODELS[DEFAULT_MODEL].checkout} (default)")
            fields["models"] = gr.CheckboxGroup(list(MODELS), value=[DEFAULT_MODEL], label="Models",
                                                elem_id=f"{prefix}-models")
            fields["gpus"] = gr.Number(None, label="GPUs (empty or 0: what nvidia-smi finds)", precision=0,
                                       elem_id=f"{prefix}-gpus")
        fields["run_args"] = box("run-args", "docker run arguments (run_args)",
                                 placeholder=f"{shlex.join(DEFAULT_RUN_ARGS)} (default)")
        with gr.Row():
            connect = gr.Button("Connect", variant="primary", elem_id=f"{prefix}-connect", scale=0)
            trust = gr.Button("Trust and add", variant="primary", visible=False, elem_id=f"{prefix}-trust", scale=0)
            close = gr.Button("Close", elem_id=f"{prefix}-close", scale=0)
        status = gr.Markdown(elem_id=f"{prefix}-status")
    return {"column": column, "fields": fields, "connect": connect, "trust": trust, "close": close,
            "status": status, "scanned": gr.State(None)}


def wire(handlers: Handlers, ui: dict[str, Any], form: dict[str, Any], rerender: Any) -> None:
    """Connect, Trust and add (then the host dropdowns and the tab are updated), Close."""
    add = AddHost(handlers)
    fields = [form["fields"][name] for name in (*FIELDS, *SETUP)]
    found = [form["status"], form["scanned"], form["trust"]]

    def connect(*values: Any) -> list[Any]:
        line, scanned = add.connect(*values)
        label = "Add host" if scanned and scanned["trust"] == "known" else "Trust and add"
        return [line, scanned, gr.update(visible=scanned is not None, value=label)]

    def trust(scanned: dict | None) -> list[Any]:
        return [add.trust(scanned), None, gr.update(visible=False)]

    form["connect"].click(connect, fields, found, show_progress_on=form["status"], **PRIVATE)
    added = form["trust"].click(trust, form["scanned"], found, show_progress_on=form["status"], **PRIVATE)
    choices = [ui["form"]["fields"]["host"], ui["host_f"], ui["sweep_fields"]["host"], ui["edit_name"]]
    rerender(added.then(lambda model: host_choices(handlers, model), ui["form"]["fields"]["model"], choices,
                        **PRIVATE))
    gr.on([box.input for box in fields], lambda: ["", None, gr.update(visible=False)], None, found, **PRIVATE)
    form["close"].click(lambda: gr.update(visible=False), None, form["column"], **PRIVATE)


def host_choices(handlers: Handlers, model: str) -> list[Any]:
    """Every list of hosts on the page, as configured now: the New run host dropdown (hosts serving `model`),
    the Host filter, New sweep's host, the Hosts tab's host to edit."""
    names = handlers.api.host_names()
    return [gr.update(**new_run_hosts(handlers.model_form(model).hosts)),
            gr.update(choices=["all", *names]), gr.update(choices=["", *names]), gr.update(choices=names)]
