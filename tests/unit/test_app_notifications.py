"""The page's notifications as plain data: the title, which runs left the active set, the toast text."""

from __future__ import annotations

from app.notifications import left, page_title, toast
from tests.unit.app_fakes import make_run


def test_the_title_counts_active_runs_and_always_names_cosmos():
    assert page_title(0) == "Cosmos Run Dashboard"
    assert page_title(2) == "(2) Cosmos Run Dashboard"


def test_only_runs_seen_active_before_and_gone_now_have_left():
    assert left(None, ["rs_1"]) == []  # the page just opened: nothing to toast, whatever is finished
    assert left([], []) == []
    assert left(["rs_1", "rs_2", "rs_3"], ["rs_2", "rs_9"]) == ["rs_1", "rs_3"]
    assert left(["rs_1"], ["rs_1"]) == []


def test_the_toast_says_which_run_which_prompt_and_how_it_ended():
    assert toast(make_run("rs_1", status="completed"), "red robot") == ("completed", "Run rs_1 (red robot) completed")
    assert toast(make_run("rs_2", status="cancelled", error="Cancelled by the user"), "x") == (
        "cancelled", "Run rs_2 (x) cancelled")
    failed = make_run("rs_3", status="failed", error="Container exited with code 1:\n  CUDA <out> of memory")
    assert toast(failed, "a & b") == (
        "failed", "Run rs_3 (a &amp; b) failed: Container exited with code 1: CUDA &lt;out&gt; of memory")
    long = toast(make_run("rs_4", status="failed", error="e" * 1000), "x")[1]
    assert long.endswith("e…") and len(long) < 400
