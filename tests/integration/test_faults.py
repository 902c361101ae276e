"""Faults on the real stand-in host: sshd killed mid-upload, the local disk full mid-download, the
database locked past its busy timeout (issue 'Prove it': faults and bad input).

Each test names what it injects; each checks that nothing is lost and that the user is told one
plain line (CLI: exit 1, one `error:` line on stderr, no traceback)."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cosmos_core.api import Refresh
from cosmos_core.config import load_config
from cosmos_core.ssh.host import Host, RemoteError
from tests.hostkit import wait_until
from tests.workspace import Workspace

BIG = 50 * 1024 * 1024
BUSY_SECONDS = 5  # storage.busy_timeout_seconds where a test waits it out (the default is 30)

pytestmark = pytest.mark.slow


def one_error_line(returncode: int, stderr: str, *needles: str) -> str:
    """The CLI failed with exit 1 and exactly one `error:` line (no traceback); returns it."""
    assert returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def containers_of(workspace: Workspace, run_id: str) -> str:
    listing = workspace.host.docker("ps", "-a", "--filter", f"label=cosmos.run_id={run_id}", "-q")
    return listing.stdout.strip()


def partial_upload(workspace: Workspace, before: set[Path]) -> bool:
    """Whether a new input is partly uploaded into the host's store."""
    return any(0 < size < BIG for part, size in workspace.host.input_parts().items() if part not in before)


def uploading(workspace: Workspace, tmp_path: Path, text: str) -> tuple[subprocess.Popen[str], str]:
    """`run` of a new prompt with a 50 MB input video, once the upload is under way: (the process, prompt id)."""
    big_input = tmp_path / "big input.mp4"
    big_input.write_bytes(os.urandom(BIG))
    prompt = workspace.cli("prompt", "add", text, "--video", str(big_input), check=True).stdout.strip()
    before = set(workspace.host.input_parts())  # the stand-in host is shared by every test
    launching = workspace.start_cli("run", prompt)
    wait_until(lambda: partial_upload(workspace, before) or launching.poll() is not None, 30,
               "a partly uploaded input", interval=0.005)
    assert launching.poll() is None, launching.communicate()
    return launching, prompt


def upload_cut_by_sshd(workspace: Workspace, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """`run` of a prompt with a 50 MB input while sshd is killed mid-upload: (the CLI's result, prompt id)."""
    launching, prompt = uploading(workspace, tmp_path, "cut mid-upload")
    try:
        workspace.host.stop_sshd()
        out, err = launching.communicate(timeout=60)
    finally:
        if workspace.host.sshd_pid is None:
            workspace.host.start_sshd()
        if launching.poll() is None:
            launching.kill()
    return subprocess.CompletedProcess(launching.args, launching.returncode, out, err), prompt


def test_sshd_killed_during_an_upload_fails_the_run_with_the_reason_and_leaves_no_container(workspace, tmp_path):
    """Injects: sshd (with every session) killed by its PID while `run` uploads a 50 MB input video."""
    launched, prompt = upload_cut_by_sshd(workspace, tmp_path)
    line = one_error_line(launched.returncode, launched.stderr, "failed to start")
    assert not line.endswith(":"), line  # a reason follows (paramiko's EOFError has no text of its own)
    run = workspace.cli_json("runs")[0]
    assert run["status"] == "failed" and run["completed_at"]
    assert run["error"] and run["error"].strip() in line
    assert containers_of(workspace, run["id"]) == ""
    assert [p["id"] for p in workspace.cli_json("prompts")] == [prompt]  # the prompt is kept: run it again
    again = workspace.cli("sync", "--wait", "--timeout", "30")  # sshd is back: nothing left to do, nothing moves
    assert again.returncode == 0, again.stderr
    assert workspace.cli_json("show", run["id"]) == run


def test_a_socket_closed_under_an_sftp_session_names_the_host(workspace):
    """Injects: the OSError("Socket is closed") paramiko raises when sshd dies under an SFTP write, raised
    inside a real SFTP session (the race that makes it real is rare: the kill must land inside a write)."""
    host = Host(load_config(workspace.config).hosts[0])
    try:
        with pytest.raises(RemoteError, match="host gpu1.*uploading the run's files"):
            with host.sftp_session("uploading the run's files"):
                raise OSError("Socket is closed")
    finally:
        host.close()


def remote_sha(workspace: Workspace, run_id: str, name: str = "outputs/output.mp4") -> str:
    return hashlib.sha256((workspace.remote_run_dir(run_id) / name).read_bytes()).hexdigest()


def local_sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def small_disk(workspace: Workspace) -> Iterator[Callable[[Path], Path]]:
    """`mount(dir)`: a 20 MB tmpfs mounted on `dir` (created first); unmounted at teardown."""
    mounted: list[Path] = []

    def mount(directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(directory)], check=True)
        mounted.append(directory)
        return directory

    yield mount
    for directory in reversed(mounted):
        subprocess.run(["umount", "-l", str(directory)], check=False)


