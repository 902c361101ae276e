"""`runs`, `prompts` and `hosts` through the real CLI on a real SQLite file: the plain table a pipe gets,
the rich one a terminal gets, and `runs`' limit (issue 11, point 4). No host is needed: every run here has
ended and been cleaned up, so listing them reaches no network."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from cosmos_core.config import load_config
from cosmos_core.lifecycle import RunStatus
from cosmos_core.repository import DataRepository
from cosmos_core.store import tables
from tests.hostkit import TestHost
from tests.terminal import run_cli
from tests.workspace import write_config as workspace_config

RUNS = 55
BOX = set("│─┃━┏┓┗┛┡┩╇")


def cli(config: Path, *args: str, tty_stdout: bool = False) -> subprocess.CompletedProcess[str]:
    """The CLI with stdout a pipe or, with `tty_stdout`, a pseudo-terminal."""
    return run_cli(config, *args, terminal="stdout" if tty_stdout else None, timeout=60)


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A config with no host and a database of RUNS cancelled runs (one has failed) of two prompts."""
    config = tmp_path / "cosmos.toml"
    config.write_text(f'[storage]\ndatabase = "sqlite:///{tmp_path}/cosmos.db"\noutputs_dir = "{tmp_path}/out"\n')
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00")
    db = tables.connect(f"sqlite:///{tmp_path}/cosmos.db")
    repo = DataRepository(tmp_path / "out", load_config(config).sync)
    try:
        first = repo.create_prompt("a red [b]car[/b] at dusk", video, name="red car")
        second = repo.create_prompt("a street\nin the rain", video)
        for i in range(RUNS):
            run = repo.create_run(f"rs_{i:04d}", (first if i % 2 else second).id, "inference", "gpu1", {})
            ending = {"status": "failed", "error": "Container exited with code 1: CUDA out of memory"} if i == 7 \
                else {"status": "cancelled"}
            repo.transition(run.id, RunStatus.PENDING, completed_at=1000.0 + i, **ending)
            repo.update_run(run.id, container_removed=True, created_at=1000.0 + i)
    finally:
        db.close()
    return config


def test_runs_shows_the_newest_50_says_how_many_more_and_takes_limit_and_all(history):
    shown = cli(history, "runs")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["ID", "KIND", "MODEL", "HOST", "STATUS", "CREATED", "DETAIL"]
    assert [line.split()[0] for line in lines[1:]] == [f"rs_{i:04d}" for i in range(RUNS - 1, RUNS - 51, -1)]
    assert shown.stderr == f"showing 50 of {RUNS} runs; --all for every run\n"
    failed = next(line for line in lines if line.startswith("rs_0007"))
    assert failed.split(None, 6)[1:] == ["inference", "transfer1", "gpu1", "failed", "1970-01-01T00:16:47.000Z",
                                         "Container exited with code 1: CUDA out of memory"]

    every = cli(history, "runs", "--all")
    assert len(every.stdout.splitlines()) == RUNS + 1 and every.stderr == ""
    few = cli(history, "runs", "--limit", "3", "--json")
    assert [r["id"] for r in json.loads(few.stdout)] == ["rs_0054", "rs_0053", "rs_0052"]
    assert few.stderr == f"showing 3 of {RUNS} runs; --all for every run\n"
    cancelled = cli(history, "runs", "--status", "cancelled", "--limit", "2")
    assert cancelled.stderr == f"showing 2 of {RUNS - 1} cancelled runs; --all for every run\n"
    assert len(cli(history, "runs", "--status", "failed").stdout.splitlines()) == 2
    assert len(json.loads(cli(history, "runs", "--json").stdout)) == 50


def test_a_plain_table_has_no_box_no_colour_and_keeps_every_character(history):
    for listing in (cli(history, "runs", "--all"), cli(history, "prompts")):
        assert listing.returncode == 0, listing.stderr
        assert not BOX & set(listing.stdout) and "\x1b" not in listing.stdout
    prompts = cli(history, "prompts").stdout.splitlines()
    assert len(prompts) == 3 and prompts[0].split() == ["ID", "CREATED", "NAME", "TEXT"]
    cells = [re.split(r"\s{2,}", line)[2:] for line in prompts[1:]]  # name and text, newest first
    assert cells == [["a street in the rain", "a street in the rain"], ["red car", "a red [b]car[/b] at dusk"]]


def test_on_a_terminal_the_tables_are_rich(history):
    runs = cli(history, "runs", "--limit", "3", tty_stdout=True)
    assert runs.returncode == 0, runs.stderr
    assert BOX & set(runs.stdout) and "\x1b[" in runs.stdout  # rules and colour
    assert "rs_0054" in runs.stdout and "rs_0051" not in runs.stdout
    assert runs.stderr == f"showing 3 of {RUNS} runs; --all for every run\n"
    prompts = cli(history, "prompts", tty_stdout=True)
    assert "[b]car[/b]" in prompts.stdout  # a prompt's brackets are text, not rich markup
    assert json.loads(cli(history, "runs", "--limit", "1", "--json", tty_stdout=True).stdout)[0]["id"] == "rs_0054"


def test_empty_lists_say_so_on_stderr_and_print_nothing_on_stdout(tmp_path):
    config = tmp_path / "cosmos.toml"
    config.write_text(f'[storage]\ndatabase = "sqlite:///{tmp_path}/cosmos.db"\noutputs_dir = "{tmp_path}/out"\n')
    for command, message in (("runs", "no runs"), ("prompts", "no prompts yet"), ("hosts", "no hosts configured")):
        listed = cli(config, command)
        assert listed.returncode == 0 and listed.stdout == "" and listed.stderr.startswith(message), listed


def test_hosts_lists_each_host_on_one_line(tmp_path, gpu_host: TestHost):
    config = workspace_config(tmp_path, gpu_host)
    lines = cli(config, "hosts").stdout.splitlines()
    assert lines[0].split() == ["NAME", "EXECUTOR", "ADDRESS", "GPUS/RUN", "GPU", "TIME", "IMAGE", "LAST", "ERROR"]
    name, executor, address, gpus, gpu_time, image, error = lines[1].split()
    assert (name, executor, gpus, gpu_time, error) == ("gpu1", "docker", "1", "0s", "-")
    assert address.startswith(f"{gpu_host.user}@")
    assert image == json.loads(cli(config, "hosts", "--json").stdout)[0]["image"]
