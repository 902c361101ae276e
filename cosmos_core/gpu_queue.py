"""The GPU queue of a Docker host (pure): ticket names, and what the host's queue directory says.

There is no daemon: each run's script (`scripts/common.sh`, `cosmos_wait_for_gpus`) waits in
`<checkout>/cosmos_runs/.queue/` under its ticket, first come first served by the tickets' sort
order, and holds its GPU slots with flock under `cosmos_runs/.gpus/` while its model runs. The
product only writes tickets' names (creation order; "to the front"), the `paused` file, and reads
the order back.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

QUEUE_DIR = ".queue"  # under the checkout's cosmos_runs/, beside the runs' directories
PAUSED = "paused"
WAITING_LINE = "[COSMOS_QUEUE]"  # the script's log line while it waits
GPUS_LINE = "[COSMOS_GPUS]"  # the script's log line once it holds its slots: "[COSMOS_GPUS] 0,1"
_SCALE = 10**20


def ticket(created_at: float, run_id: str) -> str:
    """A run's ticket: sorts by creation time, after every ticket moved to the front."""
    return f"1{int(created_at * 1e6):020d}-{run_id}"


def front_ticket(now: float, run_id: str) -> str:
    """A ticket ahead of every other, the latest moved first."""
    return f"0{_SCALE - int(now * 1e6):020d}-{run_id}"


def queue_dir(run_dir: str) -> str:
    """The queue of the checkout a run's directory is in."""
    return posixpath.join(posixpath.dirname(run_dir.rstrip("/")), QUEUE_DIR)


def positions(names: Sequence[str]) -> dict[str, int]:
    """Run id -> 1-based place, from the queue directory's file names (`paused` and others ignored)."""
    tickets = sorted(n for n in names if n[:1] in "01" and "-" in n)
    return {name.split("-", 1)[1]: place for place, name in enumerate(tickets, 1)}


def slot_state(line: str) -> tuple[bool, str | None]:
    """(still waiting, the GPUs it holds) from the script's latest queue line."""
    if line.startswith(GPUS_LINE):
        return False, line.removeprefix(GPUS_LINE).strip() or None
    return line.startswith(WAITING_LINE), None
