"""Onboarding in a real browser: the page with no host says so and adds one through Add host against the
stand-in sshd (its real key's fingerprint shown, nothing written before Trust and add, the host checked
after); a changed key is refused with both fingerprints; no details panel until a run is open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import STANDIN_HOST, launched, opened
from tests.e2e.ui import fill, open_tab, select_run, text_box
from tests.hostkit import TestHost, make_video

OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKhSf28Qi4v4IOf/iJvfwsyjByieuES3SOsKrlj3TgVd"
OTHER_FP = "SHA256:Vz8068DQzQ4OC6UPxr1jIR7mKtg90sE1N9+w9NTfDeQ"


@pytest.fixture(scope="module")
def empty_cwd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onboard")


@pytest.fixture(scope="module")
def first_start(empty_cwd: Path) -> Iterator[str]:
    """The README's run command in a directory with no cosmos.toml: the page on defaults, no host."""
    with launched(empty_cwd) as url:
        yield url


@pytest.fixture
def fresh(browser_context: BrowserContext, first_start: str) -> Iterator[Page]:
    with opened(browser_context, first_start) as page:
        yield page


def fill_form(page: Page, prefix: str, host: TestHost, known_hosts: Path, name: str) -> None:
    values = {"name": name, "address": host.hostname, "port": str(host.port), "user": host.user,
              "key-file": host.key_file, "known-hosts": str(known_hosts)}
    for field, value in values.items():
        fill(page, f"{prefix}-{field}", value)
    for field, value in values.items():  # none set back since: the form is sent as typed
        expect(text_box(page, f"{prefix}-{field}")).to_have_value(value)


def test_a_changed_key_is_refused_with_both_fingerprints_and_nothing_written(fresh, gpu_host, empty_cwd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{gpu_host.hostname}]:{gpu_host.port} {OTHER_KEY}\n")
    before = known_hosts.read_bytes()
    open_tab(fresh, "Hosts")
    fill_form(fresh, "hosts-add-host", gpu_host, known_hosts, "evil")
    fresh.locator("#hosts-add-host-connect").click()
    status = fresh.locator("#hosts-add-host-status")
    expect(status).to_contain_text("HOST KEY CHANGED")
    expect(status).to_contain_text(gpu_host.host_key_fingerprint)
    expect(status).to_contain_text(OTHER_FP)
    expect(fresh.locator("#hosts-add-host-trust")).to_be_hidden()
    assert known_hosts.read_bytes() == before
    assert not (empty_cwd / "cosmos.toml").exists()


def test_add_host_shows_the_key_writes_only_once_trusted_and_checks_the_host(fresh, gpu_host, empty_cwd, tmp_path):
    config, known_hosts = empty_cwd / "cosmos.toml", tmp_path / "ssh" / "known_hosts"
    expect(fresh.locator("#no-host")).to_contain_text("No GPU host yet")
    expect(fresh.locator("#run-status")).to_contain_text("No runs yet: add a GPU host above")
    expect(fresh.locator("#run-details")).to_be_hidden()  # no player, no disabled buttons, no red Cancel
    expect(fresh.locator("#cancel-run")).to_be_hidden()

    fresh.locator("#add-host-open").click()
    fill_form(fresh, "add-host", gpu_host, known_hosts, "gpu9")
    fresh.locator("#add-host-connect").click()
    status = fresh.locator("#add-host-status")
    expect(status).to_contain_text(gpu_host.host_key_fingerprint)  # the stand-in's real host key
    expect(status).to_contain_text("ssh-ed25519")
    expect(fresh.locator("#add-host-trust")).to_be_visible()
    assert not config.exists() and not known_hosts.exists()  # nothing written before confirmation

    fresh.locator("#add-host-trust").click()
    expect(status).to_contain_text("Added gpu9", timeout=30_000)
    expect(status).to_contain_text("Check: ssh ✅")  # the host check ran and its result shows
    assert f"[{gpu_host.hostname}]:{gpu_host.port} ssh-ed25519 " in known_hosts.read_text()
    assert 'name = "gpu9"' in config.read_text()
    expect(fresh.locator("#no-host")).to_be_hidden()
    expect(fresh.locator("#run-status")).to_contain_text("No runs yet: start one in the New run tab")
    open_tab(fresh, "Hosts")
    expect(fresh.locator("#hosts-table")).to_contain_text("gpu9")
    expect(fresh.locator("#hosts-table")).to_contain_text("✅ yes")
    open_tab(fresh, "New run")
    expect(fresh.locator("#new-run-host input")).to_have_value("gpu9")  # usable at once, no restart


def test_no_details_panel_until_a_run_is_open(page, e2e_api, tmp_path):
    run = e2e_api.start_inference(e2e_api.add_prompt("a quiet pond", make_video(tmp_path / "in.mp4"))["id"],
                                  host=STANDIN_HOST)
    expect(page.locator("#run-status")).to_contain_text("Select a run in the table")
    expect(page.locator("#run-details")).to_be_hidden()
    expect(page.locator("#no-host")).to_be_hidden()  # this page has hosts
    select_run(page, run["id"])
    expect(page.locator("#run-details")).to_be_visible()
    expect(page.locator("#run-video")).to_be_visible()
