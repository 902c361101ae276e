"""Runs, prompts and hosts as plain data: the JSON shape of SPEC.md that the CLI prints and the page reads."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from cosmos_core.config import HostConfig
from cosmos_core.estimates import gpu_seconds, held_gpus
from cosmos_core.launcher import PromptInput
from cosmos_core.store.tables import HostState, Prompt, Run


def run_to_dict(run: Run, num_gpus: int = 1, now: float | None = None) -> dict:
    """A run in the JSON shape of SPEC.md (every key present). `num_gpus`: the GPUs a run of its host
    takes, for its GPU time when its script reported no GPU indices; `now` (default: the clock) ends the
    GPU time of a run still going."""
    gpus = gpu_indices(run.gpus)
    held = held_gpus(gpus, num_gpus)
    return {
        "id": run.id, "prompt_id": run.prompt_id, "kind": run.kind, "host": run.host,
        "parent_run_id": run.parent_run_id, "model": run.model, "sweep_id": run.sweep_id,
        "status": run.status, "progress": run.progress, "queue_position": run.queue_position,
        "gpus": gpus, "starred": bool(run.starred), "note": run.note,
        "gpu_seconds": gpu_seconds(run.started_at, run.completed_at, held, time.time() if now is None else now),
        "exit_code": run.exit_code, "error": run.error,
        "download": {
            "status": run.download_status, "error": run.download_error,
            "bytes_done": run.bytes_done, "bytes_total": run.bytes_total, "files": json.loads(run.files),
        },
        "output_path": run.output_path, "enhanced_text": run.enhanced_text,
        "created_at": iso_utc(run.created_at), "queued_at": iso_utc(run.queued_at),
        "started_at": iso_utc(run.started_at),
        "completed_at": iso_utc(run.completed_at),
        "params": json.loads(run.params),
        "metrics": json.loads(run.metrics) if run.metrics else None, "metrics_status": run.metrics_status,
        "thumbnail": run.thumbnail,
    }  # fmt: skip


def gpu_indices(stored: str | None) -> list[int] | None:
    """The GPU indices a run holds, as stored ("0,1", from its script's log line); None when it holds
    none, or the text is no list of indices."""
    parts = [part.strip() for part in (stored or "").split(",")]
    return [int(part) for part in parts] if all(part.isascii() and part.isdigit() for part in parts) else None


def prompt_to_dict(prompt: Prompt) -> dict:
    return {
        "id": prompt.id, "name": prompt.name, "text": prompt.text, "negative_prompt": prompt.negative_prompt,
        "video": prompt.video_path, "depth": prompt.depth_path, "seg": prompt.seg_path,
        "created_at": iso_utc(prompt.created_at),
    }  # fmt: skip


def prompt_input(prompt: Prompt) -> PromptInput:
    """The prompt as a run's launch plan takes it: its texts and its files."""
    optional = {"depth": prompt.depth_path, "seg": prompt.seg_path}
    return PromptInput(prompt.text, prompt.negative_prompt, Path(prompt.video_path),
                       **{k: Path(v) for k, v in optional.items() if v})


def iso_utc(ts: float | None) -> str | None:
    """A stored epoch time as ISO-8601 UTC with milliseconds, as the JSON shows it."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def host_to_dict(host: HostConfig, state: HostState | None) -> dict:
    """A configured host as `hosts --json` shows it, with how its last contact went."""
    return {
        "name": host.name, "hostname": host.hostname, "port": host.port, "user": host.user, "image": host.image,
        "remote_dir": host.remote_dir, "num_gpus": host.num_gpus, "executor": host.executor,
        "models": list(host.models), "gpus": host.gpus, "run_args": list(host.run_args),
        "last_ok_at": iso_utc(state.last_ok_at) if state else None,
        "last_error": state.last_error if state else None,
    }
