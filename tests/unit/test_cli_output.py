"""The CLI's tables, progress and logging as plain logic (issue 11, point 4); the real CLI on a terminal is
tested in tests/integration/test_cli_progress.py and test_cli_tables.py."""

from __future__ import annotations

import io
import logging

import pytest

from cosmos_core.cli.parser import RUNS_SHOWN, build_parser
from cosmos_core.cli.progress import PlainProgress, RichProgress, UploadTally, progress_for, quarter
from cosmos_core.cli.tables import plain_lines, run_detail, showing_line
from cosmos_core.cli.verbosity import setup_logging
from cosmos_core.ssh import host  # noqa: F401 (silences paramiko, as the CLI's import of it does)
from cosmos_core.start_steps import StartReport, StartStep
from cosmos_core.words import count, size, sizes


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def a_run(**changes) -> dict:
    run = {"status": "running", "error": None, "progress": None, "queue_position": None, "gpus": None,
           "download": {"status": "none", "error": None, "bytes_done": 0, "bytes_total": 0}}
    return run | changes


@pytest.mark.parametrize(("run", "detail"), [
    (a_run(), ""),
    (a_run(progress="step 3/35"), "step 3/35"),
    (a_run(status="queued", queue_position=2), "#2 in queue"),
    (a_run(gpus=[0, 1], progress="step 1/35"), "GPUs 0,1, step 1/35"),
    (a_run(status="completed", download={"status": "downloading", "error": None, "bytes_done": 1, "bytes_total": 4}),
     "downloading 25%"),
    (a_run(status="completed", download={"status": "failed", "error": "disk full", "bytes_done": 0,
                                         "bytes_total": 4}), "download failed: disk full"),
    (a_run(status="failed", error="Container exited with code 1"), "Container exited with code 1"),
])  # fmt: skip
def test_a_runs_detail_says_what_matters_most(run, detail):
    assert run_detail(run) == detail


def test_plain_tables_align_columns_and_keep_each_row_on_one_line():
    table = (["ID", "NAME", "TEXT"], [["ps_1", "a cat", "on a\nmat"], ["ps_22", None, ""]])
    assert plain_lines(table) == [
        "ID     NAME   TEXT",
        "ps_1   a cat  on a mat",
        "ps_22  -      -",
    ]


def test_a_cut_short_list_says_how_many_runs_there_are():
    counts = {"completed": 300, "failed": 12}
    assert showing_line(50, counts, None) == "showing 50 of 312 runs; --all for every run"
    assert showing_line(5, counts, "failed") == "showing 5 of 12 failed runs; --all for every run"
    assert showing_line(5, {"failed": 3}, "failed") == "showing 5 of 6 failed runs; --all for every run"


def test_a_plain_download_is_told_once_per_quarter():
    out = io.StringIO()
    progress = PlainProgress(out)
    for done in (0, 10, 24, 25, 26, 60, 99, 100, 100):
        progress.download("rs_1", done, 100)
    progress.download("rs_2", 5, 0)  # nothing to fetch: whole at once
    progress.start(StartReport("rs_1", "gpu1", StartStep.UPLOADING, "inputs/video.mp4", 5, 10))
    progress.waiting(3)
    assert out.getvalue().splitlines() == [
        "rs_1: downloaded 25% (25/100 B)", "rs_1: downloaded 60% (60/100 B)",
        "rs_1: downloaded 99% (99/100 B)", "rs_1: downloaded 100% (100/100 B)", "rs_2: downloaded 100% (5/0 B)",
    ]


def test_a_plain_download_can_say_nothing():
    out = io.StringIO()
    progress_for(False, out, download_lines=False).download("rs_1", 100, 100)
    assert out.getvalue() == ""


def test_quarters_and_sizes():
    assert [quarter(d, 8) for d in (0, 1, 2, 5, 7, 8, 9)] == [0, 0, 1, 2, 3, 4, 4]
    assert (sizes(512, 900), sizes(1_500_000, 12_000_000), sizes(2 * 10**9, 3 * 10**9)) == \
        ("512/900 B", "1.5/12.0 MB", "2.0/3.0 GB")
    assert (sizes(0, 0), sizes(1500, 4000), size(0), size(999), size(1500), size(12_000_000)) == \
        ("0/0 B", "1.5/4.0 kB", "0 B", "999 B", "1.5 kB", "12.0 MB")


@pytest.mark.parametrize(("number", "said"), [(0, "0 runs"), (1, "1 run"), (2, "2 runs"), (30, "30 runs")])
def test_counts_agree_with_their_number(number, said):
    assert count(number, "run") == said
    assert count(number, "weight set") == said.replace("run", "weight set")