def finished_big_run(workspace: Workspace, video: Path) -> str:
    """A run whose 50 MB output.mp4 is on the host, its container done, nothing synced yet."""
    prompt = workspace.cli("prompt", "add", f"big [size={BIG}]", "--video", str(video), check=True).stdout.strip()
    run_id = workspace.cli("run", prompt, check=True).stdout.strip()
    workspace.wait_for_marker(run_id)
    return run_id


def download_to_a_full_disk(workspace: Workspace, video: Path, small_disk: Callable[[Path], Path]) -> tuple[str, Path]:
    """A run's 50 MB output downloaded by `sync --wait` into a 20 MB tmpfs: (run id, the tmpfs)."""
    run_id = finished_big_run(workspace, video)
    disk = small_disk(workspace.root / "outputs" / f"run_{run_id}" / "outputs")
    synced = workspace.cli("sync", "--wait", "--timeout", "60")
    assert synced.returncode == 0, synced.stderr
    assert "Traceback" not in synced.stderr
    return run_id, disk


def test_local_disk_full_during_a_download_fails_it_plainly_and_retry_completes_it(workspace, sample_video,
                                                                                  small_disk):
    """Injects: the directory the download writes to (outputs/run_<id>/outputs) is a 20 MB tmpfs, and the
    output is 50 MB: the local disk fills mid-file (ENOSPC)."""
    run_id, disk = download_to_a_full_disk(workspace, sample_video, small_disk)
    run = workspace.cli_json("show", run_id)
    assert (run["status"], run["exit_code"], run["error"]) == ("completed", 0, None)  # the run is not failed
    assert run["download"]["status"] == "failed"
    assert "No space left on device" in run["download"]["error"] and "\n" not in run["download"]["error"]
    assert (disk / "output.mp4.part").stat().st_size > 0  # what arrived is kept for the retry
    still_full = workspace.cli("retry", run_id)
    one_error_line(still_full.returncode, still_full.stderr, run_id, "No space left on device")

    subprocess.run(["mount", "-o", "remount,size=100m", str(disk)], check=True)  # space freed
    retried = workspace.cli("retry", run_id)
    assert retried.returncode == 0, retried.stderr
    done = workspace.cli_json("show", run_id)
    assert (done["status"], done["download"]["status"], done["download"]["error"]) == ("completed", "done", None)
    assert local_sha(done["output_path"]) == remote_sha(workspace, run_id)
    assert Path(done["output_path"]).parent == disk and not (disk / "output.mp4.part").exists()


def test_a_full_local_disk_is_named_as_the_reason(workspace, sample_video, small_disk):
    """Injects: the local disk full mid-download, as above; the reason must name the local directory."""
    run_id, disk = download_to_a_full_disk(workspace, sample_video, small_disk)
    error = workspace.cli_json("show", run_id)["download"]["error"]
    assert str(disk) in error and not error.startswith("download from gpu1"), error


@contextmanager
def database_write_locked(workspace: Workspace) -> Iterator[sqlite3.Connection]:
    """Another connection holds the SQLite write lock (BEGIN EXCLUSIVE) until the block ends."""
    holder = sqlite3.connect(workspace.root / "outputs" / "cosmos.db", isolation_level=None, timeout=5)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield holder
    finally:
        holder.close()  # rolls back: the lock holder wrote nothing


