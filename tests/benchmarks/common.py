"""What every benchmark shares: the Bench context (the stand-in host, workspaces, printing figures),
measuring a child process (wall time and its own peak RSS), percentiles, big log files, filling a
database with finished runs fast, and the machine's description.

Plain Python, no pytest: `python -m tests.benchmarks` and the pytest benchmarks both use it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, Unpack

from cosmos_core.executors import docker_cli as docker
from cosmos_core.store import tables
from cosmos_core.store.tables import Prompt, Run
from cosmos_core.upstream.models import DEFAULT_MODEL, model
from tests.hostkit import CuttableLink, TestHost, make_video, wait_until
from tests.workspace import REPO, Sync, Workspace, write_config

MIB = 1024 * 1024
GIB = 1024 * MIB
# The product's own sync defaults (README, Configuration): benchmarks measure what users get.
PRODUCT_SYNC: Sync = {"min_interval_seconds": 2.0, "lost_after_seconds": 120, "download_budget_seconds": 3}


def child_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell would give `python -m cosmos_core` / `python launch.py` here."""
    env = {k: v for k, v in os.environ.items() if k != "COSMOS_CONFIG"}
    env.update(PYTHONPATH=str(REPO), GRADIO_ANALYTICS_ENABLED="False", **extra)
    return env


def cli_argv(workspace: Workspace | None, *args: str) -> list[str]:
    config = ["--config", str(workspace.config)] if workspace else []
    return [sys.executable, "-m", "cosmos_core", *config, *args]


@dataclass
class Measured:
    seconds: float
    max_rss_kib: int  # the child's own peak resident set (getrusage of that one child, via wait4)
    returncode: int
    stdout: str
    stderr: str

    @property
    def max_rss_mb(self) -> float:
        return self.max_rss_kib * 1024 / 1e6

    def check(self, what: str) -> Measured:
        if self.returncode != 0:
            raise RuntimeError(f"{what} exited {self.returncode}: {self.stderr.strip()[-500:]}")
        return self


# Runs argv[2:] as its child and writes "seconds max_rss_kib wait_status" to argv[1]. A fresh,
# small process in between matters: a child's ru_maxrss starts from the RSS of the process it was
# spawned from (Linux carries the old memory's high-water mark across exec, and Python spawns with
# vfork), so measured straight from this process every child would "peak" at this process's size.
_MEASURER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as result:
    result.write(f"{time.perf_counter() - started} {usage.ru_maxrss} {status}")
"""


def measure(argv: Sequence[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None) -> Measured:
    """Run a child to its end: its wall time and its own peak RSS (os.wait4 gives the rusage of
    one child; RUSAGE_CHILDREN is a maximum over every child ever waited for, so deltas of it
    cannot isolate one run)."""
    out_path, err_path, result_path = (cwd / f".bench-{name}" for name in ("stdout", "stderr", "result"))
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        helper = subprocess.Popen([sys.executable, "-I", "-S", "-c", _MEASURER, str(result_path), *argv], cwd=cwd,
                                  env=env or child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                  start_new_session=True)  # fmt: skip
        try:
            helper.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(helper.pid, signal.SIGKILL)
            helper.wait()
            raise
    seconds, max_rss_kib, status = result_path.read_text().split()
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    for path in (out_path, err_path, result_path):
        path.unlink()
    return Measured(float(seconds), int(max_rss_kib), os.waitstatus_to_exitcode(int(status)), stdout, stderr)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]


def machine() -> dict[str, str]:
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor() or "unknown")
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    return {
        "machine_cpus": str(os.cpu_count()), "machine_cpu_model": cpu_model,
        "machine_ram_gib": f"{mem_kib / 1024 / 1024:.1f}", "machine_kernel": platform.release(),
        "machine_python": platform.python_version(),
    }  # fmt: skip


def code_version() -> dict[str, str]:
    """The commit measured, and the product files that differ from it (figures describe those)."""

    def git(*args: str) -> str | None:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
        return result.stdout if result.returncode == 0 else None

    changed = git("status", "--porcelain", "--", "cosmos_core", "app", "launch.py", "scripts")
    files = "unknown" if changed is None else ",".join(line[3:] for line in changed.splitlines()) or "none"
    return {"code_commit": (git("rev-parse", "--short", "HEAD") or "unknown").strip(), "code_uncommitted": files}


def process_seconds() -> float:
    """Seconds since this process started (its imports included)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, in clock ticks


# -- big logs ----------------------------------------------------------------

