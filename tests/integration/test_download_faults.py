"""Downloads survive faults: a killed sshd, a killed sync process, four syncs at once."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from cosmos_core.api import Refresh
from tests.hostkit import wait_until

BIG = 50 * 1024 * 1024

pytestmark = pytest.mark.slow


def finished_run(api, workspace, video: Path, text: str) -> dict:
    """A run whose container has finished on the host (not yet synced)."""
    run = api.start_inference(api.add_prompt(text, video)["id"])
    workspace.wait_for_marker(run["id"])
    return run


def part_file(workspace, run_id: str) -> Path:
    return workspace.root / "outputs" / f"run_{run_id}" / "outputs" / "output.mp4.part"


def wait_for_partial(workspace, run_id: str) -> None:
    part = part_file(workspace, run_id)
    wait_until(lambda: part.is_file() and 1_000_000 < part.stat().st_size < BIG, 30, "a partly downloaded file",
               interval=0.005)


def remote_sha(workspace, run_id: str) -> str:
    remote = workspace.remote_run_dir(run_id) / "outputs" / "output.mp4"
    return hashlib.sha256(remote.read_bytes()).hexdigest()


def test_sshd_killed_mid_download_resumes_fails_visibly_then_retry_succeeds(api, workspace, sample_video):
    """Injects: sshd (with every session) is killed while `sync --wait` downloads a 50 MB output.
    The download fails naming gpu1, the run stays completed, the partial file is kept, and no
    traceback reaches stderr; `retry`
    resumes from the partial file."""
    run = finished_run(api, workspace, sample_video, f"big [size={BIG}]")
    syncing = workspace.start_cli("sync", "--wait", "--timeout", "60")
    wait_for_partial(workspace, run["id"])
    os.kill(syncing.pid, signal.SIGSTOP)  # freeze the download mid-file, so the cut lands there
    workspace.host.stop_sshd()
    os.kill(syncing.pid, signal.SIGCONT)
    try:
        out, err = syncing.communicate(timeout=60)
        assert syncing.returncode == 0, err
        assert "Traceback" not in err, err
        failed = api.get_run(run["id"], Refresh.NONE)
        assert failed["status"] == "completed"  # a download failure never fails the run
        assert failed["download"]["status"] == "failed"
        assert "gpu1" in failed["download"]["error"]
        kept = part_file(workspace, run["id"]).stat().st_size
        assert 0 < kept < BIG
    finally:
        workspace.host.start_sshd()
    retried = workspace.cli("retry", run["id"])
    assert retried.returncode == 0, retried.stderr
    assert "Traceback" not in retried.stderr, retried.stderr
    done = api.get_run(run["id"], Refresh.NONE)
    assert done["download"]["status"] == "done" and done["download"]["error"] is None
    assert hashlib.sha256(Path(done["output_path"]).read_bytes()).hexdigest() == remote_sha(workspace, run["id"])
    assert not part_file(workspace, run["id"]).exists()
    # The retry read only what was missing: it resumed from the partial file, not from zero.
    assert workspace.host.tail_offsets(f"{run['id']}/outputs/output.mp4")[-1] == kept


def test_sync_killed_mid_download_loses_nothing(api, workspace, sample_video):
    run = finished_run(api, workspace, sample_video, f"big [size={BIG}]")
    syncing = workspace.start_cli("sync", "--wait")
    wait_for_partial(workspace, run["id"])
    os.kill(syncing.pid, signal.SIGKILL)
    syncing.wait(timeout=10)
    kept = part_file(workspace, run["id"]).stat().st_size
    assert api.get_run(run["id"], Refresh.NONE)["download"]["status"] == "downloading"
    finishing = workspace.start_cli("sync", "--wait", "--timeout", "60")
    _, err = finishing.communicate(timeout=90)
    assert finishing.returncode == 0, err
    assert f"{run['id']}: downloaded 100%" in err  # sync --wait shows progress
    done = api.get_run(run["id"], Refresh.NONE)
    assert done["download"]["status"] == "done"
    assert hashlib.sha256(Path(done["output_path"]).read_bytes()).hexdigest() == remote_sha(workspace, run["id"])
    # Resumed, never started over: the second sync asked the host for the file from where the part ends.
    assert 0 < kept < BIG
    assert workspace.host.tail_offsets(f"{run['id']}/outputs/output.mp4") == [0, kept]


def test_four_syncs_at_once_apply_each_transition_once_and_download_each_file_once(api, workspace, sample_video):
    prompt = api.add_prompt("together [sleep=2] [size=8000000]", sample_video)
    runs = [api.start_inference(prompt["id"]) for _ in range(4)]
    for run in runs:
        workspace.wait_for_marker(run["id"])
    processes = [workspace.start_cli("sync", "--wait", "--timeout", "90") for _ in range(4)]
    summaries = []
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        summaries.append(re.search(r"synced: (\d+) changes?, (\d+) downloads? done", err).groups())
    assert sum(int(changes) for changes, _ in summaries) == len(runs)
    assert sum(int(downloads) for _, downloads in summaries) == len(runs)
    for run in runs:
        final = api.get_run(run["id"], Refresh.NONE)
        assert final["status"] == "completed" and final["download"]["status"] == "done"
        assert len(workspace.host.tail_offsets(f"{run['id']}/outputs/output.mp4")) == 1
        assert hashlib.sha256(Path(final["output_path"]).read_bytes()).hexdigest() == remote_sha(workspace, run["id"])
    assert list((workspace.root / "outputs").rglob("*.part")) == []


def test_dashboard_refreshes_download_within_their_budget_and_resume(workspace, sample_video):
    workspace.config.write_text(workspace.config.read_text().replace("download_budget_seconds = 3",
                                                                     "download_budget_seconds = 0.05"))
    api = workspace.api()
    try:
        run = finished_run(api, workspace, sample_video, f"big [size={BIG}]")
        seen = []  # bytes stored after each refresh that left the completed run's download unfinished
        while (current := api.get_run(run["id"]))["download"]["status"] != "done":  # one refresh each
            if current["status"] == "completed":
                assert current["download"]["status"] in ("pending", "downloading")
                seen.append(current["download"]["bytes_done"])
            assert len(seen) < 2000
        assert len(seen) >= 2 and seen == sorted(seen)  # several refreshes, progress only forward
        assert 0 < seen[-1] < current["download"]["bytes_total"]  # the output and its log
        assert hashlib.sha256(Path(current["output_path"]).read_bytes()).hexdigest() == remote_sha(workspace, run["id"])
    finally:
        api.close()


def test_a_launch_killed_mid_upload_is_failed_by_the_next_sync(workspace, tmp_path):
    big_input = tmp_path / "big input.mp4"
    big_input.write_bytes(os.urandom(BIG))
    prompt = workspace.cli("prompt", "add", "never starts", "--video", str(big_input), check=True).stdout.strip()
    earlier = set(workspace.host.input_parts())  # other tests' runs share the host
    launching = workspace.start_cli("run", prompt, output=subprocess.DEVNULL)
    wait_until(lambda: any(0 < size < BIG for p, size in workspace.host.input_parts().items() if p not in earlier),
               30, "a partly uploaded input", interval=0.005)
    os.kill(launching.pid, signal.SIGSTOP)  # frozen mid-upload: alive, holding its lock, uploading nothing
    assert workspace.cli_json("runs")[0]["status"] == "uploading"  # the launch is alive: left alone
    os.kill(launching.pid, signal.SIGKILL)
    launching.wait(timeout=10)
    run = workspace.cli_json("runs")[0]
    assert run["status"] == "failed"
    assert run["error"] == "The process starting this run stopped before its job started"


def test_a_host_hash_started_on_a_lost_connection_is_asked_again(workspace, sample_video):
    """Injects: sshd killed and started again between two turns of one process's download, while the
    host still hashes the file for the first turn (its sha256sum made slow). The turn that finishes
    the file asks the new connection for the hash instead of failing on the old one's channel."""
    workspace.config.write_text(workspace.config.read_text().replace("download_budget_seconds = 3",
                                                                     "download_budget_seconds = 0.05"))
    api = workspace.api()
    slow = 'sleep 3; exec /usr/bin/sha256sum "$@"'
    try:
        run = finished_run(api, workspace, sample_video, f"big [size={BIG}]")
        with workspace.host.tool("openssl", "exit 1"), workspace.host.tool("sha256sum", slow):
            wait_until(lambda: api.get_run(run["id"])["download"]["bytes_done"] > 0, 30, "a first turn's bytes")
            workspace.host.stop_sshd()
            workspace.host.start_sshd()
        api.sync(Refresh.FORCE)  # no budget: to the end of the file
        done = api.get_run(run["id"], Refresh.NONE)
        assert done["download"]["status"] == "done", done["download"]
        assert hashlib.sha256(Path(done["output_path"]).read_bytes()).hexdigest() == remote_sha(workspace, run["id"])
    finally:
        api.close()
