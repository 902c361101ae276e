"""Network faults on a real link: the host's SSH is reached through a veth pair whose link
the test sets down (packets stop, no socket closes: connections are left half-open).

Each test states what it injects; in each, nothing in the database moves backwards, the user
reads a plain one-line reason, and no CLI process prints a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from tests.hostkit import CuttableLink, TestHost, wait_until
from tests.workspace import Workspace, write_config

PROBE_TIMEOUT = 3.0  # sync.probe_timeout_seconds in these tests
MARGIN = 3.0  # on top of it: a process reading the database and exiting, on a loaded machine
BIG = 50 * 1024 * 1024

pytestmark = pytest.mark.slow


@pytest.fixture
def link(gpu_host: TestHost) -> Iterator[CuttableLink]:
    with gpu_host.cuttable_link() as link:
        yield link


@pytest.fixture
def cut(tmp_path: Path, gpu_host: TestHost, link: CuttableLink) -> Workspace:
    """A workspace whose host gpu1 is reached through `link`."""
    config = write_config(tmp_path, gpu_host, link=link, probe_timeout_seconds=PROBE_TIMEOUT)
    return Workspace(tmp_path, config, gpu_host)


@pytest.fixture
def cut_api(cut: Workspace) -> Iterator[CosmosAPI]:
    api = cut.api()
    yield api
    api.close()


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    """Its stdout and stderr once it exits; killed if that takes longer than `timeout`."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise


def states(runs: list[dict]) -> dict[str, tuple]:
    """What must never move backwards: each run's status and download progress."""
    return {r["id"]: (r["status"], r["download"]["status"], r["download"]["bytes_done"]) for r in runs}


