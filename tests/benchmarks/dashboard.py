"""Figures 2 and 6: the dashboard as history grows.

2. `tick`: a quiet timer tick (nothing active), server side: `Handlers.render(Query(), None,
   Refresh.AUTO)` in this process against a SQLite file holding 100, 10,000 and 100,000 finished,
   downloaded runs; p50 and p95, and the ratio to 100 runs.
6. `rss`: the resident memory of `python launch.py` after the page was loaded once over HTTP (the
   page, its config, then its load event and one timer tick through Gradio's queue, as a browser
   does), with 10,000 and 100,000 runs stored against an empty database.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from app.handlers import PAGE_SIZE, Handlers, Query
from cosmos_core.api import Refresh
from cosmos_core.store import tables
from tests.hostkit import free_port, stop_process, wait_until
from tests.workspace import REPO, Workspace

from .common import Bench, child_env, percentile

SIZES = (100, 10_000, 100_000)
ROUNDS = 60  # ticks per size, after WARMUP; fewer (at least MIN_ROUNDS) past TICK_BUDGET_SECONDS
MIN_ROUNDS = 20
WARMUP = 3
TICK_BUDGET_SECONDS = 10.0
RSS_SIZES = (0, 10_000, 100_000)


def quiet_ticks(workspaces: dict[int, Workspace]) -> dict[int, list[float]]:
    """Seconds of each quiet tick of one tab per database (its Handlers kept, as the dashboard
    keeps it). The databases take turns, tick by tick, so that whatever else this machine does
    weighs on every size alike: cosmos_core.store.tables is bound to each one's API before its tick."""
    apis = {count: workspace.api() for count, workspace in workspaces.items()}
    try:
        tabs = {count: Handlers(api) for count, api in apis.items()}

        def tick(count: int) -> dict:
            tables.database.initialize(apis[count].db)
            return tabs[count].render(Query(), None, Refresh.AUTO)

        for count in tabs:
            for _ in range(WARMUP):
                view = tick(count)
            if len(view["table"]) != min(count, PAGE_SIZE):
                raise RuntimeError(f"the tick over {count} runs showed {len(view['table'])} rows")
        took: dict[int, list[float]] = {count: [] for count in tabs}
        began = time.perf_counter()
        for done in range(ROUNDS):
            if done >= MIN_ROUNDS and time.perf_counter() - began > TICK_BUDGET_SECONDS:
                break
            for count in tabs:
                started = time.perf_counter()
                tick(count)
                took[count].append(time.perf_counter() - started)
        return took
    finally:
        for api in apis.values():
            tables.database.initialize(api.db)
            api.close()


def bench_tick(bench: Bench) -> None:
    workspaces = {count: bench.filled(count) for count in SIZES}
    sessions = bench.host.count_exec_sessions()
    took = quiet_ticks(workspaces)
    p50 = {count: percentile(values, 50) * 1000 for count, values in took.items()}
    p95 = {count: percentile(values, 95) * 1000 for count, values in took.items()}
    for count in SIZES:
        bench.emit(f"tick_{count}_runs_p50_ms", p50[count])
        bench.emit(f"tick_{count}_runs_p95_ms", p95[count])
    bench.emit("tick_ticks_per_size", len(took[SIZES[0]]))
    bench.emit("tick_remote_commands", bench.host.count_exec_sessions() - sessions)
    base = SIZES[0]
    for count in SIZES[1:]:
        bench.ratio(f"tick_{count}_vs_{base}_runs_p50", p50[count] / p50[base])
    bench.ratio(f"tick_{SIZES[-1]}_vs_{base}_runs_p95", p95[SIZES[-1]] / p95[base])


# -- the dashboard process ---------------------------------------------------------


def _get(url: str | urllib.request.Request, timeout: float = 60) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _serves(url: str) -> bool:
    try:
        _get(url, timeout=2)
        return True
    except OSError:
        return False


def run_event(url: str, config: dict, event: str) -> dict:
    """Trigger the page's `event` ("load", "tick") as the browser does: join Gradio's queue with
    the components' initial values (a State's value lives on the server), read the event stream
    until the result arrives; returns it."""
    dependency = next(d for d in config["dependencies"] if any(t[1] == event for t in d["targets"]))
    components = {c["id"]: c for c in config["components"]}
    data = [None if components[i].get("type") == "state" else components[i].get("props", {}).get("value")
            for i in dependency["inputs"]]  # fmt: skip
    session = secrets.token_hex(8)
    body = {"data": data, "fn_index": dependency["id"], "trigger_id": dependency["targets"][0][0],
            "session_hash": session, "event_data": None}  # fmt: skip
    api = url + config.get("api_prefix", "/gradio_api").strip("/")
    join = urllib.request.Request(f"{api}/queue/join", json.dumps(body).encode(),
                                  {"Content-Type": "application/json"})
    _get(join)
    with urllib.request.urlopen(f"{api}/queue/data?session_hash={session}", timeout=60) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            message = json.loads(line.removeprefix("data:"))
            if message.get("msg") == "process_completed":
                if not message.get("success", False):
                    raise RuntimeError(f"the page's {event} event failed: {str(message)[:300]}")
                return message.get("output", {})
    raise RuntimeError(f"the page's {event} event never completed")


def _status_kib(pid: int, key: str) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(f"{key}:"))
    return int(line.split()[1])


def dashboard_memory(workspace: Workspace, expect_runs: bool) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB of `python launch.py` once the page was loaded and ticked once."""
    port = free_port()
    env = child_env(GRADIO_TEMP_DIR=str(workspace.root / "gradio-tmp"))
    with open(workspace.root / "dashboard.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "launch.py"), "--config", str(workspace.config), "--port", str(port)],
            cwd=workspace.root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: process.poll() is not None or _serves(url), 120, "the dashboard to listen", 0.2)
        if process.poll() is not None:
            raise RuntimeError(f"launch.py exited: {(workspace.root / 'dashboard.log').read_text()[-500:]}")
        _get(url)
        config = json.loads(_get(url + "config"))
        run_event(url, config, "load")  # the page's load: the sweep filter's choices (the table renders after it)
        shown = run_event(url, config, "tick")
        if expect_runs and "rs_bench" not in json.dumps(shown):
            raise RuntimeError(f"the loaded page shows no stored run: {json.dumps(shown)[:300]}")
        time.sleep(0.5)
        return _status_kib(process.pid, "VmRSS") * 1024 / 1e6, _status_kib(process.pid, "VmHWM") * 1024 / 1e6
    finally:
        stop_process(process)


def bench_rss(bench: Bench) -> None:
    rss: dict[int, float] = {}
    for count in RSS_SIZES:
        workspace = bench.filled(count) if count else bench.workspace("rss_empty")
        rss[count], peak = dashboard_memory(workspace, expect_runs=count > 0)
        label = f"{count}_runs" if count else "empty"
        bench.emit(f"dashboard_rss_{label}_mb", rss[count])
        bench.emit(f"dashboard_peak_rss_{label}_mb", peak)
    for count in RSS_SIZES[1:]:
        bench.ratio(f"dashboard_rss_{count}_runs_vs_empty", rss[count] / rss[0])
