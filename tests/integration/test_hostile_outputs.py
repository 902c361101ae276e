"""Remote outputs that are not what they seem: symlinks out of the run's directory, a directory or a
FIFO where output.mp4 should be, and a checkout path full of shell metacharacters (issue 'Prove it':
faults and bad input).

The container can write anything into its run's directory on the host (it is bind-mounted), so a
buggy or hostile model can leave a symlink to a host file there. Whatever it leaves, nothing is
written outside outputs/run_<id>/, no host file outside the run's directory comes back, and the
reason the user reads is the real one (not "sha256 mismatch").
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.sync import MAX_DOWNLOAD_ATTEMPTS
from tests.integration.test_sync import settled, sha256, start, sync_until
from tests.workspace import Workspace

PASSWD = Path("/etc/passwd")
def outside_run_dir(workspace: Workspace, run_id: str) -> dict[str, float]:
    """Every path under the workspace except the run's own directory and the database, with its mtime."""
    own = workspace.root / "outputs" / f"run_{run_id}"
    return {str(p): p.lstat().st_mtime for p in workspace.root.rglob("*")
            if own not in (p, *p.parents) and not p.name.startswith("cosmos.db")}


def ended_run(api: CosmosAPI, workspace: Workspace, video: Path) -> str:
    """A run whose container has ended with its output written; nothing synced yet."""
    run = start(api, "fine", video)
    workspace.wait_for_marker(run["id"])
    workspace.wait_until_exited(run["id"])
    return run["id"]


def settle(api: CosmosAPI, run_id: str, turns: int = MAX_DOWNLOAD_ATTEMPTS + 1) -> dict:
    """Sync (each time downloading to the end) until the run and its download settle; at most `turns` times."""
    for _ in range(turns):
        api.sync(Refresh.FORCE)
        run = api.get_run(run_id, Refresh.NONE)
        if settled(run):
            break
    return run


def sync_after(api: CosmosAPI, workspace: Workspace, run_id: str, inject: Callable[[Path], None]) -> dict:
    """Inject into the run's remote dir, let a sync decide the run and the next ones download it; the run,
    which must have settled (a download that cannot succeed gives up after its attempts)."""
    before = outside_run_dir(workspace, run_id)
    inject(workspace.remote_run_dir(run_id))
    api.sync(Refresh.FORCE, deadline=time.monotonic())  # decide now, download later
    final = settle(api, run_id)
    assert settled(final), final
    assert outside_run_dir(workspace, run_id) == before  # nothing written or touched outside outputs/run_<id>/
    local = workspace.root / "outputs" / f"run_{run_id}"
    assert not [p for p in local.rglob("*") if p.is_symlink()]
    for path in (p for p in local.rglob("*") if p.is_file()):
        assert PASSWD.read_bytes()[:64] not in path.read_bytes(), f"{path} holds a host file"
    return final


def symlink_output_to(target: Path) -> Callable[[Path], None]:
    def inject(run_dir: Path) -> None:
        output = run_dir / "outputs" / "output.mp4"
        output.unlink()
        output.symlink_to(target)

    return inject


def test_an_output_symlinked_to_a_host_file_is_refused_for_what_it_is(api, workspace, sample_video):
    """Injects: outputs/output.mp4 on the host replaced, after the run ended, by a symlink to /etc/passwd."""
    run_id = ended_run(api, workspace, sample_video)
    final = sync_after(api, workspace, run_id, symlink_output_to(PASSWD))
    assert final["status"] == "failed" and final["download"]["status"] == "done"  # the log still comes back
    assert "symlink to /etc/passwd" in final["error"] and "sha256" not in final["error"], final["error"]


