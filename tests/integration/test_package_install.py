"""The README's first command on a fresh copy in a fresh venv (plain, without the system's packages):
`pip install -r requirements.txt` gives a working `cosmos` command and page, and installs no test tool.
About 35 s here with pip's cache warm (which `bash tests/ci.sh` leaves it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostkit import free_port
from tests.served import clean_env, serving, status
from tests.unit.test_packaging import TEST_TOOLS
from tests.workspace import REPO

pytestmark = [pytest.mark.slow, pytest.mark.install]


def _checkout_copy(target: Path) -> Path:
    """The files a clone would have (tracked, plus new files not ignored), copied to `target`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True, timeout=60).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the copy, the venv's bin) after the README's install command ran in the copy."""
    root = tmp_path_factory.mktemp("fresh")
    checkout = _checkout_copy(root / "checkout")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", "requirements.txt"], cwd=checkout,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return checkout, venv / "bin"


def _venv_env(bin_dir: Path) -> dict[str, str]:
    env = clean_env(PATH=f"{bin_dir}:/usr/bin:/bin")
    env.pop("PYTHONPATH", None)
    return env


def test_the_install_gives_the_cosmos_command_and_no_test_tool(installed, tmp_path):
    checkout, bin_dir = installed
    env = _venv_env(bin_dir)
    usage = subprocess.run(["cosmos", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: cosmos"), usage.stderr
    assert "dashboard" in usage.stdout and "completion" in usage.stdout
    listed = subprocess.run([str(bin_dir / "pip"), "list", "--format", "json"], env=env, capture_output=True,
                            text=True, timeout=60, check=True).stdout
    names = {package["name"].lower() for package in json.loads(listed)}
    assert {"gradio", "paramiko", "peewee", "pandas", "psycopg2-binary", "cosmos-run-dashboard"} <= names
    assert not names & TEST_TOOLS
    scripts = subprocess.run([str(bin_dir / "python"), "-c", "from cosmos_core.launcher import SCRIPTS_DIR as d; "
                              "print(d, (d / 'common.sh').is_file())"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert scripts == [str(checkout / "scripts"), "True"]  # the launcher still uploads the checkout's scripts


def test_cosmos_dashboard_from_the_venv_serves_the_page(installed, tmp_path):
    _, bin_dir = installed
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with serving([str(bin_dir / "cosmos"), "dashboard", "--port", str(port)], tmp_path, url, _venv_env(bin_dir)):
        assert status(url) == 200
    assert (tmp_path / "outputs" / "cosmos.db").is_file()  # the defaults, relative to where it started


def test_the_completion_script_comes_from_the_installed_command(installed, tmp_path):
    _, bin_dir = installed
    script = subprocess.run(["cosmos", "completion", "bash"], env=_venv_env(bin_dir), capture_output=True,
                            text=True, timeout=60, check=True).stdout
    assert "complete -F _cosmos cosmos" in script
