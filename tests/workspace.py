"""A product workspace (config, database, outputs) pointed at the real stand-in host.

Plain Python; the fixtures `workspace` and `api` that use it are in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

from cosmos_core.api import CosmosAPI
from cosmos_core.config import load_config
from cosmos_core.executors.docker_cli import container_name
from cosmos_core.store import tables
from tests.hostkit import CuttableLink, TestHost, wait_until
from tests.inprocess import run_cli_in_process

REPO = Path(__file__).resolve().parents[1]


class Sync(TypedDict, total=False):
    """The [sync] settings a test's config may set (SyncFile in cosmos_core/config_schema.py), by name."""

    min_interval_seconds: float
    lost_after_seconds: float
    download_budget_seconds: float
    probe_timeout_seconds: float


@dataclass
class Workspace:
    """One user's setup: a cosmos.toml, its SQLite database and outputs dir, the host."""

    root: Path
    config: Path
    host: TestHost

    def cli(self, *args: str, check: bool | None = None) -> subprocess.CompletedProcess[str]:
        """`cosmos --config ... ARGS` in the workspace, run in this process (tests/inprocess.py)."""
        result = run_cli_in_process(["--config", str(self.config), *args], self.root, self.cli_env())
        if check is True:
            assert result.returncode == 0, result.stderr
        return result

    def cli_env(self) -> Mapping[str, str | None]:
        """What the workspace's CLI calls change of the environment (none here; an Install: its state dir)."""
        return {}

    def start_cli(self, *args: str, output: int = subprocess.PIPE) -> subprocess.Popen[str]:
        """The same command as a real `python -m cosmos_core` process, in the background (to kill it, or run
        several at once); `output` (PIPE or DEVNULL) takes stdout and stderr. Its stdin is /dev/null: no
        terminal to ask on, never waiting on one."""
        return subprocess.Popen(
            [sys.executable, "-m", "cosmos_core", "--config", str(self.config), *args],
            cwd=self.root, stdin=subprocess.DEVNULL, stdout=output, stderr=output, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip

    def cli_json(self, *args: str) -> dict | list:
        return json.loads(self.cli(*args, "--json", check=True).stdout)

    def api(self) -> CosmosAPI:
        return CosmosAPI(load_config(self.config))

    @contextmanager
    def second_api(self) -> Iterator[CosmosAPI]:
        """An API on this workspace while the test process holds another (the browser tests' session-wide
        one): the product binds its tables to the database opened last, so the binding is put back after
        (else the other API would go on reading this workspace's database)."""
        bound = tables.database.obj
        api = self.api()
        try:
            yield api
        finally:
            api.close()
            tables.database.initialize(bound)

    def wait_until_exited(self, run_id: str, timeout: float = 30) -> None:
        """The run's container has stopped on the host, so its outcome can be decided at once (its completion
        marker is written a moment before it exits, and a run is decided only once its container no longer
        runs)."""
        def stopped() -> bool:
            state = self.host.docker("inspect", "--format", "{{.State.Status}}", container_name(run_id), check=False)
            return state.returncode == 0 and state.stdout.strip() in ("exited", "stopped")

        wait_until(stopped, timeout, f"the container of {run_id} to stop", interval=0.05)

    def remote_run_dir(self, run_id: str) -> Path:
        return Path(self.host.remote_dir) / "cosmos_runs" / run_id

    def wait_for_marker(self, run_id: str, timeout: float = 30) -> str:
        log = self.remote_run_dir(run_id) / "run.log"
        return wait_until(lambda: log.is_file() and "[COSMOS_COMPLETE]" in log.read_text() and log.read_text(),
                          timeout, f"the completion marker of {run_id}")


def write_config(root: Path, host: TestHost, models: tuple[str, ...] = ("transfer1",),
                 link: CuttableLink | None = None, *, hosts_toml: str | None = None, database: str | None = None,
                 **sync: Unpack[Sync]) -> Path:
    """cosmos.toml in `root`: the outputs dir `root/outputs`, `database` (any URL the product takes;
    default SQLite in the outputs dir), `hosts_toml` (the [[hosts]] blocks; default the stand-in host
    as gpu1 serving `models`, through `link` if given); `sync` overrides the [sync] settings."""
    settings = {"min_interval_seconds": 0.0, "lost_after_seconds": 3, "download_budget_seconds": 3, **sync}
    config = root / "cosmos.toml"
    config.write_text(
        "[storage]\n"
        f"database = {json.dumps(database or f'sqlite:///{root}/outputs/cosmos.db')}\n"
        f"outputs_dir = {json.dumps(str(root / 'outputs'))}\n"
        "[sync]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
        + (hosts_toml if hosts_toml is not None else host.host_config_toml("gpu1", models=models, link=link))
    )
    return config



def edit_config(config: Path, old: str, new: str) -> None:
    """Replace the first `old` in the config file by `new`, as a user editing it would. The file's
    mtime moves on, so that a process following the file (live_config.py) sees even an edit made
    within the file system's time granularity of the last one."""
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))
    _touch_later(config)


@contextmanager
def config_restored(config: Path) -> Iterator[str]:
    """The config file's text now, put back when the block ends (its mtime moved on, as edit_config's)."""
    original = config.read_text()
    try:
        yield original
    finally:
        config.write_text(original)
        _touch_later(config, 2_000_000)  # later than an edit_config within the same tick


def _touch_later(path: Path, ns: int = 1_000_000) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + ns))
