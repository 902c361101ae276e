"""A host set up on the real page (issue 21, its browser tests for items 1 and 2): Add host with an image
and a checkout of its own makes a host whose first run completes and plays; a host whose run_args the
runtime refuses reads not ready in the Hosts tab, with the runtime's reason in words. Both on the
session's dashboard and stand-in host, the e2e workspace's config file put back after."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from cosmos_core.config import load_config
from tests.e2e.test_add_host_page import fill_form
from tests.e2e.ui import choose, expect_status, fill, open_section, open_tab, wait_video_ready
from tests.hostkit import RUN_ARGS, TestHost
from tests.workspace import config_restored

REFUSED = "cannot set shmsize when running in the {host } IPC Namespace"  # podman, of --shm-size with --ipc=host


def add_host(page: Page, name: str, gpu_host: TestHost, image: str, checkout: str) -> None:
    """The Hosts tab's Add host, with the image and checkout given; the key is trusted already."""
    open_tab(page, "Hosts")
    open_section(page, "hosts-add-host", "Add host", "hosts-add-host-name")
    fill_form(page, "hosts-add-host", gpu_host, Path(gpu_host.known_hosts), name)
    fill(page, "hosts-add-host-image", image)
    fill(page, "hosts-add-host-remote-dir", checkout)
    page.locator("#hosts-add-host-connect").click()
    expect(page.locator("#hosts-add-host-status")).to_contain_text("already trusts")
    page.locator("#hosts-add-host-trust").click()


def start_run(page: Page, host: str, video: Path, prompt: str) -> str:
    """The New run form on `host`; the id of the run it started."""
    open_tab(page, "New run")
    choose(page, "new-run-host", host)
    form = page.locator("#new-run")
    form.locator("#new-run-video input[type=file]").set_input_files(video)
    form.locator("#new-run-prompt textarea").fill(prompt)
    form.locator("#new-run-start").click()
    expect(page.locator("#notice")).to_contain_text(f"on {host}", timeout=60_000)
    notice = page.locator("#notice").inner_text()
    started = re.search(r"Started run (rs_\S+) on", notice)
    assert started, notice
    return started.group(1)


def host_row(page: Page, name: str) -> Locator:
    """The Hosts tab's row of the host `name`."""
    return page.locator("#hosts-table").get_by_role("row").filter(
        has=page.get_by_role("gridcell", name=name, exact=True))


def test_add_host_with_a_custom_image_and_checkout_makes_a_host_whose_first_run_completes(
        page, e2e_workspace, gpu_host, sample_video):
    config = e2e_workspace.config
    image, checkout = gpu_host.tag_image("cosmos-transfer1:lab"), gpu_host.other_checkout("lab-checkout")
    with config_restored(config):
        add_host(page, "lab", gpu_host, image, checkout)
        status = page.locator("#hosts-add-host-status")
        expect(status).to_contain_text("Added lab", timeout=30_000)
        expect(status).to_contain_text(f"image ✅ ok: {image}")
        expect(status).to_contain_text(f"remote_dir ✅ ok: {checkout}")
        host = load_config(config).host("lab")
        assert (host.image, host.remote_dir) == (image, checkout)
        # The default run_args (--shm-size with --ipc=host), which the stand-in's podman refuses: the check
        # says so, and the user fixes them in the Hosts tab's edit form.
        expect(status).to_contain_text(REFUSED)
        expect(status).to_contain_text("Not ready yet")
        open_section(page, "edit-host", "Edit or remove a host", "edit-host-name")
        choose(page, "edit-host-name", "lab")
        run_args = page.locator("#edit-host-run-args textarea, #edit-host-run-args input").first
        expect(run_args).to_have_value(re.compile(r"--ipc=host --shm-size="))  # the default, as a shell reads it
        run_args.fill(shlex.join(RUN_ARGS))
        page.locator("#edit-host-save").click()
        expect(page.locator("#edit-host-status")).to_contain_text("Saved host lab to the config file")
        assert load_config(config).host("lab").run_args == tuple(RUN_ARGS)
        page.locator("#check-hosts").click()
        expect(host_row(page, "lab")).to_contain_text("✅ ready", timeout=30_000)

        run_id = start_run(page, "lab", sample_video, "a lighthouse at dusk")
        expect_status(page, "completed", timeout=60_000)
        assert wait_video_ready(page).endswith("/output.mp4")
        assert (Path(checkout) / "cosmos_runs" / run_id / "run.log").is_file()  # it ran in the lab's checkout
        assert gpu_host.run_images(run_id) == [f"localhost/{image}"]  # podman's full name of the lab's image


def test_a_host_whose_run_args_the_runtime_refuses_is_not_ready_and_says_why(page, e2e_workspace, gpu_host):
    config = e2e_workspace.config
    refused = gpu_host.host_config_toml("gpu-shm", run_args=(*RUN_ARGS, "--shm-size=8g"))
    with config_restored(config) as original:
        config.write_text(original.replace("[ui]", refused + "\n[ui]", 1))  # added by hand, page open
        open_tab(page, "Hosts")
        page.locator("#check-hosts").click()
        row = host_row(page, "gpu-shm")
        expect(row).to_contain_text(f"❌ FAILED: docker run {gpu_host.image} with the run_args failed", timeout=30_000)
        expect(row).to_contain_text(REFUSED)
        expect(row).to_contain_text("❌ not ready: start failed")
        expect(host_row(page, "gpu1")).to_contain_text("✅ ready")
