"""A start's steps in words (cosmos_core/start_steps.py) and the form's watch of them (app/start_watch.py)."""

from __future__ import annotations

import pytest

from app.start_watch import StartWatches, render, took
from cosmos_core.api import CosmosError
from cosmos_core.start_steps import StartReport, StartStep, StepReporter


@pytest.mark.parametrize(("report", "step_words", "words"), [
    (StartReport("rs_1", "gpu1", StartStep.CONNECTING), "connecting to gpu1", "connecting to gpu1"),
    (StartReport("rs_1", "gpu1", StartStep.UPLOADING, "inputs/video.mp4", 300, 1_200_000),
     "uploading to gpu1", "uploading to gpu1: inputs/video.mp4 0.0/1.2 MB"),
    (StartReport("rs_1", "gpu1", StartStep.UPLOADING, "spec.json", 12, 512),
     "uploading to gpu1", "uploading to gpu1: spec.json 12/512 B"),
    (StartReport("rs_1", "gpu1", StartStep.STARTING, "docker run"),
     "starting the container on gpu1 (docker run)", "starting the container on gpu1 (docker run)"),
    (StartReport("rs_1", "hpc", StartStep.SUBMITTING, "sbatch"),
     "submitting the job on hpc (sbatch)", "submitting the job on hpc (sbatch)"),
])  # fmt: skip
def test_each_step_says_where_it_is_and_what_it_waits_on(report, step_words, words):
    assert (report.step_words(), report.words()) == (step_words, words)


def test_a_reporter_tells_its_listener_each_step_and_each_uploads_bytes():
    heard: list[StartReport] = []
    steps = StepReporter("rs_1", "gpu1", heard.append)
    steps.step(StartStep.CONNECTING)
    steps.upload("inputs/video.mp4", 5, 10)
    steps.step(StartStep.STARTING, "docker run")
    assert [(r.step, r.detail, r.sent, r.total) for r in heard] == [
        (StartStep.CONNECTING, "", 0, 0), (StartStep.UPLOADING, "inputs/video.mp4", 5, 10),
        (StartStep.STARTING, "docker run", 0, 0)]
    StepReporter("rs_1", "gpu1", None).step(StartStep.CONNECTING)  # no listener: nothing to tell


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watches(cancelled: list[str], refuse: str = "") -> tuple[StartWatches, Clock]:
    def cancel(run_id: str) -> str:
        if refuse:
            raise CosmosError(refuse)
        cancelled.append(run_id)
        return f"Run {run_id} is cancelled."

    clock = Clock()
    return StartWatches(cancel, clock), clock


def test_the_watch_shows_each_step_with_its_time_and_the_current_one_counting():
    starts, clock = watches([])
    starts.begin("s1")
    assert starts.view("s1") == "**Starting the run** · 0.0s"
    heard: list[StartReport] = []
    hear = starts.listener("s1", heard.append)
    hear(StartReport("rs_1", "gpu1", StartStep.CONNECTING))
    clock.now += 0.3
    hear(StartReport("rs_1", "gpu1", StartStep.UPLOADING, "inputs/video.mp4", 0, 2_000_000))
    clock.now += 1.2
    hear(StartReport("rs_1", "gpu1", StartStep.UPLOADING, "inputs/video.mp4", 2_000_000, 2_000_000))
    hear(StartReport("rs_1", "gpu1", StartStep.STARTING, "docker run"))
    clock.now += 64
    assert starts.view("s1").splitlines() == [
        "**Starting run rs_1** · 1m 05s",
        "- done: connecting to gpu1 · 0.3s",
        "- done: uploading to gpu1 · inputs/video.mp4 2.0/2.0 MB · 1.2s",
        "- now: starting the container on gpu1 (docker run) · 1m 04s",
    ]
    assert len(heard) == 4  # every report goes on to the progress bar
    starts.end("s1")
    clock.now += 30  # once ended, its times stand still
    assert starts.view("s1").splitlines()[0] == "**Start of run rs_1** · 1m 05s"
    assert starts.view("s1").splitlines()[-1] == "- done: starting the container on gpu1 (docker run) · 1m 04s"
    assert starts.view("other session") == ""


def test_cancel_cancels_the_run_once_at_whatever_step():
    cancelled: list[str] = []
    starts, _ = watches(cancelled)
    starts.begin("s1")
    hear = starts.listener("s1", lambda report: None)
    hear(StartReport("rs_1", "gpu1", StartStep.STARTING, "docker run"))
    assert "cancelling: the run is cancelled" in starts.cancel("s1")
    starts.cancel("s1")
    hear(StartReport("rs_1", "gpu1", StartStep.STARTING, "docker run"))
    assert cancelled == ["rs_1"]


def test_a_cancel_asked_before_the_run_has_an_id_is_sent_with_its_first_step():
    cancelled: list[str] = []
    starts, _ = watches(cancelled)
    starts.begin("s1")
    starts.cancel("s1")  # the prompt is still being stored: no run yet
    assert cancelled == []
    starts.listener("s1", lambda report: None)(StartReport("rs_9", "gpu1", StartStep.CONNECTING))
    assert cancelled == ["rs_9"]


def test_a_refused_cancel_is_said_and_nothing_when_no_start_goes_on():
    starts, _ = watches([], refuse="run rs_1 finished before it could be cancelled")
    assert starts.cancel("s1") == "Nothing is starting."
    starts.begin("s1")
    starts.listener("s1", lambda report: None)(StartReport("rs_1", "gpu1", StartStep.STARTING, "docker run"))
    assert "- cannot cancel: run rs_1 finished before it could be cancelled" in starts.cancel("s1")


def test_times_read_in_tenths_under_ten_seconds():
    assert [took(s) for s in (0.04, 3.25, 9.94, 10, 65, -1)] == ["0.0s", "3.2s", "9.9s", "10s", "1m 05s", "0.0s"]
    assert render(None, 0) == ""
