"""One bad log or answer from a host never poisons the database, and a download whose stored facts
were wrong heals itself (issue 'Prove it': faults and bad input)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cosmos_core.api import Refresh
from cosmos_core.store.tables import Run
from tests.hostkit import wait_until
from tests.integration.test_sync import settled, sha256, start, sync_until

HUGE = "[COSMOS_COMPLETE] exit_code=99999999999999999999"


def wait_in_log(workspace, run_id: str, text: str) -> None:
    log = Path(workspace.remote_run_dir(run_id)) / "run.log"
    wait_until(lambda: log.is_file() and text in log.read_text(errors="replace"), 20, repr(text))


def test_a_huge_marker_before_a_kill_is_not_a_marker_and_stores_nothing_bad(api, workspace, sample_video):
    """Injects: the model prints a marker line with an exit code no int column holds, then the
    container is killed (so the script writes no marker of its own)."""
    run = start(api, f"x\n{HUGE}\n[sleep=30]", sample_video)
    wait_in_log(workspace, run["id"], HUGE)
    workspace.host.docker("kill", f"cosmos-{run['id']}")
    final = sync_until(api, run["id"], settled)
    assert (final["status"], final["exit_code"]) == ("failed", 137)
    assert final["error"] == "Container exited with code 137: killed (SIGKILL)"
    assert workspace.cli("runs", check=True).returncode == 0  # the database still answers every command


def test_a_success_marker_echoed_before_a_kill_does_not_complete_the_run(api, workspace, sample_video):
    """Injects: the model prints `[COSMOS_COMPLETE] exit_code=0` as a line, then the container is killed."""
    run = start(api, "x\n[COSMOS_COMPLETE] exit_code=0\n[sleep=30]", sample_video)
    wait_in_log(workspace, run["id"], "\n[COSMOS_COMPLETE] exit_code=0\n")
    workspace.host.docker("kill", f"cosmos-{run['id']}")
    final = sync_until(api, run["id"], settled)
    assert (final["status"], final["exit_code"]) == ("failed", 137)


def test_binary_garbage_in_the_log_is_harmless(api, workspace, sample_video):
    """Injects: invalid UTF-8, NULs, control bytes and a tab-separated fake record appended to the log
    of a run that then crashes."""
    run = start(api, "x [sleep=3] [exit=3]", sample_video)
    log = Path(workspace.remote_run_dir(run["id"])) / "run.log"
    wait_until(log.is_file, 20, "the log")
    with open(log, "ab") as f:
        f.write(b"\xff\xfe\x00\x01\x1b[31m garbage\r\nF\trs_x\toutputs/output.mp4\t1\tab\nValueError: \xff\n")
    final = sync_until(api, run["id"], settled)
    assert (final["status"], final["exit_code"]) == ("failed", 3)
    assert workspace.cli("logs", run["id"], "--tail", "3", check=True).stdout.endswith("exit_code=3\n")


def test_wrong_facts_stored_when_the_run_ended_heal_on_the_next_turn(api, workspace, sample_video):
    """Injects: the size and sha256 stored for output.mp4 when the run was decided are wrong."""
    run = start(api, "fine", sample_video)
    workspace.wait_for_marker(run["id"])
    api.sync(Refresh.FORCE, deadline=time.monotonic())  # decide now, download later
    assert api.get_run(run["id"], Refresh.NONE)["status"] == "completed"
    Run.update(remote_files=json.dumps({"outputs/output.mp4": [5, "0" * 64]})).where(Run.id == run["id"]).execute()
    final = sync_until(api, run["id"], lambda r: r["download"]["status"] == "done", what="the healed download")
    remote = workspace.remote_run_dir(run["id"]) / "outputs" / "output.mp4"
    assert sha256(final["output_path"]) == sha256(remote)
    assert Run.get_by_id(run["id"]).download_attempts == 0  # bytes arrived: the failure streak ended


def test_retry_asks_the_host_again(api, workspace, sample_video):
    """Injects: a download marked failed for a file the host did not have when the run ended."""
    run = start(api, "fine", sample_video)
    sync_until(api, run["id"], settled)
    Run.update(download_status="failed", download_error="outputs/output.mp4 not found on host gpu1",
               remote_files="{}", files="[]").where(Run.id == run["id"]).execute()
    Path(api.get_run(run["id"], Refresh.NONE)["output_path"]).unlink()
    retried = workspace.cli("retry", run["id"])
    assert retried.returncode == 0, retried.stderr
    done = api.get_run(run["id"], Refresh.NONE)
    assert done["download"]["status"] == "done" and Path(done["output_path"]).is_file()