_LOG_LINES = [
    "[05-01 12:00:{s:02d}|INFO|cosmos_transfer1/diffusion/inference/transfer.py:312:demo] "
    "Generating clip {c}/24, denoising step {k}/35 (sigma 70.0 -> 0.002, guidance 5.0, seed 1)",
    "[05-01 12:00:{s:02d}|DEBUG|cosmos_transfer1/diffusion/model/model_ctrl.py:704:generate_samples] "
    "controlnet vis weight 0.25 edge 0.25 depth 0.25 seg 0.25, latent shape [1, 16, 16, 88, 160]",
    " {k:3d}%|##########          | {k}/35 [00:{s:02d}<00:40,  1.13s/it]",
]


def log_block(size: int = MIB) -> bytes:
    """`size` bytes of whole, model-like log lines (ends with a newline)."""
    lines, total, i = [], 0, 0
    while total < size:
        line = (_LOG_LINES[i % 3].format(s=i % 60, c=i % 24 + 1, k=i % 35 + 1) + "\n").encode()
        lines.append(line)
        total += len(line)
        i += 1
    data = b"".join(lines)
    return data[:data.rfind(b"\n", 0, size) + 1]


def write_log(path: Path, size: int, *, append: bool = False, marker: str | None = None) -> int:
    """Write (or append) about `size` bytes of log lines, in 1 MiB writes (each one O_APPEND write,
    so lines a running container appends meanwhile stay whole); then `marker` as the last line;
    then flush it to the disk. Returns the bytes written."""
    block = log_block()
    written = 0
    with open(path, "ab" if append else "wb") as f:
        while written < size:
            part = block if size - written >= len(block) else log_block(size - written)
            if not part:
                break
            f.write(part)
            written += len(part)
        if marker:
            written += f.write(f"{marker}\n".encode())
        f.flush()
        os.fsync(f.fileno())  # a real log is written over hours: none of it is still waiting for the disk
    return written


# -- filled databases ----------------------------------------------------------

RUN_FIELDS = [Run.id, Run.prompt, Run.kind, Run.host, Run.params, Run.status, Run.exit_code, Run.error,
              Run.container_id, Run.remote_run_dir, Run.container_removed, Run.download_status, Run.remote_files,
              Run.bytes_done, Run.bytes_total, Run.files, Run.output_path, Run.created_at, Run.started_at,
              Run.completed_at, Run.launched_on, Run.model]