def test_an_upload_tally_sums_a_runs_files_and_restarts_for_the_next_run():
    tally = UploadTally()
    assert not tally.add("scripts/a.sh", 10, 10) and not tally.add("inputs/video.mp4", 0, 100)
    assert not tally.add("inputs/video.mp4", 100, 100)
    assert (tally.sent, tally.total) == (110, 110)
    assert tally.add("scripts/a.sh", 0, 10)  # a sweep's next run uploads the same names again
    assert (tally.sent, tally.total) == (0, 10)


def test_bars_only_for_a_terminal_and_never_for_json():
    assert isinstance(progress_for(False, Terminal()), RichProgress)
    assert isinstance(progress_for(True, Terminal()), PlainProgress)
    assert isinstance(progress_for(False, io.StringIO()), PlainProgress)


def test_rich_bars_show_runs_left_and_bytes_and_nothing_when_idle():
    idle = Terminal()
    with RichProgress(idle) as progress:
        progress.waiting(0)
    assert idle.getvalue() == ""
    shown = Terminal()
    with RichProgress(shown) as progress:
        progress.waiting(2)
        progress.download("rs_1", 3_000_000, 12_000_000)
        progress.waiting(1)
    text = shown.getvalue()
    assert "active runs" in text and "1 left" in text and "50%" in text
    assert "download rs_1" in text and "3.0/12.0 MB" in text and "25%" in text


def test_rich_bars_show_a_starts_steps_on_one_line_and_its_upload_as_a_bar():
    shown = Terminal()
    with RichProgress(shown) as progress:
        progress.start(StartReport("rs_1", "gpu1", StartStep.CONNECTING))
        progress.start(StartReport("rs_1", "gpu1", StartStep.UPLOADING, "inputs/video.mp4", 500, 1000))
        progress.start(StartReport("rs_1", "gpu1", StartStep.STARTING, "docker run"))
    text = shown.getvalue()
    assert "upload inputs/video.mp4" in text and "0.5/1.0 kB" in text
    assert "starting the container on gpu1 (docker run)" in text
    assert "connecting to gpu1" not in text.rsplit("\r", 1)[-1]  # the step line now says the step it is at


def test_runs_limit_and_all():
    parse = build_parser().parse_args
    assert (parse(["runs"]).limit, parse(["runs", "--limit", "7"]).limit, parse(["runs", "--all"]).limit) == \
        (RUNS_SHOWN, 7, None)
    for bad in (["runs", "--limit", "0"], ["runs", "--limit", "x"], ["runs", "--all", "--limit", "3"]):
        with pytest.raises(SystemExit) as exit_info:
            parse(bad)
        assert exit_info.value.code == 2


def test_logs_tail_takes_a_count_of_lines_of_at_least_one():
    """`--tail 0` printed the whole log (0 read as "no tail"): a count below 1 is refused."""
    parse = build_parser().parse_args
    assert (parse(["logs", "rs_1"]).tail, parse(["logs", "rs_1", "--tail", "5"]).tail) == (None, 5)
    for bad in ("0", "-3", "x"):
        with pytest.raises(SystemExit) as exit_info:
            parse(["logs", "rs_1", "--tail", bad])
        assert exit_info.value.code == 2


@pytest.fixture
def loggers():
    """Our logger and paramiko's as they were, after the test."""
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers))
             for name in ("cosmos_core", "paramiko")}
    yield
    for name, (level, handlers) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).handlers[:] = handlers


@pytest.mark.parametrize(("verbosity", "ours", "paramikos"), [
    (0, logging.NOTSET, logging.CRITICAL), (1, logging.DEBUG, logging.CRITICAL), (2, logging.DEBUG, logging.DEBUG),
])  # fmt: skip
def test_verbosity_turns_on_our_log_then_paramikos(loggers, verbosity, ours, paramikos):
    setup_logging(verbosity)
    assert logging.getLogger("cosmos_core").level == ours
    assert logging.getLogger("paramiko").level == paramikos


def test_the_log_writes_to_the_stderr_of_the_moment(loggers, monkeypatch):
    setup_logging(1)
    later = io.StringIO()
    monkeypatch.setattr("sys.stderr", later)  # as rich's progress display does while its bars show
    logging.getLogger("cosmos_core.ssh.host").debug("host gpu1: connected in %.2f s", 0.5)
    assert later.getvalue().endswith(" cosmos_core.ssh.host DEBUG host gpu1: connected in 0.50 s\n")
