"""`hosts check`'s view of the machine's GPU queue (pure), and the queue directory's permissions (real
directories, a real second user): everyone may queue, no one may remove another's ticket."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.config import HostConfig
from cosmos_core.executors.queue_check import queue_item
from cosmos_core.upstream import gpu_queue


def host(run_args: tuple[str, ...] = ("--gpus", "all"), gpus: int | None = None, busy: int = 1024) -> HostConfig:
    return HostConfig("box", "h", "u", 22, Path("k"), Path("kh"), "/r", "img", ("docker",), run_args, 1, gpus=gpus,
                      queue_dir="/var/tmp/q", busy_memory_mib=busy)


SMI = ("QG\t0, GPU-a, 30000\nQG\t1, GPU-b, 4\nQG\t2, GPU-c, 12000\nQG\t3, GPU-d, 0\n"
       "QP\tGPU-a, 4242, python, 30000\nQP\tGPU-c, 99, train.py, 12000\n")


def test_every_slot_is_free_held_by_the_queue_or_busy_outside_it():
    out = "QD\tok\nQT\t2\t\nQL\tgpu1.lock\theld\nQL\tgpu3.lock\tfree\n" + SMI
    item = queue_item(host(), out)
    assert item["status"] == "ok"
    assert item["detail"] == ("/var/tmp/q: 1 of 4 GPUs free; GPU 0 busy outside the queue (30000 MiB: python pid 4242, "
                              "30000 MiB); GPU 1 held by a run of the queue; GPU 2 busy outside the queue (12000 MiB: "
                              "train.py pid 99, 12000 MiB); 2 waiting")


@pytest.mark.parametrize(("config", "free"), [
    (host(("--gpus", '"device=1,3"')), "2 of 2 GPUs free"),  # the container's GPUs, by the machine's index
    (host(gpus=2), "1 of 2 GPUs free"),  # slots 0 and 1; GPU 0 is busy
    (host(busy=0), "4 of 4 GPUs free"),  # no threshold: memory in use never makes a GPU busy
    (host(busy=40000), "4 of 4 GPUs free"),
])
def test_the_slots_are_those_the_hosts_runs_queue_for(config, free):
    assert queue_item(config, "QD\tok\nQT\t0\t\n" + SMI)["detail"].startswith(f"/var/tmp/q: {free}")


def test_a_paused_queue_and_a_directory_that_cannot_be_made_are_said():
    assert queue_item(host(), "QD\tok\nQT\t0\tpaused\n")["detail"] == "/var/tmp/q: 1 of 1 GPU free; paused"
    failed = queue_item(host(), "QD\tfail\tmkdir: cannot create directory '/var/tmp/q': Permission denied\n")
    assert failed == {"status": "fail", "detail": "/var/tmp/q cannot be made: mkdir: cannot create directory "
                                                  "'/var/tmp/q': Permission denied"}
    assert queue_item(host(), "")["status"] == "fail"  # no answer at all


def as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True, text=True)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's own are root's alone), like /var/tmp itself."""
    path = Path(tempfile.mkdtemp(dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_every_user_may_queue_and_no_one_may_remove_another_users_ticket(open_dir):
    queue = open_dir / "machine-queue"
    subprocess.run(["bash", "-c", gpu_queue.make_command(str(queue))], check=True)
    tickets, slots = queue / gpu_queue.TICKETS, queue / gpu_queue.SLOTS
    assert [oct(d.stat().st_mode & 0o7777) for d in (queue, tickets, slots)] == ["0o755", "0o1777", "0o1777"]
    root_ticket = tickets / gpu_queue.ticket(1.0, "rs_root")
    root_ticket.touch()
    (slots / "gpu0.lock").touch()
    assert as_nobody("touch", str(tickets / gpu_queue.ticket(2.0, "rs_nobody"))).returncode == 0
    assert as_nobody("rm", "-f", str(root_ticket)).returncode != 0 and root_ticket.exists()
    assert as_nobody("mv", str(root_ticket), str(tickets / "0-rs_root")).returncode != 0  # nor move it ahead
    assert as_nobody("flock", "-n", str(slots / "gpu0.lock"), "true").returncode == 0  # a slot's lock, read-only
    subprocess.run(["bash", "-c", gpu_queue.make_command(str(queue))], check=True)  # again: nothing changes
    assert root_ticket.exists()
