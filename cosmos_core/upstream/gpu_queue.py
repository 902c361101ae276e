"""The GPU queue of a Docker host (pure): ticket names, and what the host's queue directory says.

There is no daemon: each run's script (`scripts/common.sh`, `cosmos_wait_for_gpus`) waits in
`tickets/` of the host's queue directory under its ticket, first come first served by the
tickets' sort order, and holds its GPU slots with flock on `slots/gpu<i>.lock` while its model
runs. One queue per host, whatever model a run uses: the directory is under the host's
`remote_dir`, and every run's container sees it at `MOUNT`. The product only writes tickets'
names (creation order; "to the front"), the `paused` file, and reads the order back.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

HOST_QUEUE_DIR = "cosmos_runs/.gpu_queue"  # under the host's remote_dir (Transfer1's checkout)
MOUNT = "/cosmos_queue"  # where a run's container sees the host's queue directory
TICKETS, SLOTS = "tickets", "slots"  # its two subdirectories
PAUSED = "paused"  # a file in tickets/ that holds every waiting run
WAITING_LINE = "[COSMOS_QUEUE]"  # the script's log line while it waits
GPUS_LINE = "[COSMOS_GPUS]"  # the script's log line once it holds its slots: "[COSMOS_GPUS] 0,1"
# The script's last line when a run wants more GPUs than the host has (it would wait for ever).
TOO_FEW_GPUS = r"^\[COSMOS_QUEUE\] (needs [0-9]+ GPUs, the host has [0-9]+)"
_SCALE = 10**20


def ticket(created_at: float, run_id: str) -> str:
    """A run's ticket: sorts by creation time, after every ticket moved to the front."""
    return f"1{int(created_at * 1e6):020d}-{run_id}"


def front_ticket(now: float, run_id: str) -> str:
    """A ticket ahead of every other, the latest moved first."""
    return f"0{_SCALE - int(now * 1e6):020d}-{run_id}"


def host_queue_dir(remote_dir: str) -> str:
    """The GPU queue directory of the host whose `remote_dir` this is."""
    return posixpath.join(remote_dir, HOST_QUEUE_DIR)


def positions(names: Sequence[str]) -> dict[str, int]:
    """Run id -> 1-based place, from the queue directory's file names (`paused` and others ignored)."""
    tickets = sorted(n for n in names if n[:1] in "01" and "-" in n)
    return {name.split("-", 1)[1]: place for place, name in enumerate(tickets, 1)}


def slot_state(line: str) -> tuple[bool, str | None]:
    """(still waiting, the GPUs it holds) from the script's latest queue line."""
    if line.startswith(GPUS_LINE):
        return False, line.removeprefix(GPUS_LINE).strip() or None
    return line.startswith(WAITING_LINE), None
