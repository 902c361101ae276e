"""One history shared by several installs, on SQLite and on PostgreSQL (issue 'scale-out').

Every test runs twice through `database_url`: on a SQLite file and on a fresh database of the
session's private PostgreSQL server (tests/pgkit.py). Each "machine" is an install with its own
`XDG_STATE_HOME`, so its own random install id, and all share one config: the database and the
outputs dir (machines sharing outputs storage). The lifecycle, downloads and launches go through the
real command line against the real stand-in host; the last test drives the repository's transitions
from two processes directly. The tests read the database with plain SQL (tests/dbworkspace.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dbworkspace import RUNS, Install, SharedDatabase, installs
from tests.hostkit import TestHost, kill_tree, wait_until

BIG = 50 * 1024 * 1024
LAUNCH_DIED = "The process starting this run stopped before its job started"
RUN_KEYS = {"id", "prompt_id", "kind", "host", "parent_run_id", "model", "sweep_id", "params", "status", "progress",
            "queue_position", "gpus", "exit_code", "error", "download", "output_path", "enhanced_text",
            "created_at", "queued_at", "started_at", "completed_at", "starred", "note", "gpu_seconds", "metrics",
            "metrics_status", "thumbnail", "time_left", "time_left_text"}
DOWNLOAD_KEYS = {"status", "error", "bytes_done", "bytes_total", "files"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SUMMARY = re.compile(r"synced: (\d+) changes?, (\d+) downloads? done")


@pytest.fixture
def machines(tmp_path: Path, gpu_host: TestHost, database_url: str) -> list[Install]:
    """Two installs ("machines" a and b) sharing one config: the database at `database_url` and one outputs dir."""
    return installs(tmp_path, gpu_host, database_url)


@pytest.fixture
def db(database_url: str) -> SharedDatabase:
    return SharedDatabase(database_url)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def remote_output(machine: Install, run_id: str) -> Path:
    return machine.remote_run_dir(run_id) / "outputs" / "output.mp4"


def part_file(machine: Install, run_id: str) -> Path:
    return machine.run_dir(run_id) / "outputs" / "output.mp4.part"


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def add_prompt(machine: Install, text: str, video: Path) -> str:
    return machine.cli("prompt", "add", text, "--video", str(video), check=True).stdout.strip()


def start_run(machine: Install, prompt_id: str) -> str:
    return machine.cli("run", prompt_id, check=True).stdout.strip()  # no --json: that syncs the host


def finished_runs(machine: Install, text: str, video: Path, count: int) -> list[str]:
    """`count` runs of one prompt whose containers have ended on the host, none synced yet."""
    prompt_id = add_prompt(machine, text, video)
    run_ids = [start_run(machine, prompt_id) for _ in range(count)]
    for run_id in run_ids:
        machine.wait_for_marker(run_id)
        machine.wait_until_exited(run_id)
    return run_ids


def check_shape(run: dict) -> None:
    """The run in the `--json` form of SPEC.md, every key present, whatever the backend."""
    assert set(run) == RUN_KEYS, set(run) ^ RUN_KEYS
    assert set(run["download"]) == DOWNLOAD_KEYS, run["download"]
    assert isinstance(run["params"], dict) and isinstance(run["download"]["files"], list)
    assert isinstance(run["download"]["bytes_done"], int) and isinstance(run["download"]["bytes_total"], int)
    for key in ("created_at", "queued_at", "started_at", "completed_at"):
        assert run[key] is None or ISO_UTC.match(run[key]), (key, run[key])
    assert (run["sweep_id"], run["queue_position"]) == (None, None)
    assert run["gpus"] is None or all(isinstance(g, int) for g in run["gpus"])  # set once a sync saw it hold GPUs


def summary(stderr: str) -> tuple[int, int]:
    """(transitions, downloads done) from the last line of `sync`."""
    match = SUMMARY.search(stderr)
    assert match, stderr
    return int(match.group(1)), int(match.group(2))


# -- 1. the lifecycle through the command line ---------------------------------------------------


def test_lifecycle_through_the_cli(machines, db, sample_video):
    """prompt add, run, sync --wait on both backends: a completed run with its output byte-identical to the
    host's, a model exiting 3 failed with code 3 (its log downloaded), a cancelled run, a download that
    fails (injected: its `.part` name is taken by a directory on this machine) and is retried; `runs --json`
    and `show --json` keep their shape."""
    a = machines[0]
    prompt_id = add_prompt(a, "a red robot [sleep=1]", sample_video)
    assert prompt_id.startswith("ps_")
    done_id = start_run(a, prompt_id)
    failing_id = start_run(a, add_prompt(a, "break [exit=3]", sample_video))
    cancelled_id = start_run(a, add_prompt(a, "long [sleep=60]", sample_video))
    retried_id = start_run(a, add_prompt(a, "again", sample_video))
    blocked = part_file(a, retried_id)
    blocked.mkdir(parents=True)  # the download cannot open its temporary file (EISDIR): it fails, not the run

    cancel = a.cli("cancel", cancelled_id)
    assert cancel.returncode == 0 and f"{cancelled_id}: cancelled" in cancel.stdout, cancel.stderr
    state = a.host.docker("inspect", "--format", "{{.State.Status}}", f"cosmos-{cancelled_id}", check=False)
    assert state.returncode != 0 or state.stdout.strip() in ("exited", "stopped")

    syncing = a.cli("sync", "--wait", "--timeout", "60")
    assert syncing.returncode == 0, syncing.stderr
    assert "Traceback" not in syncing.stderr, syncing.stderr

    done = a.cli_json("show", done_id)
    assert (done["status"], done["exit_code"], done["error"]) == ("completed", 0, None)
    assert done["download"]["status"] == "done" and done["download"]["error"] is None
    local = a.run_dir(done_id) / "outputs" / "output.mp4"
    assert done["output_path"] == str(local) and str(local) in done["download"]["files"]
    assert local.read_bytes() == remote_output(a, done_id).read_bytes()
    assert done["download"]["bytes_done"] == done["download"]["bytes_total"] > 0
    assert done["prompt_id"] == prompt_id and done["kind"] == "inference" and done["host"] == "gpu1"

    failed = a.cli_json("show", failing_id)
    assert (failed["status"], failed["exit_code"], failed["error"]) == ("failed", 3, "Container exited with code 3")
    log = a.run_dir(failing_id) / "run.log"
    assert failed["download"]["status"] == "done" and failed["download"]["files"] == [str(log)]
    assert failed["output_path"] is None
    assert log.read_text().strip().endswith("[COSMOS_COMPLETE] exit_code=3")

    cancelled = a.cli_json("show", cancelled_id)
    assert (cancelled["status"], cancelled["error"]) == ("cancelled", "Cancelled by the user")

    broken = a.cli_json("show", retried_id)
    assert broken["status"] == "completed"  # a download failure never fails the run
    assert broken["download"]["status"] == "failed" and "gpu1" in broken["download"]["error"]
    blocked.rmdir()  # the fault is over
    retried = a.cli("retry", retried_id)
    assert retried.returncode == 0 and f"{retried_id}: download done" in retried.stdout, retried.stderr
    fixed = a.cli_json("show", retried_id)
    assert fixed["download"]["status"] == "done" and fixed["download"]["error"] is None
    assert sha256(fixed["output_path"]) == sha256(remote_output(a, retried_id))

    listed = a.cli_json("runs")
    assert listed == [fixed, cancelled, failed, done]  # newest first, each as `show` gave it
    for run in listed:
        check_shape(run)
    assert [r["id"] for r in a.cli_json("runs", "--status", "failed")] == [failing_id]
    assert db.leases() == []
    assert list((a.root / "outputs").rglob("*.part")) == []


# -- 2. two machines, four processes -------------------------------------------------------------


def test_two_installs_four_syncs_apply_each_transition_once_and_download_each_file_once(machines, db,
                                                                                        sample_video):
    """Four `sync --wait` processes at once, two per install (two install ids, one database, one outputs
    dir), on three finished runs with 50 MB outputs: each run is completed by exactly one of them (the
    transitions summed), each output is downloaded by exactly one (the downloads summed, one READ open of
    it on the host's sshd), the files are right, no `.part` and no lease remain."""
    a, b = machines
    run_ids = finished_runs(a, f"together [size={BIG}]", sample_video, 3)
    processes = [m.start_cli("sync", "--wait", "--timeout", "90") for m in (a, b, a, b)]
    results = []
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "Traceback" not in err, err
        results.append(summary(err))
    assert a.install_id != b.install_id and a.install_id.startswith("in_")
    assert sum(changes for changes, _ in results) == len(run_ids), results
    assert sum(downloads for _, downloads in results) == len(run_ids), results
    for run_id in run_ids:
        final = b.cli_json("show", run_id)
        assert (final["status"], final["download"]["status"]) == ("completed", "done"), final
        assert len(a.host.tail_offsets(f"{run_id}/outputs/output.mp4")) == 1
        assert final["download"]["bytes_done"] == final["download"]["bytes_total"] > BIG
        assert sha256(final["output_path"]) == sha256(remote_output(a, run_id))
    assert list((a.root / "outputs").rglob("*.part")) == []
    assert db.leases() == []


# -- 3. a dead install's lease --------------------------------------------------------------------


def test_a_dead_installs_lease_holds_off_another_install_until_it_expires(machines, db, sample_video):
    """Injects: install a's `sync --wait` (as if the machine died) is SIGKILLed mid-download
    of a 50 MB output, leaving its lease row. Install b's sync leaves the download alone while the lease
    is unexpired (status still downloading, nothing read from the host, the partial file untouched);
    once the lease's expiry is moved into the past (injected through SQL, instead of waiting 60 s), b
    takes the download over, resumes it from the partial file and ends with the right file."""
    a, b = machines
    (run_id,) = finished_runs(a, f"big [size={BIG}]", sample_video, 1)
    remote = f"{run_id}/outputs/output.mp4"
    part = part_file(a, run_id)
    syncing = a.start_cli("sync", "--wait", "--timeout", "60", output=subprocess.DEVNULL)
    wait_until(lambda: 1_000_000 < size_of(part) < BIG * 0.8, 30, "a partly downloaded file", interval=0.002)
    kill_tree(syncing.pid)
    syncing.wait(timeout=10)
    kept = size_of(part)
    assert 0 < kept < BIG
    ((leased_run, owner, expires_at),) = db.leases()
    assert (leased_run, owner) == (run_id, a.install_id) and expires_at > time.time()
    assert db.download_status(run_id) == "downloading"

    assert a.host.tail_offsets(remote) == [0]
    held = b.cli("sync")
    assert held.returncode == 0, held.stderr
    assert summary(held.stderr)[1] == 0
    shown = b.cli_json("show", run_id)  # a lazy sync of its own, too
    assert shown["status"] == "completed" and shown["download"]["status"] in ("downloading", "pending")
    assert a.host.tail_offsets(remote) == [0]  # b read nothing of it
    assert size_of(part) == kept
    assert db.leases() == [(run_id, a.install_id, expires_at)]
    assert b.install_id != a.install_id

    db.expire_lease(run_id)
    finishing = b.start_cli("sync", "--wait", "--timeout", "60")
    _, err = finishing.communicate(timeout=90)
    assert finishing.returncode == 0, err
    assert summary(err) == (0, 1) and f"{run_id}: downloaded 100%" in err
    done = a.cli_json("show", run_id)
    assert done["download"]["status"] == "done" and done["download"]["error"] is None
    assert sha256(done["output_path"]) == sha256(remote_output(a, run_id))
    assert not part.exists()
    assert db.leases() == []
    # Taken over, not started again: b asked the host for what was missing only.
    assert a.host.tail_offsets(remote) == [0, kept]


# -- 4. a dead launch, seen from two installs ----------------------------------------------------


def test_an_orphaned_launch_is_failed_by_its_own_install_only(machines, tmp_path):
    """Injects: install a's `run` is SIGKILLed mid-upload of a 50 MB input. Install b cannot know whether
    that process lives (it is on another machine): its `sync` and `runs` leave the run uploading. a's next
    sync finds the launch's lock free and fails it with the launch-died reason."""
    a, b = machines
    big_input = tmp_path / "big input.mp4"
    big_input.write_bytes(os.urandom(BIG))
    prompt_id = add_prompt(a, "never starts", big_input)
    earlier = set(a.host.input_parts())  # other tests' runs share the host
    launching = a.start_cli("run", prompt_id, output=subprocess.DEVNULL)
    wait_until(lambda: any(0 < size < BIG for p, size in a.host.input_parts().items() if p not in earlier),
               30, "a partly uploaded input", interval=0.005)
    os.kill(launching.pid, signal.SIGSTOP)  # alive but mid-upload for as long as the test looks
    try:
        (run,) = b.cli_json("runs")
        assert run["status"] == "uploading"
    finally:
        kill_tree(launching.pid)
        launching.wait(timeout=10)

    elsewhere = b.cli("sync")
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert b.cli_json("show", run["id"])["status"] == "uploading"  # b leaves a's launch to a
    assert b.cli_json("runs")[0]["status"] == "uploading"

    (failed,) = a.cli_json("runs")
    assert (failed["id"], failed["status"], failed["error"]) == (run["id"], "failed", LAUNCH_DIED)
    assert b.cli_json("show", run["id"]) == failed
    check_shape(failed)


# -- 5. two installs ending the same runs at once --------------------------------------------------

# The product's own calls, as LazySync makes them: the runs to probe (in the order the database gives
# them), then, when the test says so, the transitions decided for them applied in that order (each run
# here ended with exit 0: completed), in one transaction.
SETUP_RUNS = r"""
import sys
from pathlib import Path
from cosmos_core.store import tables
from cosmos_core.config import SyncConfig
from cosmos_core.repository import DataRepository
from cosmos_core.lifecycle import RunStatus
url, outputs, video, *run_ids = sys.argv[1:]
tables.connect(url)
repo = DataRepository(Path(outputs), SyncConfig(0.0, 120, 3))
prompt = repo.create_prompt("two at once", Path(video))
for run_id in run_ids:
    repo.create_run(run_id, prompt.id, "inference", "gpu1", {})
    assert repo.transition(run_id, RunStatus.PENDING, status=RunStatus.RUNNING.value)
"""
APPLY_TRANSITIONS = r"""
import sys
from pathlib import Path
from cosmos_core.store import tables
from cosmos_core.config import SyncConfig
from cosmos_core.repository import DataRepository
from cosmos_core.lifecycle import RunStatus
from cosmos_core.lifecycle import Transition
url, outputs = sys.argv[1:]
tables.connect(url)
repo = DataRepository(Path(outputs), SyncConfig(0.0, 120, 3))
runs = [run for run in repo.runs_to_probe() if run.status == RunStatus.RUNNING.value]
print(",".join(run.id for run in runs), flush=True)
sys.stdin.readline()
ended = [Transition(run.id, RunStatus.RUNNING, {"status": "completed", "exit_code": 0}) for run in runs]
print("applied", repo.apply_transitions(ended), flush=True)
"""
class DeadlockDetected(AssertionError):
    """A process failed with PostgreSQL's 'deadlock detected'."""


def test_two_installs_ending_the_same_runs_at_once_do_not_deadlock(machines, db, database_url,
                                                                    sample_video):
    """Two installs' syncs see the same two runs end and apply both transitions at once. Their queries
    of the runs to probe straddle a write to the first run (any process noting progress): on PostgreSQL
    the unordered query then lists the runs in the other order. The interleaving is injected: a third
    connection holds the second run's row lock until both transactions queue behind it, b's first. Both
    syncs must succeed and the two runs complete exactly once (SQLite's one writer at a time needs no
    injection)."""
    postgres = database_url.startswith("postgresql")
    a, b = machines
    first, second = "rs_1" + secrets.token_hex(7), "rs_2" + secrets.token_hex(7)
    outputs = str(a.root / "outputs")
    setup = a.start_python(SETUP_RUNS, database_url, outputs, str(sample_video), first, second)
    assert setup.wait(timeout=60) == 0, setup.communicate()[1]

    in_a = a.start_python(APPLY_TRANSITIONS, database_url, outputs)
    assert in_a.stdout.readline().split() == [f"{first},{second}"]
    db.rows(f"UPDATE {RUNS} SET progress = %s WHERE id = %s", "step 1/2", first)
    in_b = b.start_python(APPLY_TRANSITIONS, database_url, outputs)
    b_order = in_b.stdout.readline().strip()
    if not postgres:
        for process in (in_b, in_a):
            process.stdin.write("go\n")
            process.stdin.flush()
    else:
        assert b_order == f"{second},{first}"  # the write moved the first run's row behind the second's
        with db.run_row_locked(second):
            waiting = db.lock_waiters()
            for process in (in_b, in_a):  # b waits for the second run's row; a takes the first's, then waits
                process.stdin.write("go\n")
                process.stdin.flush()
                waiting += 1
                wait_until(lambda n=waiting: db.lock_waiters() >= n, 30, f"{waiting} transactions waiting")
    results = [process.communicate(timeout=60) for process in (in_a, in_b)]
    errors = [err for _, err in results]
    if any("deadlock detected" in err for err in errors):
        raise DeadlockDetected("\n".join(errors))
    assert (in_a.returncode, in_b.returncode) == (0, 0), errors
    applied = [int(out.split()[-1]) for out, _ in results]
    assert sum(applied) == 2, applied
    statuses = db.rows(f"SELECT id, status FROM {RUNS} ORDER BY id")
    assert statuses == [(first, "completed"), (second, "completed")]


RECORD_FAILURES = r"""
import sys
from pathlib import Path
from cosmos_core.store import tables
from cosmos_core.config import SyncConfig
from cosmos_core.store.queries import RunStore
url, outputs, times = sys.argv[1:]
tables.connect(url)
store = RunStore(Path(outputs), SyncConfig(0.0, 120, 3))
store.record_host("gpu1", "host gpu1: no answer")
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(times)):
    store.record_host("gpu1", "host gpu1: no answer")
"""


def test_two_processes_counting_a_hosts_failures_lose_none(tmp_path, db, database_url):
    """Each process records 300 failed contacts with gpu1 at the same time as the other (after one
    each before they start): the count is 602, none lost between a read and a write."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    processes = [subprocess.Popen([sys.executable, "-c", RECORD_FAILURES, database_url, str(tmp_path), "300"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env) for _ in range(2)]
    try:
        for process in processes:
            assert process.stdout.readline() == "ready\n", process.communicate()[1]
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        errors = [process.communicate(timeout=120)[1] for process in processes]
    finally:
        for process in processes:
            process.kill()
    assert [process.returncode for process in processes] == [0, 0], errors
    assert db.rows("SELECT failures FROM hoststate WHERE name = %s", "gpu1") == [(602,)]
