"""`cosmos config show|check`: exit codes, stdout, stderr, and nothing touched: no database or outputs
dir created, no connection to a host. Run in the test process (tests/inprocess.py), but for the exit
codes 0, 1 and 2, which real `python -m cosmos_core` processes give."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inprocess import run_cli_in_process

REPO = Path(__file__).resolve().parents[2]


def cosmos(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in the test process, without $COSMOS_CONFIG unless `env` sets it."""
    return run_cli_in_process(args, cwd, {"COSMOS_CONFIG": None, **(env or {})})


def cosmos_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The same as a real `python -m cosmos_core` process."""
    environ = {k: v for k, v in os.environ.items() if k != "COSMOS_CONFIG"} | {"PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cosmos_core", *args], cwd=cwd, env=environ,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port on loopback that would see any connection made to the configured host."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        yield server
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected


def config_text(root: Path, port: int) -> str:
    return f"""
[storage]
database = "sqlite:///{root}/db/cosmos.db"
outputs_dir = "{root}/outputs"

[ui]
auth = "admin:hunter2"

[notify]
url = "https://hooks.slack.com/services/T1/B2/SECRETPART"

[[hosts]]
name = "gpu1"
hostname = "127.0.0.1"
port = {port}
user = "ubuntu"

[[hosts]]
name = "gpu2"
hostname = "127.0.0.1"
port = {port}
user = "root"
gpus = 2
"""


@pytest.fixture
def config(tmp_path: Path, listener: socket.socket) -> Path:
    file = tmp_path / "cosmos.toml"
    file.write_text(config_text(tmp_path, listener.getsockname()[1]), encoding="utf-8")
    return file


def nothing_created(root: Path) -> None:
    assert not (root / "db").exists() and not (root / "outputs").exists()


def test_check_says_ok_with_the_host_count(tmp_path: Path, config: Path) -> None:
    result = cosmos_process(tmp_path, "config", "check", "cosmos.toml")
    assert (result.returncode, result.stdout, result.stderr) == (0, "cosmos.toml: ok (2 hosts)\n", "")
    nothing_created(tmp_path)


def test_check_without_a_file_checks_the_one_in_use(tmp_path: Path, config: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cosmos(elsewhere, "config", "check", env={"COSMOS_CONFIG": str(config)})
    assert (result.returncode, result.stdout) == (0, f"{config}: ok (2 hosts)\n")
    assert cosmos(elsewhere, "--config", str(config), "config", "check").stdout == f"{config}: ok (2 hosts)\n"
    assert cosmos(elsewhere, "config", "check").stdout == "defaults (no config file): ok (0 hosts)\n"
    nothing_created(tmp_path)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(("append", "message"), [
    ("num_gpus = 0\n", "error: cosmos.toml: 'hosts[1].num_gpus' must be at least 1"),
    ('num_gpus = "2"\n', "error: cosmos.toml: 'hosts[1].num_gpus' must be an integer, got string"),
    ("[sync]\nmin_intervall = 1\n", "error: cosmos.toml: unknown key 'sync.min_intervall'"),
    ('[[hosts]]\nname = "gpu1"\nhostname = "h"\nuser = "u"\n',
     "error: cosmos.toml: duplicate host name 'gpu1': hosts[0], hosts[2]"),
    ("[ui\n", "error: cosmos.toml: invalid TOML: "),
])
def test_check_refuses_a_bad_file_with_one_line(tmp_path: Path, config: Path, append: str, message: str) -> None:
    config.write_text(config.read_text() + append, encoding="utf-8")
    result = cosmos(tmp_path, "config", "check", "cosmos.toml")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
    nothing_created(tmp_path)


def test_check_a_file_that_is_not_there_or_not_text(tmp_path: Path) -> None:
    result = cosmos(tmp_path, "config", "check", "nope.toml")
    assert (result.returncode, result.stderr) == (1, "error: nope.toml: config file not found\n")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    result = cosmos(tmp_path, "config", "check", "bin.toml")
    assert (result.returncode, result.stderr) == (1, "error: bin.toml: not valid UTF-8 text\n")


def test_show_prints_the_effective_config_as_toml_with_secrets_masked(tmp_path: Path, config: Path) -> None:
    result = cosmos(tmp_path, "config", "show")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"# effective config of {config}: defaults filled in, secrets masked\n")
    for secret in ("hunter2", "SECRETPART", "T1/B2"):
        assert secret not in result.stdout
    shown = tomllib.loads(result.stdout)
    assert shown["ui"] == {"host": "127.0.0.1", "port": 7860, "refresh_seconds": 5.0, "auth": "admin:****"}
    assert shown["notify"]["url"] == "https://hooks.slack.com/****"
    assert shown["storage"]["outputs_dir"] == str(tmp_path / "outputs")
    gpu1, gpu2 = shown["hosts"]
    assert (gpu1["remote_dir"], gpu1["docker"], "gpus" in gpu1) == ("/home/ubuntu/cosmos-transfer1", "docker", False)
    assert (gpu2["remote_dir"], gpu2["gpus"]) == ("/root/cosmos-transfer1", 2)
    nothing_created(tmp_path)


def test_show_json_is_the_same_config(tmp_path: Path, config: Path) -> None:
    as_json = cosmos(tmp_path, "config", "show", "--json")
    assert (as_json.returncode, as_json.stderr) == (0, "")
    assert json.loads(as_json.stdout) == tomllib.loads(cosmos(tmp_path, "config", "show").stdout)
    assert "hunter2" not in as_json.stdout
    nothing_created(tmp_path)


def test_show_refuses_a_bad_config_and_the_group_needs_a_subcommand(tmp_path: Path, config: Path) -> None:
    config.write_text(config.read_text() + 'key_file = 1\n', encoding="utf-8")
    result = cosmos_process(tmp_path, "config", "show")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: cosmos.toml: 'hosts[1].key_file' must be a string, got integer\n"
    assert cosmos_process(tmp_path, "config").returncode == 2
    assert cosmos_process(tmp_path, "config", "check", "a.toml", "b.toml").returncode == 2
