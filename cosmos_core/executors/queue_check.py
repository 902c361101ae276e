"""`hosts check`'s view of a machine's GPU queue: its directory, and which of its slots are free.

The host's part of the check (`QUEUE_SCRIPT`) prints raw facts: whether the queue directory is usable
(it is made as a run would make it), which slot locks a run holds, each GPU's memory in use and the
processes nvidia-smi lists on the host (another user's job shows there, not inside a container);
`queue_item` (pure) turns them into one line a user reads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from cosmos_core.config import HostConfig
from cosmos_core.executors.docker_cli import device_ids, split_gpus
from cosmos_core.words import count

# QD: the directory (ok | fail, why); QT: tickets waiting, paused or not; QL: a slot lock, held | free |
# unknown; QG: nvidia-smi's index, uuid, MiB used; QP: a process's gpu uuid, pid, name, MiB.
QUEUE_SCRIPT = r"""
Q=%(queue)s
if out=$({ %(make)s; } 2>&1); then
  printf 'QD\tok\n'
  printf 'QT\t%%s\t%%s\n' "$(ls "$Q/tickets" | grep -c -- -)" "$([ -e "$Q/tickets/paused" ] && echo paused)"
else
  printf 'QD\tfail\t%%s\n' "$(printf '%%s' "$out" | tail -n 1 | cut -c1-200)"
fi
for lock in "$Q"/slots/gpu*.lock; do
  [ -e "$lock" ] || continue
  if ! command -v flock >/dev/null 2>&1; then state=unknown
  elif flock -n "$lock" true 2>/dev/null; then state=free
  else state=held; fi
  printf 'QL\t%%s\t%%s\n' "${lock##*/}" "$state"
done
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,uuid,memory.used --format=csv,noheader,nounits 2>/dev/null | sed 's/^/QG\t/'
  nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv,noheader,nounits \
    2>/dev/null | sed 's/^/QP\t/'
fi
"""


@dataclass(frozen=True)
class _Gpu:
    uuid: str
    used_mib: int


def queue_item(host: HostConfig, stdout: str) -> dict[str, str]:
    """{"status", "detail"} of the host's GPU queue, from the lines QUEUE_SCRIPT printed."""
    rows = [line.split("\t") for line in stdout.splitlines() if line.startswith("Q")]
    directory = next((row for row in rows if row[0] == "QD"), ["QD", "fail", "no answer"])
    if directory[1] != "ok":
        return {"status": "fail", "detail": f"{host.queue_dir} cannot be made: {directory[-1]}"}
    locks = {row[1]: row[2] for row in rows if row[0] == "QL" and len(row) == 3}
    gpus = {int(fields[0]): _Gpu(fields[1], _mib(fields[2]))
            for fields in _csv(rows, "QG", 3) if fields[0].isdigit()}
    processes: dict[str, list[str]] = defaultdict(list)
    for uuid, pid, name, mib in _csv(rows, "QP", 4):
        processes[uuid].append(f"{name} pid {pid}, {_mib(mib)} MiB")
    slots = _slot_ids(host, gpus)
    states = [_slot_state(slot, locks, gpus, processes, host.busy_memory_mib) for slot in slots]
    free = sum(state is None for state in states)
    words = [f"{host.queue_dir}: {free} of {count(len(slots), 'GPU')} free"]
    words += [state for state in states if state]
    waiting = next((row for row in rows if row[0] == "QT" and len(row) == 3), None)
    if waiting and waiting[1] != "0":
        words.append(f"{waiting[1]} waiting")
    if waiting and waiting[2] == "paused":
        words.append("paused")
    return {"status": "ok", "detail": "; ".join(words)}


def _slot_ids(host: HostConfig, gpus: dict[int, _Gpu]) -> list[int]:
    """The machine's GPUs the host's runs queue for, as their scripts count them."""
    named = device_ids(split_gpus(host.run_args)[1])
    if named is not None:
        return list(named)
    return list(range(host.gpus or len(gpus) or 1))


def _slot_state(slot: int, locks: dict[str, str], gpus: dict[int, _Gpu], processes: dict[str, list[str]],
                busy_mib: int) -> str | None:
    """None for a free slot, else why it is not."""
    if locks.get(f"gpu{slot}.lock") == "held":
        return f"GPU {slot} held by a run of the queue"
    gpu = gpus.get(slot)
    if gpu is not None and busy_mib and gpu.used_mib >= busy_mib:
        who = "; ".join(processes.get(gpu.uuid, [])) or "no process listed"
        return f"GPU {slot} busy outside the queue ({gpu.used_mib} MiB: {who})"
    return None


def _csv(rows: list[list[str]], tag: str, width: int) -> list[list[str]]:
    """nvidia-smi's CSV rows (`a, b, c`) under `tag` that have `width` fields."""
    fields = [[part.strip() for part in row[1].split(",")] for row in rows if row[0] == tag and len(row) == 2]
    return [row for row in fields if len(row) == width]


def _mib(text: str) -> int:
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else 0
