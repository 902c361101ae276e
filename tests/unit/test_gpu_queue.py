"""The GPU queue with no daemon: scripts/common.sh run by real bash processes taking real flock locks
(as they do in the containers of one host), and the product's pure side (`cosmos_core.upstream.gpu_queue`)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cosmos_core.launcher import LaunchPlan
from cosmos_core.upstream import gpu_queue
from tests.hostkit import wait_until

ROOT = Path(__file__).resolve().parents[2]
COMMON = ROOT / "scripts" / "common.sh"
HOST_QUEUE = "host-queue"  # the host's queue dir, as every container of the host sees it
STANDIN_NVIDIA_SMI = ROOT / "tests" / "standin" / "nvidia-smi"
# A run: the model appends "start ID GPUS" and, HOLD seconds later (or once the file HOLD_UNTIL exists, when
# set), "end ID" to ./record.
RUN = f"""source {COMMON}
hold() {{ if [ -z "${{HOLD_UNTIL:-}}" ]; then sleep "$HOLD"
         else until [ -e "$HOLD_UNTIL" ]; do sleep 0.02; done; fi; }}
model() {{ printf 'start %s %s\\n' "$COSMOS_RUN_ID" "$CUDA_VISIBLE_DEVICES" >> record
          hold; printf 'end %s\\n' "$COSMOS_RUN_ID" >> record; }}
cosmos_run "cosmos_runs/$COSMOS_RUN_ID" model
"""


def start(workspace: Path, run_id: str, created: float, gpus: int | str = 2, want: int = 1,
          hold: float = 0.6, path: str = os.environ["PATH"], **env: str) -> subprocess.Popen:
    env |= {"PATH": path, "COSMOS_GPUS": str(gpus), "NUM_GPU": str(want), "HOLD": str(hold),
            "COSMOS_RUN_ID": run_id, "COSMOS_TICKET": gpu_queue.ticket(created, run_id),
            "COSMOS_QUEUE_DIR": str(workspace / HOST_QUEUE)}
    return subprocess.Popen(["bash", "-c", RUN], cwd=workspace, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def record(workspace: Path) -> list[list[str]]:
    path = workspace / "record"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def most_at_once(events: list[list[str]]) -> int:
    holding, most = 0, 0
    for event in events:
        holding += 1 if event[0] == "start" else -1
        most = max(most, holding)
    return most


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "cosmos_runs").mkdir()
    return tmp_path


def test_five_runs_on_two_slots_never_overlap_more_than_two_and_start_in_creation_order(workspace):
    """The five join the queue out of creation order while a first run holds both slots."""
    release = workspace / "release"
    holder = start(workspace, "rs_0", created=1000.0, want=2, HOLD_UNTIL=str(release))
    wait_until(lambda: record(workspace), 10, "the first run to hold both slots")
    queue = workspace / HOST_QUEUE / gpu_queue.TICKETS
    runs = []
    for i in (3, 1, 4, 2, 5):
        runs.append(start(workspace, f"rs_{i}", created=1000.0 + i))
        wait_until(lambda i=i: any(p.name.endswith(f"-rs_{i}") for p in queue.iterdir()), 10, f"rs_{i} queued")
    release.touch()
    assert [r.wait(timeout=60) for r in (holder, *runs)] == [0] * 6
    events = record(workspace)
    assert most_at_once(events) == 2
    assert [e[1] for e in events if e[0] == "start"] == ["rs_0", "rs_1", "rs_2", "rs_3", "rs_4", "rs_5"]
    assert {e[2] for e in events if e[0] == "start"} == {"0,1", "0", "1"}
    assert not list(queue.iterdir())  # every ticket gone
    log = (workspace / "cosmos_runs" / "rs_5" / "run.log").read_text()
    assert "[COSMOS_QUEUE] waiting for 1 of the host's 2 GPUs" in log and "[COSMOS_GPUS] " in log


def test_a_run_taking_two_slots_waits_for_both(workspace):
    first = start(workspace, "rs_1", 1.0, want=1, hold=1.0)
    wait_until(lambda: record(workspace), 10, "the first run to start")
    both = start(workspace, "rs_2", 2.0, want=2, hold=0.1)
    assert first.wait(timeout=30) == 0 and both.wait(timeout=30) == 0
    assert record(workspace) == [["start", "rs_1", "0"], ["end", "rs_1"], ["start", "rs_2", "0,1"], ["end", "rs_2"]]


def with_nvidia_smi(tmp_path: Path) -> str:
    """A PATH whose nvidia-smi is the stand-in's (it lists $STANDIN_GPUS GPUs)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").symlink_to(STANDIN_NVIDIA_SMI)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_auto_slots_are_the_gpus_nvidia_smi_lists(workspace, tmp_path):
    run = start(workspace, "rs_1", 1.0, gpus="auto", want=3, hold=0.1, path=with_nvidia_smi(tmp_path),
                STANDIN_GPUS="3")
    assert run.wait(timeout=30) == 0
    assert record(workspace)[0] == ["start", "rs_1", "0,1,2"]
    log = (workspace / "cosmos_runs" / "rs_1" / "run.log").read_text()
    assert "[COSMOS_QUEUE] waiting for 3 of the host's 3 GPUs" in log


