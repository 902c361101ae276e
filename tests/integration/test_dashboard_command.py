"""`cosmos dashboard` and `python launch.py`, one launch path, run as processes: the page answers (and the
Dockerfile's HEALTHCHECK says healthy), and an unsafe exposure is refused before anything listens:
exit 1, one line naming what is wrong."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.dockerfile import healthcheck
from tests.hostkit import free_port, wait_until
from tests.served import clean_env, serving, status
from tests.workspace import REPO

ENV = clean_env(PYTHONPATH=str(REPO))
COMMANDS = ("cosmos dashboard", "launch.py")


def _config(root: Path, outputs: Path, *, auth: str = "", host_files: Path | None = None) -> Path:
    """cosmos.toml in `root` (SQLite under `root/db`); with `host_files`, a host whose key_file and
    known_hosts sit there."""
    config = root / "cosmos.toml"
    text = (f"[storage]\ndatabase = {json.dumps(f'sqlite:///{root}/db/cosmos.db')}\n"
            f"outputs_dir = {json.dumps(str(outputs))}\n[ui]\nauth = {json.dumps(auth)}\n")
    if host_files is not None:
        text += (f'[[hosts]]\nname = "gpu1"\nhostname = "203.0.113.7"\nuser = "u"\n'
                 f'key_file = "{host_files}/id_ed25519"\nknown_hosts = "{host_files}/known_hosts"\n')
    config.write_text(text)
    (root / "db").mkdir(exist_ok=True)
    return config


def _argv(command: str, config: Path, *args: str) -> list[str]:
    if command == "launch.py":
        return [sys.executable, str(REPO / "launch.py"), "--config", str(config), *args]
    return [sys.executable, "-m", "cosmos_core", "--config", str(config), "dashboard", *args]


@pytest.mark.parametrize("command", COMMANDS)
def test_the_command_serves_the_page_on_loopback(tmp_path, command):
    config = _config(tmp_path, tmp_path / "outputs")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with serving(_argv(command, config, "--port", str(port)), tmp_path, url, ENV):
        assert status(url) == 200
        with urllib.request.urlopen(f"{url}config", timeout=10) as response:  # the page Gradio built
            assert json.load(response)["title"] == "Cosmos Run Dashboard"
        said = wait_until(lambda: (tmp_path / "served.log").read_text(), 10, "the command to say where the page is")
    assert f"Cosmos Run Dashboard on {url} (Ctrl+C stops it)" in said.splitlines()
    assert "share=True" not in said and "Running on local URL" not in said


def test_with_auth_it_serves_all_addresses_and_the_dockerfile_healthcheck_passes(tmp_path):
    config = _config(tmp_path, tmp_path / "outputs", auth="team:s3cret")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with serving(_argv("cosmos dashboard", config, "--host", "0.0.0.0", "--port", str(port)), tmp_path, url, ENV):
        assert status(url) == 200  # the login page
        _, argv = healthcheck()
        probe = [sys.executable, *argv[1:-1], argv[-1].replace(":7860/", f":{port}/")]
        assert subprocess.run(probe, timeout=30).returncode == 0
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0  # nothing answers: unhealthy


def _refused(command: str, config: Path, *args: str) -> str:
    """Run the command, which must refuse at once: exit 1, one line on stderr (returned), nothing on stdout."""
    result = subprocess.run(_argv(command, config, *args), cwd=config.parent, env=ENV, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_a_reachable_address_without_auth_is_refused(tmp_path, command, host):
    port = free_port()
    message = _refused(command, _config(tmp_path, tmp_path / "outputs"), "--host", host, "--port", str(port))
    assert f"refusing to serve on {host!r} without a login" in message and "--insecure" in message
    assert status(f"http://127.0.0.1:{port}/") is None


def test_ui_host_from_the_config_is_refused_the_same(tmp_path):
    config = _config(tmp_path, tmp_path / "outputs")
    config.write_text(config.read_text() + 'host = "0.0.0.0"\n')  # still inside [ui]
    assert "refusing to serve on '0.0.0.0'" in _refused("cosmos dashboard", config)


@pytest.mark.parametrize("command", COMMANDS)
def test_an_outputs_dir_holding_the_config_is_refused(tmp_path, command):
    """outputs_dir = "~" with the config in ~, in small: the directory the config sits in."""
    config = _config(tmp_path, tmp_path)
    assert f"contains the config file {config}" in _refused(command, config)


def test_an_outputs_dir_reaching_a_hosts_key_through_a_symlink_is_refused(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (tmp_path / "shared").symlink_to(keys)
    config = _config(tmp_path, tmp_path / "shared", host_files=keys)
    assert f"contains the key_file of host 'gpu1' {keys}/id_ed25519" in _refused("cosmos dashboard", config)
    config = _config(tmp_path, keys / "known_hosts", host_files=keys)
    assert "contains the known_hosts of host 'gpu1'" in _refused("launch.py", config)


def test_a_bad_config_is_one_line_too(tmp_path):
    config = tmp_path / "cosmos.toml"
    config.write_text("[ui]\nport = 'x'\n")
    assert "port" in _refused("cosmos dashboard", config)