def fill_runs(count: int, host: str, outputs_dir: Path, remote_dir: str, video: Path) -> None:
    """Store `count` finished, downloaded runs (and a prompt for every 4), with bulk inserts through
    cosmos_core.store.tables on the database it is bound to: 85% completed, 12% failed, 3% cancelled;
    containers removed, nothing active. Fast: 100,000 runs take a few seconds."""
    params = json.dumps(model(DEFAULT_MODEL).defaults.to_dict())
    start = time.time() - 365 * 86400
    step = 365 * 86400 / max(count, 1)
    prompt_rows = [(f"ps_bench{p:08d}", f"street scene {p} at dusk",
                    f"A red robot walks through a rainy street {p}, neon signs reflecting in puddles, "
                    "the camera tracking slowly at eye level, cinematic lighting.", str(video), start + p * step * 4)
                   for p in range((count + 3) // 4)]  # fmt: skip
    run_rows = []
    for i in range(count):
        run_id = f"rs_bench{i:08d}"
        local = outputs_dir / f"run_{run_id}"
        created = start + i * step
        bucket = i % 100
        if bucket < 85:
            status, code, error, download = "completed", 0, None, "done"
            files = [str(local / "outputs" / "output.mp4"), str(local / "run.log")]
        elif bucket < 97:
            status, code, error, download = "failed", 1, "Container exited with code 1: CUDA out of memory", "done"
            files = [str(local / "run.log")]
        else:
            status, code, error, download = "cancelled", None, "Cancelled by the user", "none"
            files = []
        facts = {Path(f).relative_to(local).as_posix(): [1_500_000, "0" * 64] for f in files}
        size = 1_500_000 * len(files)
        run_rows.append((
            run_id, f"ps_bench{i // 4:08d}", "inference", host, params, status, code, error,
            f"cosmos-{run_id}", f"{remote_dir}/cosmos_runs/{run_id}", True, download, json.dumps(facts),
            size, size, json.dumps(files), files[0] if status == "completed" else None,
            created, created + 5, created + 600, "bench", DEFAULT_MODEL,
        ))  # fmt: skip
    with tables.database.atomic():
        _insert_many(Prompt, [Prompt.id, Prompt.name, Prompt.text, Prompt.video_path, Prompt.created_at],
                     prompt_rows)
        _insert_many(Run, RUN_FIELDS, run_rows)


def _insert_many(table: type[tables.BaseModel], fields: Sequence[Any], rows: Sequence[tuple]) -> None:
    """One prepared INSERT for all rows, with the model's table, column names and defaults for the
    columns not given: much faster than peewee's insert_many, which renders every row as SQL text."""
    given = {f.name for f in fields}
    defaults = {f: f.default for f in table._meta.sorted_fields if f.name not in given and f.default is not None}
    columns = ", ".join(f'"{f.column_name}"' for f in [*fields, *defaults])
    marks = ", ".join("?" for _ in range(len(fields) + len(defaults)))
    extra = tuple(defaults.values())
    sql = f'INSERT INTO "{table._meta.table_name}" ({columns}) VALUES ({marks})'
    tables.database.cursor().executemany(sql, [row + extra for row in rows])


# -- the context every benchmark gets ---------------------------------------------


@dataclass
class Bench:
    """One stand-in host, a scratch directory for workspaces, and where figures go."""

    host: TestHost
    root: Path
    out: TextIO = sys.stdout
    figures: dict[str, str] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)  # shared set-ups: filled databases, active runs
    cleanups: dict[str, Callable[[Any], None]] = field(default_factory=dict)

    def emit(self, name: str, value: float | int | str, unit: str = "") -> None:
        """Print one figure as `name=value` (right away, so a long run shows its progress)."""
        if isinstance(value, float):
            text = f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        else:
            text = str(value)
        self.figures[name] = text + unit
        print(f"{name}={text}{unit}", file=self.out, flush=True)

    def ratio(self, name: str, value: float) -> None:
        self.emit(name, f"{value:.2f}", "x")

    def note(self, text: str) -> None:
        print(f"# {text}", file=sys.stderr, flush=True)

    def workspace(self, name: str, link: CuttableLink | None = None, **sync: Unpack[Sync]) -> Workspace:
        """A workspace of its own whose gpu1 is the stand-in host (through `link` if given)."""
        root = self.root / name
        root.mkdir(parents=True)
        return Workspace(root, write_config(root, self.host, link=link, **(PRODUCT_SYNC | sync)), self.host)

    @property
    def video(self) -> Path:
        if "video" not in self.cache:
            self.cache["video"] = make_video(self.root / "sample.mp4", seconds=2)
        return self.cache["video"]

    def shared(self, key: str, build: Callable[[], Any], cleanup: Callable[[Any], None] | None = None) -> Any:
        """A set-up built once and kept for the benchmarks that follow; `release` hands it to `cleanup`."""
        if key not in self.cache:
            self.cache[key] = build()
            if cleanup is not None:
                self.cleanups[key] = cleanup
        return self.cache[key]

    def release(self, key: str) -> None:
        value = self.cache.pop(key, None)
        cleanup = self.cleanups.pop(key, None)
        if cleanup is not None:
            cleanup(value)

    def release_all(self) -> None:
        for key in list(self.cleanups):
            self.release(key)

    def filled(self, count: int) -> Workspace:
        """A workspace whose database holds `count` finished runs (built once, shared)."""

        def build() -> Workspace:
            workspace = self.workspace(f"runs_{count}")
            api = workspace.api()  # creates the schema and binds cosmos_core.store.tables to the file
            try:
                began = time.perf_counter()
                fill_runs(count, "gpu1", api.config.storage.outputs_dir, self.host.remote_dir, self.video)
                api.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # as a database grown over months
                self.note(f"stored {count} runs in {time.perf_counter() - began:.1f} s")
            finally:
                api.close()
            return workspace

        return self.shared(f"filled_{count}", build, lambda workspace: shutil.rmtree(workspace.root, True))

    # -- the stand-in host ------------------------------------------------------------

    def container_status(self, run_id: str) -> str:
        result = self.host.docker("inspect", "--format", "{{.State.Status}}", docker.container_name(run_id),
                                  check=False)
        return result.stdout.strip() if result.returncode == 0 else "gone"

    def wait_exited(self, run_id: str, timeout: float = 120) -> None:
        wait_until(lambda: self.container_status(run_id) in ("exited", "stopped", "gone"), timeout,
                   f"the container of {run_id} to exit", interval=0.05)

    def wait_running(self, run_ids: Sequence[str], timeout: float = 120) -> None:
        wait_until(lambda: all(self.container_status(r) == "running" for r in run_ids), timeout,
                   "containers to run", interval=0.2)

    def discard_runs(self, run_ids: Sequence[str]) -> None:
        """Remove the runs' containers and their directories on the host."""
        if run_ids:
            self.host.docker("rm", "-f", "-t", "0", *[docker.container_name(r) for r in run_ids], check=False)
        for run_id in run_ids:
            shutil.rmtree(Path(self.host.remote_dir) / "cosmos_runs" / run_id, ignore_errors=True)