@pytest.mark.parametrize("gpus_listed", [None, "0"])  # no nvidia-smi; one that finds no device
def test_auto_slots_are_one_when_nvidia_smi_lists_none(workspace, tmp_path, gpus_listed):
    path = os.environ["PATH"] if gpus_listed is None else with_nvidia_smi(tmp_path)
    run = start(workspace, "rs_1", 1.0, gpus="auto", hold=0.1, path=path, STANDIN_GPUS=gpus_listed or "")
    assert run.wait(timeout=30) == 0
    assert record(workspace)[0] == ["start", "rs_1", "0"]


def test_a_run_wanting_more_gpus_than_the_host_has_fails_at_once_saying_so(workspace):
    run = start(workspace, "rs_1", 1.0, gpus=2, want=3)
    assert run.wait(timeout=30) == 1
    assert record(workspace) == []  # the model never started
    log = (workspace / "cosmos_runs" / "rs_1" / "run.log").read_text().splitlines()
    assert log[-2:] == ["[COSMOS_QUEUE] needs 3 GPUs, the host has 2", "[COSMOS_COMPLETE] exit_code=1"]
    assert not (workspace / HOST_QUEUE).exists()  # it never took a ticket


def test_slots_are_the_machines_gpus_whatever_subset_a_container_was_given(workspace):
    """Two host entries for one machine: one's containers get GPUs 2 and 3, the other's GPU 3 alone. Both
    mean the machine's GPU 3 by slot 3, so they never share it; the model counts its GPUs from 0."""
    both = start(workspace, "rs_a", 1.0, want=2, hold=1.0, COSMOS_GPU_IDS="2,3")
    wait_until(lambda: record(workspace), 10, "the first run to hold GPUs 2 and 3")
    three = start(workspace, "rs_b", 2.0, want=1, hold=0.1, COSMOS_GPU_IDS="3")
    assert both.wait(timeout=30) == 0 and three.wait(timeout=30) == 0
    assert record(workspace) == [["start", "rs_a", "0,1"], ["end", "rs_a"], ["start", "rs_b", "0"], ["end", "rs_b"]]
    logs = [(workspace / "cosmos_runs" / run / "run.log").read_text() for run in ("rs_a", "rs_b")]
    assert "[COSMOS_GPUS] 2,3\n" in logs[0] and "[COSMOS_GPUS] 3\n" in logs[1]
    assert sorted(p.name for p in (workspace / HOST_QUEUE / gpu_queue.SLOTS).iterdir()) == ["gpu2.lock", "gpu3.lock"]


