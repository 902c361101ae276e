"""The config file as it is now, on the real page (issue 21, item 1): editing cosmos.toml while the page is
open changes what Check hosts now checks, with no restart; a broken edit shows its one-line error and the
page keeps working; the fixed file is taken again."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.ui import choose, open_section, open_tab
from tests.workspace import config_restored, edit_config


def test_an_edit_of_the_config_file_is_taken_while_the_page_is_open(page, e2e_workspace, gpu_host):
    config = e2e_workspace.config
    with config_restored(config):
        edit_config(config, f'image = "{gpu_host.image}"', 'image = "cosmos-missing:none"')
        open_tab(page, "Hosts")
        page.locator("#check-hosts").click()
        table = page.locator("#hosts-table")
        expect(table).to_contain_text("❌ FAILED: cosmos-missing:none not found", timeout=30_000)

        edit_config(config, f"port = {gpu_host.port}", 'port = "twenty-two"')
        banner = page.locator("#host-banner")
        expect(banner).to_contain_text("the config file has an error, so the last good config is in use",
                                       timeout=20_000)
        expect(banner).to_contain_text("must be an integer")
        page.locator("#check-hosts").click()  # the last good config serves on
        expect(table).to_contain_text("❌ FAILED: cosmos-missing:none not found")
        open_tab(page, "Runs")
        expect(page.locator("#runs-table")).to_be_visible()
    expect(page.locator("#host-banner")).not_to_contain_text("config file", timeout=20_000)
    open_tab(page, "Hosts")
    page.locator("#check-hosts").click()
    expect(page.locator("#hosts-table")).to_contain_text(f"✅ ok: {gpu_host.image}", timeout=30_000)


def test_the_hosts_tab_edits_and_removes_a_host_in_the_config_file_keeping_its_comments(page, e2e_workspace,
                                                                                        gpu_host):
    config = e2e_workspace.config
    spare = gpu_host.host_config_toml("spare").replace("[[hosts]]", "# the spare box, kept for demos\n[[hosts]]", 1)
    with config_restored(config) as original:
        config.write_text(original.replace("[ui]", spare + "\n[ui]", 1))  # a host added by hand, page open
        before = config.read_text()
        open_tab(page, "Hosts")
        open_section(page, "edit-host", "Edit or remove a host", "edit-host-name")
        choose(page, "edit-host-name", "spare")
        expect(page.locator("#edit-host-image textarea, #edit-host-image input").first).to_have_value(gpu_host.image)
        page.locator("#edit-host-gpus input").fill("2")
        page.locator("#edit-host-save").click()
        expect(page.locator("#edit-host-status")).to_contain_text("Saved host spare to the config file")
        text = config.read_text()
        head, tail = before.split(spare)
        assert text.startswith(head + spare.rstrip("\n")) and text.endswith(tail)  # only the spare's table grew
        assert "gpus = 2" in text[len(head):len(text) - len(tail)]
        page.locator("#edit-host-remove").click()
        expect(page.locator("#edit-host-status")).to_contain_text("Removed host spare from the config file")
        left = config.read_text()
        assert 'name = "spare"' not in left and "# the spare box, kept for demos" in left  # the comment stays
