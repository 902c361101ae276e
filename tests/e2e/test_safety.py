"""What the dashboard exposes: only outputs_dir files, no public API, loopback by default,
Gradio's login when ui.auth is set; and Refresh now syncs past the throttle."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cosmos_core.api import Refresh
from tests.e2e.conftest import running_dashboard
from tests.e2e.ui import expect_status, select_run
from tests.hostkit import make_video
from tests.workspace import Workspace, write_config

LOGIN = ("researcher", "s3cret pass")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_only_files_under_outputs_dir_are_served(dashboard, e2e_workspace):
    outputs = e2e_workspace.root / "outputs"
    (outputs / "notes.txt").write_text("served")
    assert http_status(f"{dashboard}gradio_api/file={outputs}/notes.txt") == 200
    for private in (outputs / "cosmos.db", e2e_workspace.config, Path("/etc/passwd"), Path(__file__)):
        assert http_status(f"{dashboard}gradio_api/file={private}") == 403, private


def test_no_event_is_a_public_api(dashboard, page):
    with urllib.request.urlopen(f"{dashboard}config") as response:
        config = json.load(response)
    assert {d["api_visibility"] for d in config["dependencies"]} == {"private"}  # the timer tick included
    with urllib.request.urlopen(f"{dashboard}gradio_api/info") as response:
        assert json.load(response) == {"named_endpoints": {}, "unnamed_endpoints": {}}
    assert "Cosmos" in page.title()


@pytest.fixture(scope="module")
def locked(tmp_path_factory, gpu_host) -> Iterator[tuple[Workspace, str]]:
    """A dashboard with a login, whose timer and throttle never sync on their own (an hour)."""
    root = tmp_path_factory.mktemp("locked")
    config = write_config(root, gpu_host, min_interval_seconds=3600)
    config.write_text(f'{config.read_text()}\n[ui]\nrefresh_seconds = 3600\nauth = "{":".join(LOGIN)}"\n')
    workspace = Workspace(root, config, gpu_host)
    with running_dashboard(workspace) as url:
        yield workspace, url


def test_login_loopback_and_refresh_now_forcing_a_sync(locked, browser_context, tmp_path):
    workspace, url = locked
    assert http_status(f"{url}config") == 401
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    assert _listening_addresses(port) == {"127.0.0.1"}

    page = browser_context.browser.new_page()  # its own cookies: not logged in
    page.goto(url)
    page.get_by_label("username").fill(LOGIN[0])
    page.get_by_label("password").fill(LOGIN[1])
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#runs-table")).to_be_visible()

    try:
        with workspace.second_api() as api:
            run = api.start_inference(api.add_prompt("a quiet forest [sleep=1]", make_video(tmp_path / "in.mp4"))["id"])
            api.sync(Refresh.FORCE)  # probes now: the hour-long throttle keeps any AUTO refresh from probing again
            workspace.wait_for_marker(run["id"])
            workspace.wait_until_exited(run["id"])  # else the forced sync may see it still running
            page.locator("#refresh-now").click()
            select_run(page, run["id"])
            expect_status(page, "completed")
            expect(page.locator("#run-status")).to_contain_text("download done")
            assert api.get_run(run["id"], Refresh.NONE)["download"]["status"] == "done"
    finally:
        page.close()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)) if len(address) == 8
                          else address)
    return found