def test_a_gpu_busy_outside_the_queue_is_not_given_out_until_it_is_free(workspace, tmp_path):
    use = tmp_path / "gpu-use"  # another user's job on the machine's GPU 0, and a display server on GPU 1
    use.write_text("0 30000 4242 python\n1 300 77 Xorg\n")
    gpus = {"path": with_nvidia_smi(tmp_path), "STANDIN_GPUS": "2", "STANDIN_GPU_USE": str(use),
            "COSMOS_BUSY_MIB": "1024"}
    release = workspace / "release"
    first = start(workspace, "rs_1", 1.0, HOLD_UNTIL=str(release), **gpus)
    wait_until(lambda: record(workspace), 10, "the first run to start")
    assert record(workspace)[0] == ["start", "rs_1", "1"]  # 300 MiB is under the threshold
    second = start(workspace, "rs_2", 2.0, hold=0.1, **gpus)
    log = workspace / "cosmos_runs" / "rs_2" / "run.log"
    wait_until(lambda: log.exists() and "outside the queue" in log.read_text(), 10, "the second run to say why")
    assert "[COSMOS_QUEUE] waiting for GPU 0: 30000 MiB in use outside the queue" in log.read_text().splitlines()
    assert len(record(workspace)) == 1
    use.write_text("1 300 77 Xorg\n")  # the other job ended
    assert second.wait(timeout=30) == 0
    assert record(workspace)[1] == ["start", "rs_2", "0"] and first.poll() is None  # GPU 0, beside the first
    release.touch()
    assert first.wait(timeout=30) == 0