def test_an_output_symlinked_to_a_big_file_is_refused_without_reading_it(api, workspace, sample_video, tmp_path):
    """Injects: outputs/output.mp4 replaced by a symlink to a 256 MB (sparse) file outside the run's dir."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(256 * 1024**2)
    os.utime(big, (0, big.stat().st_mtime))  # atime before mtime: the first read moves it (relatime)
    run_id = ended_run(api, workspace, sample_video)
    final = sync_after(api, workspace, run_id, symlink_output_to(big))
    assert big.stat().st_atime == 0, "the big file was read (hashed or transferred)"
    reason = final["download"]["error"] if final["status"] == "completed" else final["error"]
    assert "symlink" in (reason or "") and "sha256" not in reason, final


def test_a_file_that_never_verifies_fails_its_download_after_its_attempts(api, workspace, sample_video):
    """Injects: the host's sha256 of output.mp4 never matches the bytes that arrive, as if the file
    changed between the host's hash and the transfer every time (a writer racing the download cannot
    promise that on a busy machine)."""
    run_id = ended_run(api, workspace, sample_video)
    wrong = f'echo {"0" * 64} "$2"'
    with workspace.host.tool("openssl", wrong), workspace.host.tool("sha256sum", wrong):
        api.sync(Refresh.FORCE, deadline=time.monotonic())  # decided completed (a small file's hash comes now)
        final = settle(api, run_id)
    assert (final["status"], final["download"]["status"]) == ("completed", "failed"), final["download"]
    assert "sha256 mismatch" in final["download"]["error"]


def directory_output(run_dir: Path) -> None:
    (run_dir / "outputs" / "output.mp4").unlink()
    (run_dir / "outputs" / "output.mp4").mkdir()
    (run_dir / "outputs" / "output.mp4" / "frame.png").write_bytes(b"not a video")


def fifo_output(run_dir: Path) -> None:
    (run_dir / "outputs" / "output.mp4").unlink()
    os.mkfifo(run_dir / "outputs" / "output.mp4")  # reading it would wait for a writer forever


@pytest.mark.parametrize("inject", [directory_output, fifo_output], ids=["directory", "fifo"])
def test_an_output_that_is_not_a_file_fails_the_run_saying_so(api, workspace, sample_video, inject):
    """Injects: outputs/output.mp4 replaced, after the run ended, by a directory or by a named pipe."""
    run_id = ended_run(api, workspace, sample_video)
    started = time.monotonic()
    final = sync_after(api, workspace, run_id, inject)
    assert time.monotonic() - started < 15  # nothing waited on the pipe
    assert (final["status"], final["exit_code"]) == ("failed", 0)
    assert final["error"].startswith("Container exited with code 0 but wrote no outputs/output.mp4"), final["error"]
    assert final["download"]["status"] == "done"  # its log, for the user to read
    assert [Path(f).name for f in final["download"]["files"]] == ["run.log"]
    assert sha256(final["download"]["files"][0]) == sha256(workspace.remote_run_dir(run_id) / "run.log")


def test_a_log_symlinked_to_a_host_file_is_not_downloaded(api, workspace, sample_video):
    """Injects: run.log replaced, after the run ended and was decided, by a symlink to /etc/passwd."""
    run_id = ended_run(api, workspace, sample_video)
    api.sync(Refresh.FORCE, deadline=time.monotonic())  # decided completed from the real log

    def inject(run_dir: Path) -> None:
        (run_dir / "run.log").unlink()
        (run_dir / "run.log").symlink_to(PASSWD)

    final = sync_after(api, workspace, run_id, inject)
    assert final["status"] == "completed" and final["download"]["status"] == "failed"
    assert "symlink" in final["download"]["error"] and "sha256" not in final["download"]["error"]


def test_a_checkout_path_full_of_shell_metacharacters_is_only_ever_data(workspace, sample_video, tmp_path):
    """Injects: the host's remote_dir is a path with spaces, quotes, `$(...)`, backticks and `;` in it (a
    symlink to the real checkout): uploads, docker run, probe, hashing and download must all treat it as
    a name, never run a piece of it."""
    canary = f"cosmos-canary-{secrets.token_hex(4)}"
    odd = Path(workspace.host.remote_dir).parent / f"it's a \"dir\" $(touch {canary}) `touch {canary}`; touch {canary}"
    odd.symlink_to(workspace.host.remote_dir)
    try:
        toml = str(odd).replace("\\", "\\\\").replace('"', '\\"')
        text = workspace.config.read_text().replace(f'remote_dir = "{workspace.host.remote_dir}"',
                                                    f'remote_dir = "{toml}"')
        workspace.config.write_text(text)
        api = workspace.api()
        try:
            run = start(api, "odd checkout [sleep=1]", sample_video)
            assert run["status"] == "queued"
            final = sync_until(api, run["id"], settled)
        finally:
            api.close()
        assert (final["status"], final["download"]["status"]) == ("completed", "done"), final
        assert sha256(final["output_path"]) == sha256(odd / "cosmos_runs" / run["id"] / "outputs" / "output.mp4")
        for where in (Path.home(), workspace.root, odd.parent, Path("/")):
            assert not (where / canary).exists(), f"a piece of the path ran as a command in {where}"
    finally:
        odd.unlink()


def test_odd_names_beside_the_output_are_left_on_the_host(api, workspace, sample_video):
    """Injects: beside output.mp4, files whose names hold a newline, a tab, a leading dash, control bytes,
    shell metacharacters, a `.part` twin and `..`-like names, and a symlink out of the run's directory."""
    run_id = ended_run(api, workspace, sample_video)

    def inject(run_dir: Path) -> None:
        outputs = run_dir / "outputs"
        for name in ("a\nb.mp4", "tab\there", "-rf", "\x01\x1b[31m", "$(touch x)", "output.mp4.part", "..."):
            (outputs / name).write_bytes(b"odd")
        (outputs / ".." / "run.log\nF\tforged").write_bytes(b"odd")
        (outputs / "escape").symlink_to("/etc")

    final = sync_after(api, workspace, run_id, inject)
    assert (final["status"], final["download"]["status"]) == ("completed", "done"), final
    assert sha256(final["output_path"]) == sha256(workspace.remote_run_dir(run_id) / "outputs" / "output.mp4")
    local = workspace.root / "outputs" / f"run_{run_id}"
    assert sorted(str(p.relative_to(local)) for p in local.rglob("*")) == [  # and what scoring made of it
        ".lock", ".scoring.lock", "outputs", "outputs/output.mp4", "outputs/thumb.jpg", "run.log"]
