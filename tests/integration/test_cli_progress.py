"""Progress bars of the real CLI against the stand-in host (issue 11, point 4): drawn on stderr when it is a
terminal, never when it is a file, never on stdout; `--verbose` logs our I/O edges."""

from __future__ import annotations

import re
from pathlib import Path

from tests.terminal import Stream, run_cli
from tests.workspace import Workspace

OUTPUT_BYTES = 12_000_000
BAR = "━"


def started(workspace: Workspace, prompt: str, tmp_path: Path, terminal: Stream | None) -> tuple[str, str]:
    """`run PROMPT` with stderr on a terminal or in a file: (the run id from stdout, what stderr showed)."""
    with open(tmp_path / "run.stderr", "w+b") as stderr:
        result = run_cli(workspace.config, "run", prompt, terminal=terminal, stderr=stderr)
        stderr.seek(0)
        shown = result.stderr if terminal else stderr.read().decode()
    assert result.returncode == 0, shown
    assert re.fullmatch(r"rs_\w+\n", result.stdout), result.stdout  # stdout holds the id and nothing else
    return result.stdout.strip(), shown


def test_uploads_and_downloads_draw_bars_on_a_terminal_and_a_few_lines_in_a_file(workspace, sample_video, tmp_path):
    prompt = workspace.cli("prompt", "add", f"bars [size={OUTPUT_BYTES}]", "--video", str(sample_video),
                           check=True).stdout.strip()

    quiet, in_file = started(workspace, prompt, tmp_path, terminal=None)
    assert in_file == ""  # no bar, no line per chunk: nothing at all
    workspace.wait_for_marker(quiet)
    with open(tmp_path / "sync.stderr", "w+b") as stderr:
        synced = run_cli(workspace.config, "sync", "--wait", "--timeout", "60", stderr=stderr)
        stderr.seek(0)
        lines = stderr.read().decode().splitlines()
    assert synced.returncode == 0, lines
    told = [line for line in lines if line.startswith(f"{quiet}: downloaded ")]
    assert 1 <= len(told) <= 4 and told[-1] == f"{quiet}: downloaded 100% (12.0/12.0 MB)", lines
    assert lines[-1].startswith("synced: ") and not any(BAR in line or "\x1b" in line for line in lines), lines

    shown_id, drawn = started(workspace, prompt, tmp_path, terminal="stderr")
    assert BAR in drawn and "upload inputs/video.mp4" in drawn and "100%" in drawn, drawn
    assert re.search(r" \d+\.\d/\d+\.\d kB ", drawn), drawn  # the sample video's size
    waited = run_cli(workspace.config, "sync", "--wait", "--timeout", "60", terminal="stderr")
    assert waited.returncode == 0 and waited.stdout == "", waited.stderr
    assert f"download {shown_id}" in waited.stderr and "12.0/12.0 MB" in waited.stderr, waited.stderr
    assert "synced: " in waited.stderr and f"{shown_id}: downloaded" not in waited.stderr  # bars, not lines


def test_json_output_has_no_bars_even_on_a_terminal(workspace, sample_video, tmp_path):
    prompt = workspace.cli("prompt", "add", "json, please", "--video", str(sample_video), check=True).stdout.strip()
    result = run_cli(workspace.config, "run", prompt, "--json", terminal="stderr")
    assert result.returncode == 0 and result.stdout.startswith("{"), result
    assert BAR not in result.stderr and "\x1b" not in result.stderr and "%" not in result.stderr, result.stderr
    workspace.cli("cancel", result.stdout.split('"id": "', 1)[1].split('"', 1)[0], check=True)


def test_verbose_logs_our_ssh_commands_and_probes_and_only_very_verbose_logs_paramiko(workspace):
    plain = workspace.cli("hosts", "check", "gpu1")
    assert plain.returncode == 0 and plain.stderr == "", plain.stderr
    verbose = workspace.cli("-v", "hosts", "check", "gpu1")
    assert verbose.returncode == 0, verbose.stderr
    assert re.search(r"cosmos_core\.ssh\.host DEBUG host gpu1 \(.*\): connected in \d+\.\d\d s", verbose.stderr)
    assert re.search(r"cosmos_core\.ssh\.host DEBUG host gpu1 .*: exit 0 in \d+\.\d\d s: ", verbose.stderr)
    assert " paramiko" not in verbose.stderr, verbose.stderr
    very = workspace.cli("-vv", "hosts", "check", "gpu1")
    assert very.returncode == 0 and re.search(r" paramiko\.transport DEBUG ", very.stderr), very.stderr[-2000:]


def test_sync_wait_shows_the_runs_it_waits_on_and_ends_with_its_timeout_error(workspace, sample_video):
    prompt = workspace.cli("prompt", "add", "slow [sleep=60]", "--video", str(sample_video), check=True).stdout.strip()
    run_id = workspace.cli("run", prompt, check=True).stdout.strip()
    try:
        waited = run_cli(workspace.config, "sync", "--wait", "--timeout", "2", terminal="stderr")
        assert waited.returncode == 1, waited.stderr
        assert "active runs" in waited.stderr and "1 left" in waited.stderr and BAR in waited.stderr
        error = "error: sync --wait: 1 run still active or downloading after 2 s"
        assert waited.stderr.rstrip().endswith(error), waited.stderr[-500:]  # below the bars, not among them
        plain = workspace.cli("sync", "--wait", "--timeout", "2")
        assert plain.returncode == 1 and plain.stderr == error + "\n"
    finally:
        workspace.cli("cancel", run_id, check=True)
