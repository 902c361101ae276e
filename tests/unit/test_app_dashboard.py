"""The page as built (no browser): the stable elem_ids, private events, the timer, upload progress."""

from __future__ import annotations

from app.dashboard import _upload_reporter, build_app
from tests.unit.app_fakes import FakeAPI

ELEM_IDS = {"runs-table", "refresh-now", "run-status", "run-video", "run-log", "retry-download", "cancel-run",
            "new-run"}


def test_the_page_has_the_test_hooks_a_cosmos_title_and_only_private_events(tmp_path):
    config = build_app(FakeAPI(tmp_path)).get_config_file()
    ids = {c["props"].get("elem_id") for c in config["components"]}
    assert ELEM_IDS <= ids
    assert "Cosmos" in config["title"]
    assert {d["api_visibility"] for d in config["dependencies"]} == {"private"}
    timers = [c for c in config["components"] if c["type"] == "timer"]
    assert [t["props"]["value"] for t in timers] == [5]  # ui.refresh_seconds' default


def test_upload_progress_is_reported_at_most_five_times_a_second_and_at_the_end():
    calls = []
    report = _upload_reporter(lambda fraction, desc: calls.append((fraction, desc)))
    for sent in range(0, 1_000_001, 1000):
        report("clip.mp4", sent, 1_000_000)
    assert calls[0] == (0.0, "Uploading clip.mp4: 0.0 / 1.0 MB")
    assert calls[-1] == (1.0, "Uploading clip.mp4: 1.0 / 1.0 MB")
    assert len(calls) < 10
