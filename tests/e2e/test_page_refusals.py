"""The page refuses bad input in one line and stores nothing, and serves no file outside outputs_dir
however the request is spelt (issue 'Prove it': faults and bad input).

tests/e2e/test_safety.py already asks for the database, the config, /etc/passwd and a test file by
their plain paths; these add `..`, its URL-encoded form, symlinks placed inside outputs_dir, the
database's WAL side files and the route without the gradio_api prefix.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from cosmos_core.api import CosmosAPI, Refresh
from tests.e2e.ui import open_tab
from tests.hostkit import make_video
from tests.workspace import Workspace

HUGE = "a long prompt " * 7143  # 100,002 characters
SET_TEXT = """([selector, text]) => {
  const area = document.querySelector(selector);
  area.value = text;
  area.dispatchEvent(new Event('input', {bubbles: true}));
}"""


def stored(workspace: Workspace, api: CosmosAPI) -> tuple[int, int, list[str]]:
    """Prompts, runs and kept uploads: what a refused form must leave as it was."""
    kept = sorted(str(p) for p in (workspace.root / "outputs" / "inputs").rglob("*") if p.is_file())
    return len(api.list_prompts()), len(api.list_runs(refresh=Refresh.NONE)), kept


def submit_form(page: Page, video: Path, text: str) -> str:
    """Fill the new-run form with an uploaded video and `text` (set as the textarea's value, as typing or
    pasting would, NULs included), start it, and return the one-line status the form shows."""
    open_tab(page, "New run")
    form = page.locator("#new-run")
    form.locator("#new-run-video input[type=file]").set_input_files(video)
    # Gradio lays the name out as its stem and its extension, with a space between when it truncates
    expect(form.locator("#new-run-video")).to_contain_text(re.compile(rf"{re.escape(video.stem)}\s*{re.escape(video.suffix)}"))
    page.evaluate(SET_TEXT, ["#new-run-prompt textarea", text])
    expect(form.locator("#new-run-prompt textarea")).to_have_value(text)
    form.locator("#new-run-start").click()
    status = form.locator("#new-run-status")
    expect(status).to_contain_text("❌")
    return status.inner_text().strip()


@pytest.mark.parametrize("text, needle", [(HUGE, "prompt is 100002 characters long; the limit is 20000"),
                                          ("a cat\x00 on a mat", "prompt contains a NUL character")],
                         ids=["100000-characters", "nul"])
def test_the_form_refuses_a_huge_or_nul_prompt_in_one_line_and_stores_nothing(page, e2e_workspace, e2e_api,
                                                                               tmp_path, text, needle):
    """Injects: 100,002 characters, or a NUL byte, as the prompt of the new-run form (with a fresh upload)."""
    before = stored(e2e_workspace, e2e_api)
    shown = submit_form(page, make_video(tmp_path / f"fresh {len(text)}.mp4", seconds=1), text)
    assert needle in shown and "\n" not in shown and len(shown) < 200, shown[:300]
    assert stored(e2e_workspace, e2e_api) == before  # no prompt, no run, and the upload was not kept
    expect(page.locator("body")).not_to_contain_text("Traceback")


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def planted(e2e_workspace: Workspace) -> Iterator[Path]:
    """Symlinks inside outputs_dir that point out of it, or at the database; removed afterwards."""
    outputs = e2e_workspace.root / "outputs"
    links = {"passwd.txt": Path("/etc/passwd"), "config.txt": e2e_workspace.config,
             "db-copy.txt": outputs / "cosmos.db"}
    for name, target in links.items():
        (outputs / name).symlink_to(target)
    yield outputs
    for name in links:
        (outputs / name).unlink()


def test_no_spelling_of_a_path_reaches_a_file_outside_outputs_dir(dashboard, e2e_workspace, planted):
    """Injects: requests for files outside outputs_dir (or for the database) through `..`, `%2e%2e`,
    symlinks inside outputs_dir, the database's -wal and -shm files, and the /file= route."""
    outputs = planted
    config = e2e_workspace.config
    assert (outputs / "cosmos.db-wal").is_file()  # WAL mode: the side files exist and hold recent writes
    (outputs / "notes.txt").write_text("served")
    assert status_of(f"{dashboard}gradio_api/file={outputs}/notes.txt") == 200  # the control: this is served
    refused = [
        f"gradio_api/file={outputs}/../{config.name}",
        f"gradio_api/file={outputs}/%2e%2e/{config.name}",
        f"gradio_api/file={outputs}/%2E%2E/%2E%2E/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
        f"gradio_api/file={urllib.parse.quote(str(outputs / '..' / config.name))}",
        f"gradio_api/file={outputs}/passwd.txt",
        f"gradio_api/file={outputs}/config.txt",
        f"gradio_api/file={outputs}/db-copy.txt",
        f"gradio_api/file={outputs}/cosmos.db-wal",
        f"gradio_api/file={outputs}/cosmos.db-shm",
        f"gradio_api/file={outputs}/COSMOS.DB",
        f"file={outputs}/cosmos.db",
        f"file={outputs}/passwd.txt",
        "file=/etc/passwd",
    ]
    served = {path: code for path in refused if (code := status_of(f"{dashboard}{path}")) not in (403, 404)}
    assert served == {}
