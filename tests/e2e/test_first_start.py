"""The README's run command on a machine with no config: the page opens, nothing else needed."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.e2e.conftest import launched


def test_launch_with_no_config_and_no_host_opens_the_page(browser_context: BrowserContext, tmp_path):
    with launched(tmp_path) as url:
        page = browser_context.new_page()
        try:
            page.goto(url)
            expect(page.locator("#runs-table")).to_be_visible()
            expect(page.locator("#refresh-now")).to_be_visible()
            assert "Cosmos" in page.title()
            page.locator("#refresh-now").click()  # a sync with no host configured is harmless
            expect(page.locator("#runs-table")).to_be_visible()
        finally:
            page.close()
    assert (tmp_path / "outputs" / "cosmos.db").is_file()  # the embedded default: SQLite under outputs/