def test_the_database_locked_past_the_busy_timeout_fails_writers_plainly_and_loses_nothing(workspace, tmp_path):
    """Injects: another process holds the SQLite database's write lock (BEGIN EXCLUSIVE) for longer than
    the busy timeout (storage.busy_timeout_seconds, 30 s by default, BUSY_SECONDS here), from the middle
    of a `run`'s upload (so its container starts while the run's record cannot be written) while
    `prompt add` and `runs` are started too."""
    workspace.config.write_text(workspace.config.read_text().replace(
        "[storage]\n", f"[storage]\nbusy_timeout_seconds = {BUSY_SECONDS}\n"))
    launching, _ = uploading(workspace, tmp_path, "locked out [sleep=1]")
    with database_write_locked(workspace):
        started = time.monotonic()
        adding = workspace.start_cli("prompt", "add", "while locked", "--video", str(tmp_path / "big input.mp4"))
        listed = workspace.cli("runs", "--json")  # reading needs no write lock
        assert listed.returncode == 0, listed.stderr
        assert [r["status"] for r in json.loads(listed.stdout)] == ["uploading"]
        for process in (launching, adding):
            _, err = process.communicate(timeout=60)
            one_error_line(process.returncode, err, f"database is locked by another process (waited {BUSY_SECONDS} s)")
        assert time.monotonic() - started >= BUSY_SECONDS  # the busy timeout was waited out, not skipped
    run_id = workspace.cli_json("runs")[0]["id"]
    assert containers_of(workspace, run_id)  # it started on the host while its record could not be written
    synced = workspace.cli("sync", "--wait", "--timeout", "30")  # the lock is gone: the container is adopted
    assert synced.returncode == 0, synced.stderr
    run = workspace.cli_json("show", run_id)
    assert (run["status"], run["download"]["status"]) == ("completed", "done"), run
    assert local_sha(run["output_path"]) == remote_sha(workspace, run_id)
    assert [p["text"] for p in workspace.cli_json("prompts")] == ["locked out [sleep=1]"]  # nothing half-stored


def test_a_download_spread_over_many_short_refreshes_hashes_on_the_host_once(workspace, sample_video):
    """Injects: refreshes that may each download for 50 ms only (download_budget_seconds = 0.05, as a busy
    dashboard has), on a 32 MB output: the download spans many refreshes, and the host must not start a
    new full-file hash for each (they piled up on the host before 62710c4)."""
    workspace.config.write_text(workspace.config.read_text().replace("download_budget_seconds = 3",
                                                                     "download_budget_seconds = 0.05"))
    api = workspace.api()
    try:
        run = api.start_inference(api.add_prompt(f"spread [size={32 * 1024 * 1024}]", sample_video)["id"])
        workspace.wait_for_marker(run["id"])
        api.sync(Refresh.FORCE, deadline=time.monotonic())  # decided: from now on only download turns
        calls = workspace.root / "hash-calls"
        with workspace.host.tool("openssl", f'echo "$*" >> {shlex.quote(str(calls))}; exec /usr/bin/openssl "$@"'):
            for _ in range(6):  # six refreshes, each a download turn of 50 ms
                api.get_run(run["id"])
    finally:
        api.close()
    output = f"{run['id']}/outputs/output.mp4"
    assert len(workspace.host.tail_offsets(output)) >= 2  # the download did span several turns
    hashes = [line for line in calls.read_text().splitlines() if line.endswith(output)]
    assert len(hashes) == 1, f"{len(hashes)} hashes of one file in 6 download turns"


def test_cancel_during_the_upload_is_a_database_change_the_launch_notices(workspace, tmp_path):
    """Injects: `cancel` while `run` is uploading a 50 MB input. The cancel answers at once (it never
    waits behind the upload), and the launch, which asks the database while it uploads, starts nothing."""
    launching, _ = uploading(workspace, tmp_path, "cancelled mid-upload")
    os.kill(launching.pid, signal.SIGSTOP)  # held mid-upload, so the cancel surely lands during it
    run_id = workspace.cli_json("runs")[0]["id"]
    began = time.monotonic()
    cancelled = workspace.cli("cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert time.monotonic() - began < 10  # a CLI start and a database write, not the rest of the upload
    os.kill(launching.pid, signal.SIGCONT)
    out, err = launching.communicate(timeout=60)
    assert launching.returncode == 0 and out.strip() == run_id, err
    run = workspace.cli_json("show", run_id)
    assert (run["status"], run["error"]) == ("cancelled", "Cancelled by the user")
    assert not containers_of(workspace, run_id)  # nothing ever ran
