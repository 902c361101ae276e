"""The Dockerfile, checked by parsing it (no base image can be pulled here): python:3.11-slim, the pinned
requirements, a non-root USER before CMD, config and data volumes, a healthcheck without curl, the
dashboard bound for the container network; .dockerignore keeps outputs, configs and keys out."""

from __future__ import annotations

import fnmatch
import json

import pytest

from tests.dockerfile import healthcheck, instructions, named
from tests.workspace import REPO


def test_based_on_python_311_slim_and_installs_the_pinned_requirements():
    assert instructions()[0] == ("FROM", "python:3.11-slim")
    assert any(run.split() == ["pip", "install", "-r", "requirements.txt"] for run in named("RUN"))
    assert all("==" in line or line.startswith(("#", "-e")) or not line.strip()
               for line in (REPO / "requirements.txt").read_text().splitlines())


def test_runs_the_dashboard_as_a_non_root_user_bound_for_the_container_network():
    order = [instruction for instruction, _ in instructions()]
    users = named("USER")
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith(("root:", "0:"))
    assert order.index("USER") < order.index("CMD") and order.count("CMD") == 1
    port = ["--port", "7860"]  # as EXPOSE and HEALTHCHECK say, whatever ui.port is
    assert json.loads(named("CMD")[0]) == ["cosmos", "dashboard", "--host", "0.0.0.0", *port]
    assert any(f"useradd --create-home --uid 1000 {users[-1]}" in run for run in named("RUN"))


def test_config_and_outputs_are_volumes_and_the_config_is_found_there():
    assert set(json.loads(named("VOLUME")[0])) == {"/config", "/data"}
    env = " ".join(named("ENV")).split()
    assert "COSMOS_CONFIG=/config/cosmos.toml" in env
    assert "XDG_STATE_HOME=/data/state" in env  # the installation id outlives the container
    assert named("WORKDIR")[-1] == "/data"  # default outputs/ and the SQLite db land in the volume
    assert named("EXPOSE") == ["7860"]


def test_the_healthcheck_asks_the_page_with_python_only():
    options, argv = healthcheck()
    assert "--interval=" in options and "--timeout=" in options
    assert argv[:2] == ["python", "-c"] and "urlopen('http://127.0.0.1:7860/'" in argv[2]
    assert not any("curl" in args or "wget" in args for _, args in instructions())


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (or a directory above it) out of the build context."""
    patterns = [line.strip().rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatchcase(prefix, pattern) or fnmatch.fnmatchcase(prefix, pattern.removeprefix("**/"))
               for pattern in patterns for prefix in prefixes)


@pytest.mark.parametrize("path", ["outputs/cosmos.db", "outputs/run_rs_1/outputs/output.mp4", "cosmos.toml",
                                  "keys/id_ed25519", "id_ed25519.pub", ".ssh/config", "deploy/known_hosts",
                                  "team.pem", "old.db", ".git/config", "big.mp4.part"])
def test_dockerignore_keeps_outputs_configs_and_keys_out(path):
    assert ignored(path)


@pytest.mark.parametrize("path", ["requirements.txt", "pyproject.toml", "README.md", "launch.py",
                                  "cosmos_core/cli/__init__.py", "app/serving.py", "scripts/inference.sh"])
def test_dockerignore_keeps_what_the_image_needs(path):
    assert not ignored(path)
