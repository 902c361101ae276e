"""Browser-test fixtures: one real dashboard (launch.py as a process) on a workspace
pointed at the stand-in GPU host, and one headless Debian Chromium, for the whole
e2e session; each test gets a fresh page."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from cosmos_core.api import CosmosAPI
from tests.hostkit import TestHost, free_port, stop_process, wait_until
from tests.workspace import REPO, Workspace, write_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REFRESH_SECONDS = 1
STANDIN_HOST = "gpu1"  # the stand-in GPU host; the in-process api names it (the config has three)
DOWN_HOST = "gpu2"
TRANSFER25_HOST = "gpu25"  # the stand-in again, serving only Cosmos-Transfer2.5
DOWNLOAD_BUDGET = 0.3  # seconds a refresh may download: a big file takes several refreshes
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def e2e_workspace(tmp_path_factory: pytest.TempPathFactory, gpu_host: TestHost) -> Workspace:
    """A workspace whose dashboard refreshes every second, probes a host at most once a second and
    downloads for DOWNLOAD_BUDGET per refresh; besides the stand-in host gpu1 it has gpu2, where
    nothing listens, and gpu25, the stand-in serving Cosmos-Transfer2.5 alone."""
    root = tmp_path_factory.mktemp("e2e")
    config = write_config(root, gpu_host, min_interval_seconds=1.0, download_budget_seconds=DOWNLOAD_BUDGET)
    down = gpu_host.host_config_toml(DOWN_HOST).replace(f"port = {gpu_host.port}\n", f"port = {free_port()}\n")
    transfer25 = gpu_host.host_config_toml(TRANSFER25_HOST, models=("transfer2.5",))
    config.write_text(f"{config.read_text()}\n{down}\n{transfer25}\n[ui]\nrefresh_seconds = {REFRESH_SECONDS}\n")
    return Workspace(root, config, gpu_host)


@contextmanager
def running_dashboard(workspace: Workspace) -> Iterator[str]:
    """`python launch.py` serving the workspace, as a user starts it; yields its URL."""
    with launched(workspace.root, "--config", str(workspace.config)) as url:
        yield url


@contextmanager
def launched(cwd: Path, *args: str) -> Iterator[str]:
    """`python launch.py ARGS --port P` started in `cwd`; yields its URL."""
    port = free_port()
    log_path = cwd / "dashboard.log"
    env = {k: v for k, v in os.environ.items() if k != "COSMOS_CONFIG"}
    env.update(PYTHONPATH=str(REPO), GRADIO_ANALYTICS_ENABLED="False")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "launch.py"), *args, "--port", str(port)],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until(lambda: _serves(url) or process.poll() is not None, 60, "the dashboard to listen")
            assert process.poll() is None, log_path.read_text()
            yield url
        finally:
            stop_process(process)


@pytest.fixture(scope="session")
def dashboard(e2e_workspace: Workspace) -> Iterator[str]:
    with running_dashboard(e2e_workspace) as url:
        yield url


def _serves(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError:
        return True  # it answers (a login-protected page says 401)
    except OSError:
        return False


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    """Shared by the tests' pages so that the page's scripts are fetched once."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    yield context
    context.close()


@pytest.fixture
def page(browser_context: BrowserContext, dashboard: str) -> Iterator[Page]:
    """A fresh tab on the dashboard, once the runs table is on screen."""
    with opened(browser_context, dashboard) as page:
        yield page


@contextmanager
def opened(context: BrowserContext, url: str, shown: str = "#runs-table") -> Iterator[Page]:
    """A new tab on the dashboard at `url`, once `shown` is on screen (the runs table; a link that lands on
    another tab names what that tab shows); closed after."""
    page = context.new_page()
    try:
        page.goto(url)
        expect(page.locator(shown)).to_be_visible()
        yield page
    finally:
        page.close()


@pytest.fixture(scope="session")
def e2e_api(e2e_workspace: Workspace) -> Iterator[CosmosAPI]:
    """The test's own handle on the dashboard's database and host (another process, like the CLI)."""
    api = e2e_workspace.api()
    yield api
    api.close()
