"""What the details panel shows for one run: plain values, built from the API's dicts."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cosmos_core.api import DEFAULT_MODEL, MODELS, format_seconds

from .applies import absence_line, run_actions
from .run_table import sweep_markdown
from .scores import scores_markdown
from .tables import download_text, local_time, run_duration

VIDEO_SUFFIXES = (".mp4",)
CONTROLS = ("vis", "edge", "depth", "seg")
# Stored inference parameters, in the order shown, with their labels; a run shows those it stored.
PARAM_LABELS = {
    "num_steps": "steps", "guidance": "guidance", "seed": "seed", "weights": "weights", "sigma_max": "sigma_max",
    "blur_strength": "blur strength", "canny_threshold": "canny threshold", "fps": "fps", "distilled": "distilled",
    "upsample_prompt": "upsample prompt",
}  # fmt: skip


STAR, UNSTAR = "☆ Star", "★ Starred (click to unstar)"


@dataclass(frozen=True)
class Details:
    status: str  # markdown for `run-status`
    progress: str  # markdown for `run-progress`: a running run's stage and progress figure, else ""
    video: str | None  # absolute path of the downloaded video, served from outputs_dir; None: no player
    log: str  # its tail; "": no log box
    enhanced: str  # the enhanced prompt of an enhancement run, else ""
    prompt: str  # markdown: prompt, inputs and parameters
    actions: frozenset[str] = frozenset()  # the buttons shown (applies.ACTIONS): those the core accepts
    missing: str = ""  # one line on why there is no video (or no log), in their place
    star_label: str = STAR  # the star button's label: what a click does
    note: str = ""  # the run's note, in its box
    shown: bool = True  # False: no run to show, the panel is hidden and `status` says why


NO_RUN = Details("Select a run in the table to see its details.", "", None, "", "", "", shown=False)
NO_HOST_HINT = "No runs yet: add a GPU host above, then start a run in **New run**."
NO_RUNS = "No runs yet: start one in the **New run** tab."


def video_of(run: Mapping) -> str | None:
    """The run's video once its download is done."""
    path = run["output_path"]
    if run["download"]["status"] != "done" or not path or not path.endswith(VIDEO_SUFFIXES):
        return None
    return path


def status_markdown(run: Mapping, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    parts = [f"**{run['id']}**", f"{run['kind']} on {run['host']}", model_title(run["model"]),
             f"status **{run['status']}**"]
    if run.get("sweep_id"):
        parts.insert(1, sweep_markdown(run["sweep_id"]))
    if run["exit_code"] is not None:
        parts.append(f"exit code {run['exit_code']}")
    if download := download_text(run["download"]):
        parts.append(f"download {download}")
    if duration := run_duration(run, now):
        parts.append(duration)
    if run.get("gpu_seconds") is not None:
        parts.append(f"GPU time {format_seconds(run['gpu_seconds'])}")
    if run.get("sweep_id"):
        parts.append(f"sweep {run['sweep_id']}")
    parts.append(f"created {local_time(run['created_at'])}")
    lines = [("★ " if run.get("starred") else "") + " · ".join(parts)]
    if scores := scores_markdown(run):
        lines.append(scores)
    if run.get("note"):
        lines.append(f"**Note:** {run['note']}")
    if run["error"]:
        lines.append(f"**Error:** {run['error']}")
    if run["download"]["status"] == "failed" and run["download"]["error"]:
        lines.append(f"**Download failed:** {run['download']['error']}")
    return "\n\n".join(lines)


def model_title(name: str) -> str:
    return MODELS[name].title if name in MODELS else name


def progress_markdown(run: Mapping) -> str:
    """A running run's stage and progress figure, and the time left of a running or queued run."""
    parts = [run["progress"]] if run["status"] == "running" and run["progress"] else []
    if run["status"] in ("running", "queued") and run.get("time_left_text"):
        parts.append(f"time left: {run['time_left_text']}")
    return f"⏳ {' · '.join(parts)}" if parts else ""


def _param_text(key: str, value: Any) -> str:
    if key == "weights":
        value = ", ".join(f"{c} {w:g}" for c, w in zip(CONTROLS, value, strict=False))
    elif isinstance(value, bool):
        value = "yes" if value else "no"
    elif value is None:
        value = "model default"
    return f"{PARAM_LABELS[key]} {value}"


def _params_text(run: Mapping) -> str:
    params = run["params"]
    if run["kind"] == "inference":
        return " · ".join(_param_text(key, params[key]) for key in PARAM_LABELS if key in params)
    if run["kind"] == "upscale":
        return f"4K upscale of {run['parent_run_id']} · control weight {params.get('control_weight')}"
    return "prompt enhancement"


def prompt_markdown(run: Mapping, prompt: Mapping | None) -> str:
    if prompt is None:
        return f"Prompt {run['prompt_id']} · {_params_text(run)}"
    inputs = [f"video `{Path(prompt['video']).name}`"]
    inputs += [f"{label} `{Path(prompt[key]).name}`" for key, label in (("depth", "depth"), ("seg", "segmentation"))
               if prompt[key]]
    lines = [f"**Prompt** {prompt['name']} (`{prompt['id']}`)", f"> {prompt['text']}"]
    if prompt["negative_prompt"]:
        lines.append(f"**Negative:** {prompt['negative_prompt']}")
    lines += [f"**Inputs:** {', '.join(inputs)}", f"**Parameters:** {_params_text(run)}"]
    return "\n\n".join(lines)


def run_details(run: Mapping, prompt: Mapping | None, log: str, video_exists: bool = True,
                host_models: Collection[str] | None = (DEFAULT_MODEL,)) -> Details:
    """The panel for `run`; `log` is the tail already read, `video_exists` whether the file is on disk,
    `host_models` what the run's host serves now (None: it is no longer configured)."""
    video = video_of(run) if video_exists else None
    return Details(
        status=status_markdown(run),
        progress=progress_markdown(run),
        video=video,
        log=log,
        enhanced=run["enhanced_text"] or "",
        prompt=prompt_markdown(run, prompt),
        actions=run_actions(run, host_models),
        missing=absence_line(run, bool(log), video is not None),
        star_label=UNSTAR if run.get("starred") else STAR,
        note=run.get("note") or "",
    )


def empty_states(has_hosts: bool, run_count: int, details: Mapping[str, Any]) -> dict[str, Any]:
    """The no-host panel's visibility (view key `no_host`), and, with no run at all, the line where a
    run's details would be saying what to do first."""
    view: dict[str, Any] = {"no_host": not has_hosts}
    if not details["run_shown"] and details["run_status"] == NO_RUN.status and run_count == 0:
        view["run_status"] = NO_RUNS if has_hosts else NO_HOST_HINT
    return view
