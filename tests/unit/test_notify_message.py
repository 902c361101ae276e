"""The webhook's message and retry policy (pure functions of cosmos_core/notify.py)."""

from __future__ import annotations

import pytest

from cosmos_core import notify
from cosmos_core.notify import Finished, message, retry_delay

DONE = Finished("rs_1", "completed", "inference", "transfer1", "gpu1", "ps_1", "red robot", exit_code=0,
                completed_at=1_700_000_000.0)


def test_a_completed_run_says_who_what_where_in_slack_text_and_structured_keys():
    body = message(DONE)
    assert body["text"] == "✅ Cosmos run `rs_1` completed: “red robot” (inference, transfer1) on gpu1"
    assert body["run"] == {"id": "rs_1", "status": "completed", "kind": "inference", "model": "transfer1",
                           "host": "gpu1", "prompt_id": "ps_1", "prompt_name": "red robot", "exit_code": 0,
                           "error": None, "completed_at": "2023-11-14T22:13:20+00:00"}


@pytest.mark.parametrize(("status", "icon"), [("failed", "❌"), ("cancelled", "⏹️")])
def test_a_failed_or_cancelled_run_gives_its_outcome_and_error_on_a_second_line(status, icon):
    run = Finished("rs_2", status, "upscale", "transfer1", "gpu2", "ps_1", "lake", exit_code=1,
                   error="Container exited with code 1:\n  CUDA out of memory")
    text = message(run)["text"]
    assert text.startswith(f"{icon} Cosmos run `rs_2` {status}: “lake” (upscale, transfer1) on gpu2\n")
    assert text.endswith("\nContainer exited with code 1: CUDA out of memory")
    assert message(run)["run"]["error"] == run.error  # the structured key keeps the text as it is


def test_slack_control_characters_in_user_text_are_escaped():
    run = Finished("rs_3", "failed", "inference", "transfer1", "gpu1", "ps_9", "<!channel> & <b>",
                   error="a < b > c & d")
    text = message(run)["text"]
    assert "“&lt;!channel&gt; &amp; &lt;b&gt;”" in text and text.endswith("a &lt; b &gt; c &amp; d")
    assert "<" not in text and message(run)["run"]["prompt_name"] == "<!channel> & <b>"


def test_a_long_error_is_cut_and_a_missing_time_is_null():
    run = Finished("rs_4", "failed", "inference", "transfer1", "gpu1", "ps_1", "x", error="e" * 5000)
    last_line = message(run)["text"].split("\n")[-1]
    assert len(last_line) == notify.MAX_ERROR_CHARS and last_line.endswith("…")
    assert message(run)["run"]["completed_at"] is None


def test_retries_back_off_four_times_longer_each_time_then_give_up():
    delays = [retry_delay(n) for n in range(1, notify.MAX_ATTEMPTS + 1)]
    assert delays[:-1] == [2.0, 8.0, 32.0, 128.0, 512.0] and delays[-1] is None
    assert retry_delay(notify.MAX_ATTEMPTS + 3) is None
