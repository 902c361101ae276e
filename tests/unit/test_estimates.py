"""GPU time and time left (pure): every branch of estimates.py."""

from __future__ import annotations

import math

import pytest

from cosmos_core.estimates import (
    NO_ESTIMATE,
    format_gpu_seconds,
    format_seconds,
    gpu_seconds,
    held_gpus,
    progress_fraction,
    time_left,
    typical_duration,
)
from cosmos_core.upstream.loglines import progress_text
from cosmos_core.upstream.models import TRANSFER1, TRANSFER25


def test_gpus_held_are_the_reported_indices_else_the_hosts_gpus_per_run():
    assert held_gpus([0, 1], 1) == 2
    assert held_gpus([3], 4) == 1
    assert held_gpus(None, 2) == 2
    assert held_gpus([], 0) == 1  # never zero: a run that ran held at least one


def test_gpu_seconds_is_the_time_holding_gpus_times_the_gpus():
    assert gpu_seconds(None, None, 2, now=100.0) is None  # not started (queued, pending, failed before)
    assert gpu_seconds(None, 50.0, 2, now=100.0) is None  # cancelled while queued: never held a GPU
    assert gpu_seconds(10.0, 70.0, 2, now=1000.0) == 120.0  # finished: its own duration, not now
    assert gpu_seconds(10.0, None, 4, now=40.0) == 120.0  # running: up to now
    assert gpu_seconds(10.0, 5.0, 1, now=40.0) == 0.0  # a clock that went backwards counts nothing


@pytest.mark.parametrize(("progress", "fraction"), [
    (None, None), ("", None), ("encoding the prompt", None), ("waiting for GPUs", None),
    ("diffusion sampling · 1/2 chunks", 0.5), ("2/2 chunks", 1.0), ("0/4 chunks", 0.0),
    ("diffusion sampling · 0/0 chunks", None),  # a total of 0 says nothing
    ("chunk 1/2 · 10/40 steps", 0.125), ("chunk 2/2 · 20/40 steps", 0.75), ("chunk 2/4", 0.25),
    ("chunk 3/2 · 1/4 steps", None), ("chunk 0/2", None), ("chunk 1/0", None),
    ("5/4 chunks", 1.0),  # a counter past its total is done, not more than done
    ("12/35 steps", 12 / 35),
])  # fmt: skip
def test_progress_fraction_from_the_counters_the_progress_text_shows(progress, fraction):
    found = progress_fraction(progress)
    assert found == fraction if fraction is None else math.isclose(found, fraction)


def test_the_progress_texts_the_models_logs_make_are_read():
    transfer1 = progress_text(TRANSFER1, "Starting diffusion sampling", " 50%|#####     | 1/2 [00:10<00:10]")
    assert progress_fraction(transfer1) == 0.5
    transfer25 = progress_text(TRANSFER25, "Generating chunk 2/2", "Generating samples:  25%|##  | 10/40 [00:01<00:03]")
    assert math.isclose(progress_fraction(transfer25), (1 + 10 / 40) / 2)


def test_typical_duration_is_the_median_of_usable_history():
    assert typical_duration([]) is None
    assert typical_duration([-1.0, math.nan, math.inf]) is None
    assert typical_duration([100.0]) == 100.0
    assert typical_duration([100.0, 300.0, 200.0]) == 200.0
    assert typical_duration([100.0, 200.0, -5.0]) == 150.0


def test_no_estimate_without_history_and_none_for_runs_not_waiting_or_running():
    for status in ("running", "queued"):
        assert time_left(status, "1/2 chunks", 0.0, [], now=10.0).text == NO_ESTIMATE
        assert time_left(status, "1/2 chunks", 0.0, [], now=10.0).seconds is None
    for status in ("pending", "uploading", "completed", "failed", "cancelled"):
        assert time_left(status, "1/2 chunks", 0.0, [100.0], now=10.0) is None


def test_a_running_run_with_a_counter_has_the_typical_duration_times_what_is_left():
    estimate = time_left("running", "diffusion sampling · 1/4 chunks", 1000.0, [200.0, 200.0], now=1010.0)
    assert estimate.seconds == 150.0 and estimate.text == "about 2m 30s left (from 2 earlier runs)"


def test_a_running_run_before_its_first_counter_has_the_typical_duration_less_its_time_so_far():
    assert time_left("running", "encoding the prompt", 1000.0, [300.0], now=1060.0).seconds == 240.0
    assert time_left("running", None, None, [300.0], now=1060.0).seconds == 300.0  # start unknown
    late = time_left("running", "decoding", 1000.0, [300.0], now=1400.0)
    assert late.seconds == 0.0 and late.text == "any moment now (past the usual 5m 00s of 1 earlier run)"
    done = time_left("running", "2/2 chunks", 1000.0, [300.0], now=1100.0)
    assert done.seconds == 0.0 and done.text.startswith("any moment now")


def test_a_queued_run_waits_for_the_runs_ahead_of_it_then_runs_its_own_typical_duration():
    assert time_left("queued", "waiting for GPUs", None, [100.0], now=0.0, queue_position=None).seconds == 100.0
    assert time_left("queued", None, None, [100.0], now=0.0, queue_position=1).seconds == 100.0
    third = time_left("queued", None, None, [100.0], now=0.0, queue_position=3)
    assert third.seconds == 300.0 and third.text == "about 5m 00s left (2 ahead in the queue; from 1 earlier run)"
    assert time_left("queued", None, None, [100.0], now=0.0, queue_position=3, parallel=2).seconds == 200.0
    assert time_left("queued", None, None, [100.0], now=0.0, queue_position=5, parallel=2).seconds == 300.0
    assert time_left("queued", None, None, [100.0], now=0.0, queue_position=3, parallel=0).seconds == 300.0


def test_durations_read_as_a_user_reads_them():
    assert [format_seconds(s) for s in (0, 59.9, 60, 185, 3600, 7620, -3)] == [
        "0s", "59s", "1m 00s", "3m 05s", "1h 00m", "2h 07m", "0s"]
    assert format_gpu_seconds(None) == "" and format_gpu_seconds(125) == "2m 05s GPU"
