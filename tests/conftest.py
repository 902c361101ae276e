"""Shared fixtures: a real stand-in GPU host (sshd + podman), test videos, and one private Slurm
cluster and one PostgreSQL server for the whole session; and the marks that make the test tiers.

Every test that needs more than this machine and the stand-in host is marked by what it needs:
`browser` (tests/e2e, Chromium), `slurm` (the private cluster), `postgres` (the private server),
`install` (a fresh venv and pip). The quick tier (`bash tests/ci.sh --quick`) deselects them all.
Subfolders add their own fixtures in their own conftest.py files.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Plain `pytest` (unlike `python -m pytest`) does not put the repo root on
# sys.path; tests import `tests.hostkit` and the product packages from it.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from cosmos_core.api import CosmosAPI  # noqa: E402
from tests.hostkit import TestHost, make_video, processes_mentioning  # noqa: E402
from tests.pgkit import database_url, postgres_server  # noqa: E402, F401  (offered to every test)
from tests.slurmkit import SlurmCluster, SlurmLoginHost, processes_using  # noqa: E402
from tests.workspace import Workspace, write_config  # noqa: E402

# The property tests (hypothesis) check what the product does, not how fast: no per-example deadline (its
# default, 200 ms, fails an example that a loaded machine merely slows), and the same examples on every run,
# so that the suite's outcome does not depend on the run (a new finding is made on purpose, not by CI).
settings.register_profile("suite", deadline=None, derandomize=True)
settings.load_profile("suite")

# A test needing one of these fixtures (itself or through another) gets the mark beside it.
MARK_BY_FIXTURE = {"slurm_cluster": "slurm", "postgres_server": "postgres"}

# /tmp/gradio is shared between everything on the machine.
if "GRADIO_TEMP_DIR" not in os.environ:
    _gradio_tmp = tempfile.mkdtemp(prefix="gradio-")
    os.environ["GRADIO_TEMP_DIR"] = _gradio_tmp
    atexit.register(shutil.rmtree, _gradio_tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def gpu_host() -> Iterator[TestHost]:
    """A started stand-in GPU host; missing sshd/podman is an error, not a skip."""
    with TestHost() as host:
        yield host


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by what it needs. When the suite runs in parallel (pytest-xdist's loadgroup),
    some tests go to one worker together: all browser tests (one dashboard serves them), all Slurm
    tests (one cluster, whose node is this machine), and a module's tests that share a module
    fixture (made once, then); any other test goes to whichever worker is free."""
    for item in items:
        marks = {"browser"} if "e2e" in item.path.parts else set()
        marks |= {mark for fixture, mark in MARK_BY_FIXTURE.items() if fixture in getattr(item, "fixturenames", ())}
        for mark in marks:
            item.add_marker(getattr(pytest.mark, mark))
        group: str | None = next((mark for mark in ("browser", "slurm") if mark in marks), None)
        if group is None and _uses_module_fixtures(item):
            group = item.nodeid.split("::")[0]
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _uses_module_fixtures(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)  # pytest's record of the fixtures a test function uses
    return info is not None and any(d.scope == "module" for defs in info.name2fixturedefs.values() for d in defs)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """The session's private Slurm cluster; once stopped, by PID, nothing had to be killed and
    nothing of it is left running. Its users cancel their jobs when they are done (cancel_jobs)."""
    with SlurmCluster() as cluster:
        root = str(cluster.root)
        yield cluster
    assert cluster.killed == []
    assert not processes_mentioning(root) and not processes_using(root)


@pytest.fixture(scope="session")
def slurm_login(gpu_host: TestHost, slurm_cluster: SlurmCluster) -> Iterator[SlurmLoginHost]:
    """The cluster's login node over SSH: the stand-in host's keys and image, Slurm's clients."""
    with SlurmLoginHost(gpu_host, slurm_cluster) as login:
        yield login


@pytest.fixture(autouse=True)
def no_run_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the stand-in host, none of its runs' containers is left on it. Not in
    tests/e2e: there one dashboard and database serve every test, and a run whose container went
    away would be failed later, under another test's eyes."""
    yield
    if "gpu_host" in request.fixturenames and request.path.parent.name != "e2e":
        request.getfixturevalue("gpu_host").remove_run_containers()


@pytest.fixture(scope="session")
def sample_video_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one encoded 2 s H.264 mp4 that every sample_video copies (encoding each costs 0.16 s of CPU)."""
    return make_video(tmp_path_factory.mktemp("video") / "sample.mp4", seconds=2)


@pytest.fixture
def sample_video(tmp_path: Path, sample_video_master: Path) -> Path:
    """A fresh 2 s H.264 mp4 of the test's own."""
    return Path(shutil.copy(sample_video_master, tmp_path / "sample.mp4"))


@pytest.fixture
def workspace(tmp_path: Path, gpu_host: TestHost) -> Workspace:
    """A cosmos.toml, SQLite database and outputs dir in tmp_path, with the stand-in host as gpu1."""
    return Workspace(tmp_path, write_config(tmp_path, gpu_host), gpu_host)


@pytest.fixture
def api(workspace: Workspace) -> Iterator[CosmosAPI]:
    api = workspace.api()
    yield api
    api.close()
