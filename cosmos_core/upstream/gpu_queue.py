"""The GPU queue of a Docker machine (pure): ticket names, and what the queue directory says.

There is no daemon: each run's script (`scripts/common.sh`, `cosmos_wait_for_gpus`) waits in
`tickets/` of the machine's queue directory under its ticket, first come first served by the
tickets' sort order, and holds its GPU slots with flock on `slots/gpu<i>.lock` while its model
runs, `i` being the machine's index of the GPU. One queue per machine, whoever starts a run and
from whichever checkout: the directory is the host's `queue_dir` (by default `DEFAULT_DIR`, outside
every checkout), and every run's container sees it at `MOUNT`. The product only writes tickets'
names (creation order; "to the front"), the `paused` file, and reads the order back.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence

DEFAULT_DIR = "/var/tmp/cosmos-gpu-queue"  # the same path for every user of a machine
DEFAULT_BUSY_MIB = 1024  # a GPU outside the queue using this much memory is taken by someone else
MOUNT = "/cosmos_queue"  # where a run's container sees the host's queue directory
TICKETS, SLOTS = "tickets", "slots"  # its two subdirectories
PAUSED = "paused"  # a file in tickets/ that holds every waiting run
WAITING_LINE = "[COSMOS_QUEUE]"  # the script's log line while it waits
GPUS_LINE = "[COSMOS_GPUS]"  # the script's log line once it holds its slots: "[COSMOS_GPUS] 0,1"
# The script's last line when a run can never get its GPUs (more than the host has, no flock in the
# image, a Slurm job given none), instead of waiting for ever: "[COSMOS_QUEUE] needs ...".
CANNOT_START = r"^\[COSMOS_QUEUE\] (needs .+)"
_SCALE = 10**20


def make_command(queue_dir: str) -> str:
    """Shell that makes the machine's queue directory where it is missing: every user of the machine may
    queue there, and the sticky bit keeps each one's tickets their own."""
    subdirs = [posixpath.join(queue_dir, sub) for sub in (TICKETS, SLOTS)]
    return f"mkdir -p -m 755 {shlex.quote(queue_dir)} && mkdir -p -m 1777 {shlex.join(subdirs)}"


def ticket(created_at: float, run_id: str) -> str:
    """A run's ticket: sorts by creation time, after every ticket moved to the front."""
    return f"1{int(created_at * 1e6):020d}-{run_id}"


def front_ticket(now: float, run_id: str) -> str:
    """A ticket ahead of every other, the latest moved first."""
    return f"0{_SCALE - int(now * 1e6):020d}-{run_id}"


def positions(names: Sequence[str]) -> dict[str, int]:
    """Run id -> 1-based place, from the queue directory's file names (`paused` and others ignored)."""
    tickets = sorted(n for n in names if n[:1] in "01" and "-" in n)
    return {name.split("-", 1)[1]: place for place, name in enumerate(tickets, 1)}


def slot_state(line: str) -> tuple[str | None, str | None]:
    """(what the run still waits for, the GPUs it holds) from the script's latest queue line: "GPUs",
    or the GPU it would take but for another user's job ("GPU 0: 30000 MiB in use outside the queue")."""
    if line.startswith(GPUS_LINE):
        return None, line.removeprefix(GPUS_LINE).strip() or None
    if not line.startswith(WAITING_LINE):
        return None, None
    said = line.removeprefix(WAITING_LINE).strip()
    return (said.removeprefix("waiting for ") if said.startswith("waiting for GPU ") else "GPUs"), None
