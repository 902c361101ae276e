"""What applies to one run in its details panel (pure): the actions the core would accept on it, and a
line saying why it has no log or no video to show.

The panel hides what does not apply instead of disabling it, so each rule here is the core's own (the
API method named beside it): a visible button is one the core accepts. Star and Note are in no set:
the core marks any run (api.mark), so they show whenever the panel does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from cosmos_core.api import DEFAULT_MODEL, CosmosError

ACTIVE = ("pending", "uploading", "queued", "running")  # api.cancel: any status not terminal
# Every action of the panel, in its order.
ACTIONS = ("retry", "cancel", "upscale", "enhance", "rerun", "open_sweep")


def run_actions(run: Mapping, host_models: Collection[str] | None) -> frozenset[str]:
    """The panel's actions the core accepts on `run`, whose host serves `host_models` (None: the host is no
    longer in the config, so nothing that needs it applies)."""
    configured = host_models is not None
    applies = {
        # api.retry_download: a failed download (a done one it leaves alone), fetched from the run's host
        "retry": configured and run["download"]["status"] == "failed",
        # api.cancel: a run not yet terminal, whose host's executor stops it
        "cancel": configured and run["status"] in ACTIVE,
        # api.start_upscale: a completed Cosmos-Transfer1 inference run, upscaled on its own host
        "upscale": configured and run["kind"] == "inference" and run["status"] == "completed"
                   and run["model"] == DEFAULT_MODEL,
        # api.start_enhance on the run's host: Cosmos-Transfer1's prompt upsampler, so a host serving it
        "enhance": configured and DEFAULT_MODEL in (host_models or ()),
        # Run again (rerun_form.refill, api.rerun): an inference run, any status; the form picks a host
        "rerun": run["kind"] == "inference",
        "open_sweep": bool(run.get("sweep_id")),
    }  # fmt: skip
    return frozenset(action for action, ok in applies.items() if ok)


def never_started(run: Mapping) -> bool:
    """The run ended before its job ever existed (its upload or `docker run` failed, or it was cancelled
    while starting): it has no log and no output anywhere."""
    return run["status"] in ("failed", "cancelled") and not run.get("queued_at") and not run.get("started_at")


def absence_line(run: Mapping, has_log: bool, has_video: bool) -> str:
    """One line on why the panel shows no video (or, for a run that never started, no log either); ""
    when nothing is missing that the run could have. An enhancement run has a text, never a video."""
    if never_started(run):
        because = f": {run['error']}" if run["error"] else ""
        return f"⛔ This run never started{because}. It has no log and no video."
    if has_video or run["kind"] == "enhance":
        return ""
    status = run["status"]
    if status in ("pending", "uploading"):
        return "Starting: its inputs are uploading; the log shows once its job starts, the video once it completes."
    if status == "queued":
        return "Waiting for GPUs: no video yet." + ("" if has_log else " The log shows once it starts.")
    if status == "running":
        return "No video yet: it shows once the run completes and its output has downloaded."
    if status == "completed":
        return _no_video_of_completed(run)
    return f"No video: the run {status} before it made one."


def _no_video_of_completed(run: Mapping) -> str:
    download = run["download"]["status"]
    if download == "failed":
        return "No video: its download failed."
    if download in ("pending", "downloading"):
        return "The video shows once its download is done."
    if download == "done":
        path = run["output_path"]
        return f"The video is no longer on this machine{f' ({path})' if path else ''}."
    return "No video: the run completed without one."


def required_run(run_id: str | None) -> str:
    """The run an action of the details panel is for: the one selected, or CosmosError saying to select one."""
    if not run_id:
        raise CosmosError("select a run in the table first")
    return run_id
