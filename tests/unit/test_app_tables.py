"""The dashboard's table formatting: plain dicts in, DataFrames and text out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app import tables
from app.run_table import cell_text, experiment_frame, shown_columns
from cosmos_core.api import format_seconds
from tests.unit.app_fakes import make_run

NOW = datetime(2025, 1, 2, 3, 10, 5, tzinfo=UTC)


def test_the_runs_table_keeps_the_api_order_and_shows_prompt_names():
    runs = [make_run("rs_2"), make_run("rs_1", prompt_id="ps_gone")]
    frame = experiment_frame(runs, {"ps_1": "red robot"}, shown_columns(["prompt", "duration"]), now=NOW)
    assert list(frame.columns) == ["pick", "id", "prompt", "duration"]
    assert [cell_text(cell) for cell in frame["id"]] == ["rs_2", "rs_1"]
    assert list(frame["prompt"]) == ["red robot", "ps_gone"]  # an unknown prompt shows its id
    assert frame.loc[0, "duration"] == "1m 10s"


def test_status_carries_a_short_failure_reason():
    failed = make_run(status="failed", error="Container exited with code 137 (killed: out of memory) " * 3)
    text = tables.status_text(failed)
    assert text.startswith("failed: Container exited with code 137")
    assert text.endswith("…") and len(text) == len("failed: ") + tables.REASON_CHARS
    assert tables.status_text(make_run(status="running", error=None)) == "running"


def test_a_running_run_shows_its_stage_and_progress_and_every_run_its_model():
    running = make_run(status="running", model="transfer2.5", progress="chunk 1/3 · 12/35 steps")
    assert tables.status_text(running) == "running · chunk 1/3 · 12/35 steps"
    assert tables.status_text({**running, "status": "completed"}) == "completed"
    frame = experiment_frame([running], {}, shown_columns(["model", "kind"]), now=NOW)
    assert frame.loc[0, "model"] == "transfer2.5" and frame.loc[0, "kind"] == "inference"


def test_a_starting_run_shows_the_step_its_start_is_at():
    starting = make_run(status="uploading", progress="starting the container on gpu1 (docker run)")
    assert tables.status_text(starting) == "uploading · starting the container on gpu1 (docker run)"
    assert tables.status_text({**starting, "progress": None}) == "uploading"


def test_download_shows_percent_only_while_downloading():
    assert tables.download_text({"status": "downloading", "bytes_done": 25, "bytes_total": 200}) == "12%"
    assert tables.download_text({"status": "downloading", "bytes_done": 0, "bytes_total": 0}) == "0%"
    assert tables.download_text({"status": "failed", "bytes_done": 3, "bytes_total": 9}) == "failed"
    assert tables.download_text({"status": "none", "bytes_done": 0, "bytes_total": 0}) == ""


def test_a_running_run_counts_its_duration_to_now():
    running = make_run(status="running", completed_at=None)
    assert tables.run_duration(running, NOW) == "6m 00s"
    assert tables.run_duration(make_run(started_at=None), NOW) == ""
    assert format_seconds(7322) == "2h 02m" and format_seconds(4) == "4s"


def test_counts_follow_the_lifecycle_order():
    text = tables.counts_text({"failed": 1, "running": 2, "completed": 5})
    assert text == "**8** runs: running **2** · completed **5** · failed **1**"
    assert tables.counts_text({}) == ""  # the empty state says it (details.empty_states), once
    assert tables.counts_text({"completed": 1}) == "**1** run: completed **1**"


def test_unreachable_hosts_get_a_warning_line_each():
    hosts = [{"name": "gpu1", "last_error": None}, {"name": "gpu2", "last_error": "cannot connect"}]
    assert tables.unreachable_text(hosts) == (
        "⚠️ Host **gpu2** is unreachable: cannot connect. Showing its runs as last known.")


def test_hosts_frame_uses_the_last_sync_until_checked():
    host = {"name": "gpu1", "hostname": "h", "port": 22, "user": "u", "last_ok_at": "2025-01-02T03:04:05.000Z",
            "last_error": None}
    unchecked = tables.hosts_frame([host], {})
    assert unchecked.loc[0, "reachable"] == "✅ up" and unchecked.loc[0, "docker"] == ""
    assert unchecked.loc[0, "address"] == "u@h:22"
    down = {"ssh": {"status": "fail", "detail": "cannot connect"}}
    checked = tables.hosts_frame([host], {"gpu1": down})
    assert checked.loc[0, "reachable"] == "❌ no: cannot connect" and checked.loc[0, "docker"] == "not checked"
    ok = {"ssh": {"status": "ok", "detail": "x"}, "gpus": {"status": "absent", "detail": "nvidia-smi not found"}}
    assert tables.hosts_frame([host], {"gpu1": ok}).loc[0, "GPUs"] == "– absent: nvidia-smi not found"
    failed = {"ssh": {"status": "ok", "detail": "x"}, "start": {"status": "fail", "detail": "docker run failed"}}
    assert tables.hosts_frame([host], {"gpu1": failed}).loc[0, "starts"] == "❌ FAILED: docker run failed"


def test_a_checked_host_reads_ready_or_not_ready_naming_what_failed():
    host = {"name": "gpu1", "hostname": "h", "port": 22, "user": "u", "last_ok_at": None, "last_error": None}
    ok = {"name": "gpu1", "ok": True, "ssh": {"status": "ok", "detail": "x"}}
    refused = {"name": "gpu1", "ok": False, "ssh": {"status": "ok", "detail": "x"},
               "start": {"status": "fail", "detail": "docker run failed"},
               "remote_dir": {"status": "fail", "detail": "/x has no checkpoints"},
               "gpus": {"status": "absent", "detail": "nvidia-smi not found"}}
    down = {"name": "gpu1", "ok": False, "ssh": {"status": "fail", "detail": "cannot connect"}}
    ready = [tables.hosts_frame([host], checks).loc[0, "ready"] for checks in ({}, {"gpu1": ok}, {"gpu1": refused},
                                                                               {"gpu1": down})]
    assert ready == ["", "✅ ready", "❌ not ready: start, remote_dir failed", "❌ not ready: ssh failed"]


def test_a_queued_run_shows_its_place_and_a_running_one_its_gpus():
    queued = make_run(status="queued", queue_position=2, progress="waiting for GPUs")
    assert tables.status_text(queued) == "queued #2 · waiting for GPUs"
    running = make_run(status="running", gpus=[0, 1], progress="diffusion sampling")
    assert tables.status_text(running) == "running · GPUs 0,1 · diffusion sampling"
    assert tables.counts_text({"queued": 3, "running": 2}) == "**5** runs: queued **3** · running **2**"


@pytest.mark.parametrize(("first", "shown", "total", "text"), [
    (0, 3, 3, "Runs 1–3"), (50, 2, 52, "Runs 51–52"),
    (0, 0, 7, "No runs match."),  # a filter or search that finds nothing
    (0, 0, 0, ""),  # no runs at all: the empty state below the table says what to do
])
def test_the_pager_says_which_runs_are_shown(first, shown, total, text):
    assert tables.pager_text(first, shown, total) == text
