"""Plain formatting of runs, counts and hosts for the page: dicts in, DataFrames and text out (the runs
table itself: run_table.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

from cosmos_core.api import STATUSES, agreeing, format_seconds

HOST_COLUMNS = ["host", "address", "reachable", "ready", "docker", "image", "starts", "GPUs", "GPU queue", "GPU time",
                "last sync", "last error"]
# A check's result in words, with the mark beside it (a browser without an emoji font shows boxes).
CHECK_WORDS = {"ok": "✅ ok", "fail": "❌ FAILED", "absent": "– absent"}
REASON_CHARS = 48



def parse_time(iso: str | None) -> datetime | None:
    """The API's ISO-8601 UTC timestamps ("...Z") as aware datetimes."""
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def local_time(iso: str | None) -> str:
    when = parse_time(iso)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else ""


def run_duration(run: Mapping, now: datetime) -> str:
    """Started to completed; for a run still going, started to now."""
    started = parse_time(run["started_at"])
    if started is None:
        return ""
    ended = parse_time(run["completed_at"]) or now
    return format_seconds((ended - started).total_seconds())


def status_text(run: Mapping, limit: int = REASON_CHARS) -> str:
    """The status, with the start of the reason when the run failed (the details show all of it)
    and the stage and progress figure while it runs."""
    if run["status"] == "failed" and run["error"]:
        reason = run["error"] if len(run["error"]) <= limit else run["error"][: limit - 1] + "…"
        return f"failed: {reason}"
    left = f" · {run['time_left_text']}" if run.get("time_left_text") else ""
    if run["status"] == "queued":
        place = f" #{run['queue_position']}" if run.get("queue_position") else ""
        return f"queued{place}" + (f" · {run['progress']}" if run["progress"] else "") + left
    if run["status"] == "running":
        gpus = f" · GPUs {','.join(map(str, run['gpus']))}" if run.get("gpus") else ""
        return "running" + gpus + (f" · {run['progress']}" if run["progress"] else "") + left
    if run["status"] in ("pending", "uploading") and run["progress"]:
        return f"{run['status']} · {run['progress']}"  # the step its start is at: "starting the container …"
    return run["status"]


def download_text(download: Mapping) -> str:
    """Percent while downloading; otherwise the download state, empty when there is none."""
    status = download["status"]
    if status == "downloading":
        total = download["bytes_total"] or 0
        return f"{100 * download['bytes_done'] // total}%" if total else "0%"
    return "" if status == "none" else status


def pager_text(first: int, shown: int, total: int) -> str:
    """Which runs the page shows; nothing while there are no runs at all (the empty state says why)."""
    if shown:
        return f"Runs {first + 1}–{first + shown}"
    return "No runs match." if total else ""


def counts_text(counts: Mapping[str, int]) -> str:
    """'**8** runs: running **2** · completed **5** · …' for every status with runs, in lifecycle order;
    nothing while there are no runs (the empty state says what to do, details.empty_states)."""
    parts = [f"{status} **{counts[status]}**" for status in STATUSES if counts.get(status)]
    total = sum(counts.values())
    return f"**{total}** {agreeing(total, 'run')}: " + " · ".join(parts) if parts else ""


def unreachable_text(hosts: Sequence[Mapping]) -> str:
    """A warning line per host whose last probe failed; empty when all are fine."""
    lines = [f"⚠️ Host **{h['name']}** is unreachable: {h['last_error']}. Showing its runs as last known."
             for h in hosts if h["last_error"]]
    return "\n\n".join(lines)


def _check_cell(check: Mapping | None, item: str) -> str:
    part = (check or {}).get(item)
    if not part:
        return "" if check is None else "not checked"
    return f"{CHECK_WORDS.get(part['status'], part['status'])}: {part['detail']}"


def _ready_cell(check: Mapping | None) -> str:
    """Whether a run can start on the host, as `hosts check` says it (`ok`), and if not which items
    failed: the failing cell's reason may be in a column of its own or, for remote_dir, in none."""
    if check is None:
        return ""
    if check.get("ok"):
        return "✅ ready"
    failed = [item for item, part in check.items() if isinstance(part, Mapping) and part.get("status") == "fail"]
    return "❌ not ready" + (f": {', '.join(failed)} failed" if failed else "")


def _address(host: Mapping) -> str:
    """Where a host's runs go, and by which engine when it is not Docker over SSH."""
    executor = host.get("executor", "docker")
    if executor == "local":
        return "this machine"
    where = f"{host['user']}@{host['hostname']}:{host['port']}"
    return f"{where} (Slurm)" if executor == "slurm" else where


def hosts_frame(hosts: Sequence[Mapping], checks: Mapping[str, Mapping]) -> pd.DataFrame:
    """Configured hosts with the latest sync state and, once checked, the check results."""
    rows = []
    for h in hosts:
        check = checks.get(h["name"])
        if check is not None:
            ssh = check.get("ssh", {})
            reachable = "✅ yes" if ssh.get("status") == "ok" else f"❌ no: {ssh.get('detail', 'not reachable')}"
        else:
            reachable = "❌ down" if h["last_error"] else ("✅ up" if h["last_ok_at"] else "not checked")
        rows.append([
            h["name"], _address(h), reachable, _ready_cell(check), _check_cell(check, "docker"),
            _check_cell(check, "image"), _check_cell(check, "start"), _check_cell(check, "gpus"),
            _check_cell(check, "queue"),
            format_seconds(h.get("gpu_seconds") or 0),
            local_time(h["last_ok_at"]),
            h["last_error"] or "",
        ])  # fmt: skip
    return pd.DataFrame(rows, columns=HOST_COLUMNS)
