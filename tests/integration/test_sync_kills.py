"""The syncing process SIGKILLed at many points of a sync and of a download (issue 'Prove it': faults).

One loop kills `python -m cosmos_core sync --wait` again and again, each time at a later point: while
Python starts, while the database opens, while the host is probed, while transitions are applied,
after more and more bytes of a download, once a `.part` file is whole (hashing, renaming). After
every kill nothing may have moved backwards and no wrong file may sit under a real name; at the
end one ordinary `sync --wait` brings every run to its right state and byte-identical files.
"""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.lifecycle import RunStatus
from tests.hostkit import wait_until
from tests.workspace import Workspace

MB = 1024 * 1024
BIG, SMALL = 64 * MB, 16 * MB

pytestmark = pytest.mark.slow


@dataclass
class Watch:
    """What a kill point looks at: the workspace, when the process started, the state then."""

    workspace: Workspace
    started: float
    local_bytes: int
    sessions: int
    closes: int


KillPoint = Callable[[Watch], bool]


def size(path: Path) -> int:
    """A file's size; 0 once it is gone (a `.part` file is renamed into place under our feet)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def local_bytes(workspace: Workspace) -> int:
    """Bytes of every downloaded or partly downloaded output (the logs are small)."""
    return sum(size(p) for p in (workspace.root / "outputs").glob("run_*/outputs/*"))


def closed_sessions(workspace: Workspace) -> int:
    return workspace.host.sshd_log_text().count("Close session: ")


def after(seconds: float) -> KillPoint:
    return lambda w: time.monotonic() - w.started >= seconds


def bytes_grown(step: int) -> KillPoint:
    return lambda w: local_bytes(w.workspace) >= w.local_bytes + step


def probe_in_flight(w: Watch) -> bool:
    """A remote command has started since the process did (the probe, or a hash)."""
    return w.workspace.host.count_exec_sessions() > w.sessions


def probe_answered(w: Watch) -> bool:
    """A session has closed after a command started: the probe is answered, its transitions being applied."""
    return probe_in_flight(w) and closed_sessions(w.workspace) > w.closes


def part_whole(w: Watch) -> bool:
    """A `.part` file holds every byte: the download is being checked or renamed."""
    parts = (w.workspace.root / "outputs").glob("run_*/outputs/*.part")
    return any(size(p) in (BIG, SMALL) for p in parts)


# One finished run with a 64 MB output: the sync is killed before, during and after its decision, then
# along its download.
FIRST_RUN: list[tuple[str, KillPoint]] = [
    ("while Python starts", after(0.15)),
    ("while the database opens", after(0.35)),
    ("as the probe starts", probe_in_flight),
    ("as the transition is applied", probe_answered),
    ("after 1 MB more", bytes_grown(1 * MB)),
    ("after 4 MB more", bytes_grown(4 * MB)),
    ("after 8 MB more", bytes_grown(8 * MB)),
    ("after 16 MB more", bytes_grown(16 * MB)),
    ("at 0.6 s", after(0.6)),
    ("with the whole .part", part_whole),
]
# Two runs still running (nothing to decide yet).
WHILE_RUNNING: list[tuple[str, KillPoint]] = [
    ("as the probe of running runs starts", probe_in_flight),
    ("as the probe of running runs is answered", probe_answered),
]
# The same two once they have ended: one with a 16 MB output, one failed (only its log to fetch).
SECOND_RUNS: list[tuple[str, KillPoint]] = [
    ("as the probe starts", probe_in_flight),
    ("as two transitions are applied", probe_answered),
    ("after 2 MB more", bytes_grown(2 * MB)),
    ("after 6 MB more", bytes_grown(6 * MB)),
    ("with the whole .part", part_whole),
    ("at 0.5 s", after(0.5)),
]


def kill_at(workspace: Workspace, point: KillPoint) -> bool:
    """Start `sync --wait`, SIGKILL it once `point` holds; False if it finished first."""
    watch = Watch(workspace, time.monotonic(), local_bytes(workspace), workspace.host.count_exec_sessions(),
                  closed_sessions(workspace))
    syncing = workspace.start_cli("sync", "--wait", "--timeout", "60")
    wait_until(lambda: syncing.poll() is not None or point(watch), 60, "the kill point", interval=0.002)
    syncing.send_signal(signal.SIGKILL)
    syncing.communicate(timeout=30)
    return syncing.returncode == -signal.SIGKILL


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_nothing_went_wrong(api: CosmosAPI, workspace: Workspace, seen: dict[str, tuple[str, str]]) -> None:
    """No status moved backwards, a terminal one and a done download are final, and every file under its
    real name is right. `seen`: run id -> (status, download status) at the last check."""
    for run_id, (was, was_download) in seen.items():
        run = api.get_run(run_id, Refresh.NONE)
        status, download = RunStatus(run["status"]), run["download"]["status"]
        assert status.rank >= RunStatus(was).rank, run
        assert status == was or not RunStatus(was).is_terminal(), run
        assert download == "done" or was_download != "done", run
        seen[run_id] = (status.value, download)
        for local in (workspace.root / "outputs" / f"run_{run_id}").rglob("*"):
            made_here = (".lock", ".scoring.lock", "thumb.jpg")  # lock files, and the thumbnail of a verified video
            if local.is_file() and local.suffix != ".part" and local.name not in made_here:
                name = str(local.relative_to(workspace.root / "outputs" / f"run_{run_id}"))
                assert sha(local) == sha(workspace.remote_run_dir(run_id) / name), f"wrong {local}"


def kill_along(api: CosmosAPI, workspace: Workspace, points: list[tuple[str, KillPoint]],
               seen: dict[str, tuple[str, str]]) -> list[str]:
    """Kill a sync at each point in turn, checking after each kill; returns the points that killed one."""
    killed = []
    for label, point in points:
        if kill_at(workspace, point):
            killed.append(label)
        check_nothing_went_wrong(api, workspace, seen)
    return killed


def test_a_sync_killed_at_many_points_loses_nothing(api, workspace, sample_video):
    """Injects: SIGKILL of the syncing process at each of 18 points in turn (see the lists above), while
    three runs end and download (outputs of 64 and 16 MB, and a failed run's log)."""
    first = api.start_inference(api.add_prompt(f"first [size={BIG}]", sample_video)["id"])["id"]
    workspace.wait_for_marker(first)
    seen = {first: ("queued", "none")}  # as `run` left it
    killed = kill_along(api, workspace, FIRST_RUN, seen)
    second = api.start_inference(api.add_prompt(f"second [sleep=3] [size={SMALL}]", sample_video)["id"])["id"]
    third = api.start_inference(api.add_prompt("third [sleep=3] [exit=3]", sample_video)["id"])["id"]
    seen |= dict.fromkeys((second, third), ("queued", "none"))
    killed += kill_along(api, workspace, WHILE_RUNNING, seen)
    for run_id in (second, third):
        workspace.wait_for_marker(run_id)
    killed += kill_along(api, workspace, SECOND_RUNS, seen)
    assert len(killed) >= 14, killed  # most points were reached before a sync could finish on its own

    finishing = workspace.start_cli("sync", "--wait", "--timeout", "60")  # an ordinary sync, to the end
    _, err = finishing.communicate(timeout=90)
    assert finishing.returncode == 0, err
    ends = {first: ("completed", 0), second: ("completed", 0), third: ("failed", 3)}
    for run_id, (status, code) in ends.items():
        run = api.get_run(run_id, Refresh.NONE)
        assert (run["status"], run["exit_code"], run["download"]["status"]) == (status, code, "done"), run
        local_dir = workspace.root / "outputs" / f"run_{run_id}"
        files = [Path(f) for f in run["download"]["files"]]
        assert {f.name for f in files} == ({"output.mp4", "run.log"} if status == "completed" else {"run.log"})
        for local in files:
            assert sha(local) == sha(workspace.remote_run_dir(run_id) / local.relative_to(local_dir))
    assert api.get_run(third, Refresh.NONE)["error"].startswith("Container exited with code 3")
    assert list((workspace.root / "outputs").rglob("*.part")) == []