def assert_unreachable_line(stderr: str) -> None:
    """stderr is one plain line naming gpu1 as unreachable."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: host gpu1 unreachable, showing stored state: "), stderr


def output_sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_link_cut_during_a_probe_returns_within_the_probe_timeout(cut, cut_api, link, sample_video):
    """Injects: the link goes down while the host runs the probe (its docker command is held
    at a gate until the link is down, so the answer is sent into the cut), then a second
    refresh on the connection that is now half-open. Both return within the probe timeout,
    `runs` exits 0 with one stderr line naming gpu1 unreachable, no run moves; once the link
    is up, `sync --wait` completes and downloads the run."""
    run = cut_api.start_inference(cut_api.add_prompt("cut while probed [sleep=3]", sample_video)["id"])
    wait_until(lambda: cut_api.get_run(run["id"])["status"] == "running", 30, "the run to run")
    before = states(cut_api.list_runs(refresh=Refresh.NONE))
    link.hold_docker()
    refresh = cut.start_cli("runs", "--json")
    link.wait_docker_held()
    link.down()
    cut_at = time.monotonic()
    link.release_docker()  # the probe answers now, into the cut link
    out, err = finish(refresh)
    cli_seconds = time.monotonic() - cut_at
    assert refresh.returncode == 0, err
    assert_unreachable_line(err)
    assert cli_seconds < PROBE_TIMEOUT + MARGIN
    assert states(json.loads(out)) == before

    began = time.monotonic()  # this process still holds its connection from the launch: half-open now
    runs = cut_api.list_runs()
    api_seconds = time.monotonic() - began
    assert api_seconds < PROBE_TIMEOUT + MARGIN
    assert states(runs) == before
    assert "gpu1" in cut_api.unreachable and "\n" not in cut_api.unreachable["gpu1"]
    print(f"refresh with the link down: runs CLI {cli_seconds:.2f} s after the cut, API {api_seconds:.2f} s")

    link.up()
    synced = cut.cli("sync", "--wait", "--timeout", "60")
    assert synced.returncode == 0, synced.stderr
    assert "Traceback" not in synced.stderr
    done = cut_api.get_run(run["id"], Refresh.NONE)
    assert done["status"] == "completed" and done["download"]["status"] == "done"
    remote = cut.remote_run_dir(run["id"]) / "outputs" / "output.mp4"
    assert output_sha(done["output_path"]) == output_sha(remote)


def test_link_cut_during_a_download_fails_it_plainly_and_retry_resumes(cut, cut_api, link, sample_video):
    """Injects: the link goes down while `sync --wait` downloads a 50 MB output (the process is
    frozen once part of the file is here, the link cut, the process thawed). Each attempt
    gives up within the probe timeout, the download fails with a one-line reason naming gpu1,
    the run stays completed, the partial file is kept, `sync --wait` exits 0; once the link is
    up `retry` resumes from the partial file and the checksum is right."""
    run = cut_api.start_inference(cut_api.add_prompt(f"cut while downloading [size={BIG}]", sample_video)["id"])
    cut.wait_for_marker(run["id"])
    syncing = cut.start_cli("sync", "--wait", "--timeout", "60")
    part = cut.root / "outputs" / f"run_{run['id']}" / "outputs" / "output.mp4.part"
    wait_until(lambda: part.is_file() and 1_000_000 < part.stat().st_size < BIG, 30, "a partial download", 0.005)
    os.kill(syncing.pid, signal.SIGSTOP)
    link.down()
    cut_at = time.monotonic()
    os.kill(syncing.pid, signal.SIGCONT)
    _, err = finish(syncing)
    seconds = time.monotonic() - cut_at
    print(f"sync --wait gave up {seconds:.2f} s after the cut")
    assert syncing.returncode == 0, err
    # Three attempts in a row, each within twice the probe timeout (a half-open connection is
    # given the probe timeout, then replaced once), not a keepalive's 30 s or the 120 s command timeout.
    assert seconds < 3 * 2 * PROBE_TIMEOUT + MARGIN
    assert "Traceback" not in err
    failed = cut_api.get_run(run["id"], Refresh.NONE)
    assert failed["status"] == "completed"
    assert failed["download"]["status"] == "failed"
    reason = failed["download"]["error"]
    assert "gpu1" in reason and "\n" not in reason and "Traceback" not in reason
    kept = part.stat().st_size
    assert 1_000_000 < kept < BIG

    link.up()
    retried = cut.cli("retry", run["id"])
    assert retried.returncode == 0, retried.stderr
    assert "Traceback" not in retried.stderr
    done = cut_api.get_run(run["id"], Refresh.NONE)
    assert done["download"]["status"] == "done" and done["download"]["error"] is None
    remote = cut.remote_run_dir(run["id"]) / "outputs" / "output.mp4"
    assert output_sha(done["output_path"]) == output_sha(remote)
    assert not part.exists()
    assert cut.host.tail_offsets(f"{run['id']}/outputs/output.mp4")[-1] == kept  # resumed, not restarted


def test_a_host_that_accepts_but_never_answers_is_unreachable_within_the_probe_timeout(
    cut, cut_api, link, sample_video
):
    """Injects: the host's sshd is frozen (SIGSTOP): the kernel still accepts TCP connections,
    the SSH banner never comes. `runs` takes at most the probe timeout longer than a refresh
    of a healthy host, exits 0 with one stderr line naming gpu1 unreachable (paramiko's own
    traceback for the unread banner stays off stderr); no run moves; once sshd runs again,
    the run can be cancelled."""
    run = cut_api.start_inference(cut_api.add_prompt("never answered [sleep=30]", sample_video)["id"])
    wait_until(lambda: cut_api.get_run(run["id"])["status"] == "running", 30, "the run to run")
    before = states(cut_api.list_runs(refresh=Refresh.NONE))
    began = time.monotonic()
    cut.cli("runs", check=True)  # the same refresh, answered: the time a process needs anyway
    healthy = time.monotonic() - began
    sshd = link.sshd_pid
    assert sshd is not None
    os.kill(sshd, signal.SIGSTOP)
    try:
        began = time.monotonic()
        refresh = cut.cli("runs", "--json")
        seconds = time.monotonic() - began
    finally:
        os.kill(sshd, signal.SIGCONT)
    print(f"refresh of a frozen sshd: {seconds:.2f} s (answered: {healthy:.2f} s)")
    assert refresh.returncode == 0, refresh.stderr
    assert_unreachable_line(refresh.stderr)
    assert seconds < healthy + PROBE_TIMEOUT + MARGIN
    assert states(json.loads(refresh.stdout)) == before
    cancelled = cut.cli("cancel", run["id"])
    assert cancelled.returncode == 0, cancelled.stderr
