"""The experiment table (issue 20, point 1) against today's runs table, in the same run.

`table`: two dashboards, each `python launch.py` on the same database of 100,000 finished runs, one
serving this checkout and one serving the code this branch started from (`git merge-base HEAD
main`, unpacked with `git archive`: today's runs table). In one session each, the timer's tick is
triggered as the browser triggers it (Gradio's queue, over HTTP): the first tick sends the table,
the next ones are quiet (nothing changed). Figures: bytes the server sends per quiet tick (the
event stream of that tick, and its join answer), the server process's CPU time per quiet tick
(utime + stime from /proc), the bytes of the first, full tick; and, for the new table only, a
quiet tick with the table sorted by a parameter (seed, ascending), which SQL sorts over every run.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from io import BytesIO
from pathlib import Path

from tests.hostkit import free_port, stop_process, wait_until
from tests.workspace import REPO, Workspace

from .common import Bench, child_env, median
from .dashboard import _get, _serves

RUNS = 100_000
QUIET_TICKS = 60
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def baseline_checkout(root: Path) -> tuple[Path, str]:
    """The code this branch started from, unpacked under `root`; (its directory, its commit)."""
    commit = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO, capture_output=True,
                             check=True).stdout  # fmt: skip
    target = root / f"baseline-{commit[:12]}"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target, commit


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextmanager
def dashboard(workspace: Workspace, code: Path, label: str) -> Iterator[tuple[str, int]]:
    """`python launch.py` of the checkout `code` on the workspace; (its URL, its pid)."""
    port = free_port()
    env = child_env(GRADIO_TEMP_DIR=str(workspace.root / f"gradio-{label}")) | {"PYTHONPATH": str(code)}
    with open(workspace.root / f"dashboard-{label}.log", "w") as log:
        process = subprocess.Popen([sys.executable, str(code / "launch.py"), "--config", str(workspace.config),
                                    "--port", str(port)], cwd=workspace.root, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: process.poll() is not None or _serves(url), 120, f"the {label} dashboard to listen", 0.2)
        if process.poll() is not None:
            raise RuntimeError(f"{label} launch.py exited: {(workspace.root / f'dashboard-{label}.log').read_text()}")
        yield url, process.pid
    finally:
        stop_process(process)


class Session:
    """One browser tab's session: the tick event with the page's initial values (`changes`: elem_id ->
    value, a control the user moved), its States kept on the server between ticks."""

    def __init__(self, url: str, changes: Mapping[str, object] | None = None) -> None:
        self.url = url
        self.config = json.loads(_get(url + "config"))
        self.api = url + self.config.get("api_prefix", "/gradio_api").strip("/")
        self.hash = secrets.token_hex(8)
        self.tick = next(d for d in self.config["dependencies"] if any(t[1] == "tick" for t in d["targets"]))
        components = {c["id"]: c for c in self.config["components"]}
        changes = changes or {}

        def value(component: dict) -> object:
            props = component.get("props", {})
            return None if component.get("type") == "state" else changes.get(props.get("elem_id"), props.get("value"))

        self.data = [value(components[i]) for i in self.tick["inputs"]]

    def run_tick(self) -> int:
        """Trigger one tick and read its result; the bytes the server sent for it."""
        body = {"data": self.data, "fn_index": self.tick["id"], "trigger_id": self.tick["targets"][0][0],
                "session_hash": self.hash, "event_data": None}  # fmt: skip
        join = urllib.request.Request(f"{self.api}/queue/join", json.dumps(body).encode(),
                                      {"Content-Type": "application/json"})
        sent = len(_get(join))
        with urllib.request.urlopen(f"{self.api}/queue/data?session_hash={self.hash}", timeout=60) as stream:
            for raw in stream:
                sent += len(raw)
                line = raw.decode().strip()
                message = json.loads(line.removeprefix("data:")) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    if not message.get("success", False):
                        raise RuntimeError(f"the tick failed: {line[:300]}")
                    return sent
        raise RuntimeError("the tick never completed")


def bench_table(bench: Bench) -> None:
    workspace = bench.filled(RUNS)
    code, commit = baseline_checkout(bench.root)
    bench.emit("table_baseline_commit", commit[:12])
    setups = {"before": (code, None), "after": (REPO, None),
              "after_sorted_by_seed": (REPO, {"table-sort": "seed", "table-order": "ascending"})}
    with ExitStack() as stack:
        served = {label: stack.enter_context(dashboard(workspace, checkout, label))
                  for label, (checkout, _) in setups.items()}
        sessions = {label: Session(served[label][0], changes) for label, (_, changes) in setups.items()}
        figures = interleaved_ticks(sessions, {label: pid for label, (_, pid) in served.items()})
    for label, values in figures.items():
        bench.emit(f"table_{RUNS}_runs_first_tick_bytes_{label}", int(values["first_bytes"]))
        bench.emit(f"table_{RUNS}_runs_quiet_tick_bytes_{label}", int(values["quiet_bytes"]))
        bench.emit(f"table_{RUNS}_runs_quiet_tick_cpu_ms_{label}", values["quiet_cpu_ms"])
    bench.emit("table_quiet_ticks_each", QUIET_TICKS)
    before, after = figures["before"], figures["after"]
    bench.ratio(f"table_{RUNS}_runs_quiet_tick_bytes_after_vs_before", after["quiet_bytes"] / before["quiet_bytes"])
    bench.ratio(f"table_{RUNS}_runs_quiet_tick_cpu_after_vs_before",
                after["quiet_cpu_ms"] / max(before["quiet_cpu_ms"], 1e-9))


def interleaved_ticks(sessions: dict[str, Session], pids: dict[str, int]) -> dict[str, dict[str, float]]:
    """Per session: its first (full) tick's bytes, then QUIET_TICKS quiet ones, the sessions taking
    turns tick by tick so that whatever else the machine does weighs on each alike: the median bytes
    and the server's CPU ms per quiet tick (its process's CPU time across its own ticks)."""
    first = {label: session.run_tick() for label, session in sessions.items()}
    for session in sessions.values():
        session.run_tick()  # the toasts' and title's state settles
    sizes: dict[str, list[int]] = {label: [] for label in sessions}
    cpu = dict.fromkeys(sessions, 0.0)
    for _ in range(QUIET_TICKS):
        for label, session in sessions.items():
            began = cpu_seconds(pids[label])
            sizes[label].append(session.run_tick())
            cpu[label] += cpu_seconds(pids[label]) - began
    return {label: {"first_bytes": first[label], "quiet_bytes": median(sizes[label]),
                    "quiet_cpu_ms": cpu[label] / QUIET_TICKS * 1000} for label in sessions}
