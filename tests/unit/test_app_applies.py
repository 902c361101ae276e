"""Which actions the details panel shows for a run (app/applies.py), over every status, kind, model,
download state and host, and the line that stands in for a missing video or log."""

from __future__ import annotations

import itertools

from app.applies import ACTIONS, absence_line, never_started, run_actions
from cosmos_core.api import MODELS, STATUSES
from tests.unit.app_fakes import make_run

KINDS = ("inference", "upscale", "enhance")
DOWNLOADS = ("none", "pending", "downloading", "done", "failed")
HOSTS = {"gone": None, "transfer1": ("transfer1",), "transfer2.5": ("transfer2.5",),
         "both": ("transfer1", "transfer2.5")}  # what the run's host serves now (gone: not in the config)


def _expected(status: str, kind: str, model: str, download: str, host: str, sweep: bool) -> set[str]:
    """The rules as the issue states them, written out apart from the code under test."""
    shown = set()
    if host != "gone":
        shown |= {"retry"} if download == "failed" else set()
        shown |= {"cancel"} if status in {"pending", "uploading", "queued", "running"} else set()
        shown |= {"upscale"} if (status, kind, model) == ("completed", "inference", "transfer1") else set()
        shown |= {"enhance"} if host in ("transfer1", "both") else set()
    shown |= {"rerun"} if kind == "inference" else set()
    shown |= {"open_sweep"} if sweep else set()
    return shown


def test_every_status_kind_model_download_and_host_shows_exactly_what_applies():
    combos = list(itertools.product(STATUSES, KINDS, MODELS, DOWNLOADS, HOSTS, (False, True)))
    assert len(combos) == 7 * 3 * 2 * 5 * 4 * 2
    seen: dict[str, set[bool]] = {action: set() for action in ACTIONS}
    for status, kind, model, download, host, sweep in combos:
        run = make_run(status=status, kind=kind, model=model, download_status=download,
                       sweep_id="sw_1" if sweep else None)
        actions = run_actions(run, HOSTS[host])
        assert actions == _expected(status, kind, model, download, host, sweep), (status, kind, model, download,
                                                                                   host, sweep)
        for action in ACTIONS:
            seen[action].add(action in actions)
    assert all(both == {True, False} for both in seen.values())  # each action is shown on some runs only


def test_the_runs_the_issue_names():
    def actions(**fields) -> frozenset[str]:
        return run_actions(make_run(**fields), ("transfer1",))

    never = actions(status="failed", exit_code=None, started_at=None,
                    error="docker run failed on gpu1 (exit 125): image not known")
    assert "retry" not in never and "cancel" not in never and "upscale" not in never
    running = actions(status="running", exit_code=None)
    assert "cancel" in running and "retry" not in running and "upscale" not in running
    done = actions(download_status="done")
    assert "upscale" in done and "cancel" not in done and "retry" not in done
    assert "upscale" not in actions(model="transfer2.5")  # the 4K upscaler is Cosmos-Transfer1's
    assert "enhance" not in run_actions(make_run(host="gpu25"), ("transfer2.5",))  # the upsampler is too


def test_never_started_is_a_finished_run_that_was_never_queued_nor_running():
    assert never_started(make_run(status="failed", started_at=None))
    assert never_started(make_run(status="cancelled", started_at=None, queued_at=None))
    assert not never_started(make_run(status="failed", started_at=None, queued_at="2025-01-02T03:04:06.000Z"))
    assert not never_started(make_run(status="failed"))  # it ran, then failed
    assert not never_started(make_run(status="uploading", started_at=None))  # not yet


def test_the_line_says_why_there_is_no_video_or_log():
    failed = make_run(status="failed", started_at=None, error="docker run failed on gpu1 (exit 125): no image")
    assert absence_line(failed, False, False) == ("⛔ This run never started: docker run failed on gpu1 (exit 125): "
                                                  "no image. It has no log and no video.")
    assert "never started." in absence_line(make_run(status="cancelled", started_at=None, error=None), False, False)
    assert absence_line(make_run(status="queued", started_at=None), False, False) == (
        "Waiting for GPUs: no video yet. The log shows once it starts.")
    assert absence_line(make_run(status="running"), True, False).startswith("No video yet")
    assert absence_line(make_run(status="uploading", started_at=None), False, False).startswith("Starting")
    assert absence_line(make_run(status="failed", exit_code=3), True, False) == (
        "No video: the run failed before it made one.")
    assert absence_line(make_run(download_status="downloading"), True, False) == (
        "The video shows once its download is done.")
    assert absence_line(make_run(download_status="failed"), True, False) == "No video: its download failed."
    gone = make_run(download_status="done", output_path="/o/run_rs_1/outputs/output.mp4")
    assert absence_line(gone, True, False) == "The video is no longer on this machine (/o/run_rs_1/outputs/output.mp4)."
    assert absence_line(make_run(download_status="done"), True, True) == ""  # the video plays: nothing to say
    assert absence_line(make_run(kind="enhance", download_status="done"), True, False) == ""  # a text, no video
