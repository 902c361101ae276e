"""Run again: New run filled from a run, with its inputs, prompt, model, host and every parameter, so
the user changes one thing and starts. Starting goes through New run as any run does (the core then
finds the stored prompt again instead of storing a duplicate)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosmos_core.api import INPUT_LABELS, CosmosError, InferenceParams, Refresh

from .applies import required_run
from .handlers import Handlers, ModelForm


@dataclass(frozen=True)
class Refill:
    """The form's every field (FORM_FIELDS name -> value), the run's model form (its hosts, which knobs
    it takes), what "a video used before" offers, and a note on where the values came from."""

    values: dict[str, Any]
    form: ModelForm
    videos: list[tuple[str, str]]
    note: str


def refill(handlers: Handlers, run_id: str | None) -> Refill:
    """The form filled from `run_id`. An input no longer on this machine is left empty and the note says
    so; a depth or segmentation file outside outputs_dir is shown as its kept copy (the page serves
    outputs_dir alone)."""
    run = handlers.api.get_run(required_run(run_id), Refresh.NONE)
    prompt = handlers.prompt(run["prompt_id"])
    if run["kind"] != "inference" or prompt is None:
        raise CosmosError(f"run {run['id']} is an {run['kind']} run; only an inference run can be run again")
    params = InferenceParams.from_dict(run["params"], base=handlers.api.default_params(run["model"]))
    form = handlers.model_form(run["model"], params)
    here = {role: str(prompt[role]) for role in INPUT_LABELS if prompt[role] and Path(prompt[role]).is_file()}
    shown = here | {role: str(_servable(handlers, here[role])) for role in ("depth", "seg") if role in here}
    values, notes = form_values(run, prompt, form, shown)
    return Refill(values, form, handlers.video_choices(), "\n\n".join(notes))


def form_values(run: Mapping, prompt: Mapping, form: ModelForm,
                here: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """(every field's value, the note's lines) for `run` of `prompt`, whose input files still here are
    `here` (role -> the path to show). The host is the run's while it serves the model."""
    host = run["host"] if run["host"] in form.hosts else next(iter(form.hosts), None)
    values = {
        "prompt": prompt["text"], "upload": None, "picked": here.get("video"), "depth": here.get("depth"),
        "seg": here.get("seg"), "negative": prompt["negative_prompt"], "name": prompt["name"],
        "model": run["model"], "host": host,
    }  # fmt: skip
    notes = [f"Filled from run {run['id']}: change what you like, then Start run."]
    notes += [f"⚠️ Its {label} {prompt[role]} is no longer on this machine: give it again."
              for role, label in INPUT_LABELS.items() if prompt[role] and role not in here]
    if host != run["host"]:
        notes.append(f"⚠️ Its host {run['host']} no longer serves {run['model']}: pick another.")
    return values | {name: knob.value for name, knob in form.knobs.items()}, notes


def _servable(handlers: Handlers, path: str) -> Path:
    inside = Path(path).resolve().is_relative_to(handlers.outputs_dir.resolve())
    return Path(path) if inside else handlers.api.keep_upload(path)