def test_an_image_without_flock_fails_the_run_at_once_saying_so(workspace, tmp_path):
    bin_dir = tmp_path / "no-flock"
    bin_dir.mkdir()
    for tool in ("bash", "ls", "sort", "mkdir", "mv", "rm", "sleep", "tee", "tail", "chown", "stat", "grep", "cat"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    run = start(workspace, "rs_1", 1.0, path=str(bin_dir))
    assert run.wait(timeout=30) == 1
    log = (workspace / "cosmos_runs" / "rs_1" / "run.log").read_text().splitlines()
    assert log[-2:] == ["[COSMOS_QUEUE] needs flock (util-linux) in the image, which has none",
                        "[COSMOS_COMPLETE] exit_code=1"]
    assert record(workspace) == []


def test_a_ticket_belongs_to_the_user_who_started_the_run(workspace):
    """The container runs as root; its ticket is chowned to the owner of the run's directory, who may then
    move it to the front, while the queue's sticky bit keeps other users from removing it."""
    release = workspace / "release"
    holder = start(workspace, "rs_0", 0.0, gpus=1, HOLD_UNTIL=str(release))
    wait_until(lambda: record(workspace), 10, "the slot to be taken")
    run_dir = workspace / "cosmos_runs" / "rs_1"
    run_dir.mkdir()
    os.chown(run_dir, 65534, 65534)  # started by `nobody`
    waiting = start(workspace, "rs_1", 1.0, gpus=1, hold=0.1)
    queue = workspace / HOST_QUEUE / gpu_queue.TICKETS
    wait_until(lambda: any(p.name.endswith("-rs_1") and p.stat().st_uid == 65534 for p in queue.iterdir()), 10,
               "the ticket to be nobody's")
    release.touch()
    assert holder.wait(timeout=30) == 0 and waiting.wait(timeout=30) == 0


def test_a_paused_queue_holds_waiting_runs_and_resume_releases_them(workspace):
    queue = workspace / HOST_QUEUE / gpu_queue.TICKETS
    queue.mkdir(parents=True)
    (queue / gpu_queue.PAUSED).touch()
    run = start(workspace, "rs_1", 1.0, hold=0.1)
    wait_until(lambda: any(p.name.endswith("-rs_1") for p in queue.iterdir()), 10, "the run to queue")
    time.sleep(1.5)  # the script polls every second: it must have looked at least once
    assert record(workspace) == [] and run.poll() is None
    (queue / gpu_queue.PAUSED).unlink()
    assert run.wait(timeout=30) == 0 and record(workspace)[0][:2] == ["start", "rs_1"]


def test_a_ticket_moved_to_the_front_goes_first(workspace):
    release = workspace / "release"
    holder = start(workspace, "rs_0", 0.0, gpus=1, HOLD_UNTIL=str(release))
    wait_until(lambda: record(workspace), 10, "the slot to be taken")
    waiting = [start(workspace, f"rs_{i}", float(i), gpus=1, hold=0.1) for i in (1, 2, 3)]
    queue = workspace / HOST_QUEUE / gpu_queue.TICKETS
    wait_until(lambda: len([p for p in queue.iterdir() if "-" in p.name]) == 3, 10, "three tickets")
    old = next(p for p in queue.iterdir() if p.name.endswith("-rs_3"))
    old.rename(queue / gpu_queue.front_ticket(time.time(), "rs_3"))  # what `queue front` does on the host
    release.touch()
    assert [r.wait(timeout=30) for r in (holder, *waiting)] == [0] * 4
    assert [e[1] for e in record(workspace) if e[0] == "start"] == ["rs_0", "rs_3", "rs_1", "rs_2"]


def test_a_waiting_run_stopped_ends_its_log_and_never_starts_its_model(workspace):
    release = workspace / "release"
    holder = start(workspace, "rs_1", 1.0, gpus=1, HOLD_UNTIL=str(release))  # holds its slot until released
    wait_until(lambda: record(workspace), 10, "the slot to be taken")
    waiting = start(workspace, "rs_2", 2.0, gpus=1)
    log = workspace / "cosmos_runs" / "rs_2" / "run.log"
    wait_until(lambda: log.exists() and "[COSMOS_QUEUE]" in log.read_text(), 10, "the run to wait")
    os.killpg(waiting.pid, signal.SIGTERM)  # `docker stop` of its container
    assert waiting.wait(timeout=10) == 143
    assert log.read_text().rstrip().endswith("[COSMOS_COMPLETE] exit_code=143")
    release.touch()
    assert holder.wait(timeout=30) == 0
    assert [e[1] for e in record(workspace) if e[0] == "start"] == ["rs_1"]


def test_a_dead_runs_ticket_does_not_block_the_queue(workspace):
    queue = workspace / HOST_QUEUE / gpu_queue.TICKETS
    queue.mkdir(parents=True)
    (queue / gpu_queue.ticket(0.5, "rs_dead")).touch()  # its container died: nobody holds its lock
    run = start(workspace, "rs_1", 1.0, hold=0.1)
    assert run.wait(timeout=30) == 0 and not (queue / gpu_queue.ticket(0.5, "rs_dead")).exists()


def test_tickets_sort_by_creation_after_those_moved_to_the_front():
    tickets = [gpu_queue.ticket(1700000000.5, "rs_b"), gpu_queue.ticket(1700000000.25, "rs_a"),
               gpu_queue.front_ticket(1700000100.0, "rs_c"), gpu_queue.front_ticket(1700000200.0, "rs_d")]
    assert gpu_queue.positions([*tickets, "paused"]) == {"rs_d": 1, "rs_c": 2, "rs_a": 3, "rs_b": 4}


@pytest.mark.parametrize(("line", "state"), [
    ("[COSMOS_QUEUE] waiting for 1 of the host's 2 GPUs", ("GPUs", None)),
    ("[COSMOS_QUEUE] waiting for GPU 0: 30000 MiB in use outside the queue",
     ("GPU 0: 30000 MiB in use outside the queue", None)),
    ("[COSMOS_GPUS] 0,1", (None, "0,1")),
    ("", (None, None)),
])
def test_the_scripts_queue_lines_are_read(line, state):
    assert gpu_queue.slot_state(line) == state


@pytest.mark.parametrize(("slots", "counted"), [(2, "2"), (None, "auto")])
def test_a_runs_environment_names_its_ticket_slots_and_the_queue_mount(slots, counted):
    plan = LaunchPlan("rs_1", "cosmos_runs/rs_1", ("true",), ticket="1000-rs_1", gpu_slots=slots)
    assert plan.env(1) == {"NUM_GPU": "1", "PYTHONPATH": "/workspace", "COSMOS_RUN_ID": "rs_1",
                           "COSMOS_GPUS": counted, "COSMOS_TICKET": "1000-rs_1", "COSMOS_QUEUE_DIR": "/cosmos_queue"}
    assert "COSMOS_TICKET" not in LaunchPlan("rs_2", "cosmos_runs/rs_2", ("true",)).env(1)  # a Slurm job's
