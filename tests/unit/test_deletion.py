"""Deleting runs and prompts: which paths may go, the refusals, and the order (a fake host, a real SQLite)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from cosmos_core.config import load_config
from cosmos_core.deletion import DeleteError, Deleter
from cosmos_core.executors.local import LocalFiles, LocalShell
from cosmos_core.executors.shell import ShellExecutor
from cosmos_core.launcher import run_dir_refusal
from cosmos_core.repository import DataRepository
from cosmos_core.ssh.host import HostUnreachable
from cosmos_core.store import tables
from cosmos_core.store.queries import NotFound

CHECKOUT = "/srv/cosmos-transfer1"


@pytest.mark.parametrize("path", [f"{CHECKOUT}/cosmos_runs/rs_1", "cosmos-transfer1/cosmos_runs/rs_1"])
def test_a_runs_own_directory_passes(path):
    assert run_dir_refusal(path, "rs_1") is None and run_dir_refusal(path) is None


@pytest.mark.parametrize("path", [
    f"{CHECKOUT}/cosmos_runs/rs_2", f"{CHECKOUT}/cosmos_runs/rs_1/", f"{CHECKOUT}/cosmos_runs/rs_1/..",
    f"{CHECKOUT}/cosmos_runs/../cosmos_runs/rs_1", f"{CHECKOUT}//cosmos_runs/rs_1", f"{CHECKOUT}/cosmos_runs",
    f"{CHECKOUT}/cosmos_runs/.gpu_queue", f"{CHECKOUT}/cosmos_runs/.", f"{CHECKOUT}/other/rs_1", "/cosmos_runs/rs_1",
    "cosmos_runs/rs_1", "./cosmos_runs/rs_1", "/", "", CHECKOUT, f"{CHECKOUT}/cosmos_runs/rs_1 x",
])  # fmt: skip
def test_anything_else_is_refused(path):
    assert run_dir_refusal(path, "rs_1")


def test_the_shell_removes_exactly_the_run_dir_and_refuses_other_paths(tmp_path):
    checkout = tmp_path / "check out $(touch pwned)"
    mine, other = checkout / "cosmos_runs" / "rs_1", checkout / "cosmos_runs" / "rs_2"
    for d in (mine / "outputs", other / "outputs"):
        d.mkdir(parents=True)
        (d / "output.mp4").write_bytes(b"x" * 10)
    executor = ShellExecutor(LocalShell(), LocalFiles(), 5)
    with pytest.raises(ValueError, match="refusing"):
        executor.delete_run_dir(str(checkout / "cosmos_runs"))
    with pytest.raises(ValueError, match="refusing"):
        executor.delete_run_dir(f"{mine}/../rs_2")
    executor.delete_run_dir(str(mine))
    assert not mine.exists() and (other / "outputs" / "output.mp4").read_bytes() == b"x" * 10
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    executor.delete_run_dir(str(mine))  # gone already: fine


def test_a_run_dir_still_written_to_while_it_is_removed_is_removed(tmp_path):
    """A job stopped a moment before its directory is deleted may still write into it (its exit trap writes the
    marker): rm then fails 'Directory not empty' and is tried again once the writing has stopped."""
    mine = tmp_path / "checkout" / "cosmos_runs" / "rs_1"
    (mine / "outputs").mkdir(parents=True)
    for i in range(2000):
        (mine / "outputs" / f"frame{i}").write_bytes(b"")
    late = f"{shlex.quote(str(mine))}/late$RANDOM"
    writer = subprocess.Popen(["timeout", "0.5", "bash", "-c", f"while :; do touch {late} 2>/dev/null; done"])
    try:
        ShellExecutor(LocalShell(), LocalFiles(), 5).delete_run_dir(str(mine))
    finally:
        writer.wait(timeout=10)
    assert not mine.exists()


class FakeExecutor:
    """Records the directories it was asked to delete; `down` makes it unreachable."""

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.cleaned: list[str] = []
        self.down = False

    def delete_run_dir(self, run_dir: str) -> None:
        if self.down:
            raise HostUnreachable("host gpu1 (u@10.0.0.1:22) unreachable: No route to host")
        self.deleted.append(run_dir)

    def cleanup(self, run_ids) -> None:
        self.cleaned += run_ids


@pytest.fixture
def setup(tmp_path):
    config_file = tmp_path / "cosmos.toml"
    config_file.write_text(
        f'[storage]\ndatabase = "sqlite:///{tmp_path}/cosmos.db"\noutputs_dir = "{tmp_path}/outputs"\n'
        f'[[hosts]]\nname = "gpu1"\nhostname = "10.0.0.1"\nuser = "u"\nremote_dir = "{CHECKOUT}"\n')
    config = load_config(config_file)
    db = tables.connect(config.storage.database)
    repo = DataRepository(config.storage.outputs_dir, config.sync)
    executor = FakeExecutor()
    yield Deleter(repo, {"gpu1": executor}, config), repo, executor
    db.close()


def _video(repo: DataRepository, name: str = "v.mp4") -> Path:
    path = repo.outputs_dir.parent / name
    path.write_bytes(b"\x00")
    return path


def _run(repo: DataRepository, prompt_id: str, run_id: str, status: str = "completed", kind: str = "inference",
         parent_run_id: str | None = None, **fields) -> str:
    repo.create_run(run_id, prompt_id, kind, "gpu1", {"seed": 1}, parent_run_id,
                    remote_run_dir=f"{CHECKOUT}/cosmos_runs/{run_id}")
    repo.update_run(run_id, status=status, **fields)
    (repo.local_dir(run_id) / "outputs").mkdir(parents=True, exist_ok=True)
    (repo.local_dir(run_id) / "outputs" / "output.mp4").write_bytes(b"v" * 2_500_000)
    return run_id


def test_a_finished_run_goes_remote_first_then_local_then_its_row(setup):
    deleter, repo, executor = setup
    prompt = repo.create_prompt("a robot", _video(repo))
    _run(repo, prompt.id, "rs_1")
    _run(repo, prompt.id, "rs_2")
    plan = deleter.plan_run("rs_1")
    assert (plan.local_bytes, plan.remote_dir, plan.host) == (2_500_000, f"{CHECKOUT}/cosmos_runs/rs_1", "gpu1")
    assert executor.deleted == [] and repo.local_dir("rs_1").is_dir()  # planning deletes nothing
    assert repo.count_by_status() == {"completed": 2}
    deleter.delete_run("rs_1")
    assert executor.deleted == [f"{CHECKOUT}/cosmos_runs/rs_1"] and executor.cleaned == ["rs_1"]
    assert not repo.local_dir("rs_1").exists() and repo.local_dir("rs_2").is_dir()
    with pytest.raises(NotFound):
        repo.get_run("rs_1")
    assert repo.count_by_status() == {"completed": 1}  # the counts follow


@pytest.mark.parametrize("status", ["pending", "uploading", "queued", "running"])
def test_an_unfinished_run_is_refused(setup, status):
    deleter, repo, executor = setup
    run_id = _run(repo, repo.create_prompt("a robot", _video(repo)).id, "rs_1", status)
    with pytest.raises(DeleteError, match=f"run rs_1 is {status}: cancel it first"):
        deleter.delete_run(run_id)
    assert executor.deleted == [] and repo.local_dir(run_id).is_dir() and repo.get_run(run_id)


def test_a_download_in_progress_or_a_running_upscale_of_it_is_refused(setup):
    deleter, repo, executor = setup
    prompt = repo.create_prompt("a robot", _video(repo))
    _run(repo, prompt.id, "rs_1", download_status="pending")
    with pytest.raises(DeleteError, match="still downloading"):
        deleter.delete_run("rs_1")
    _run(repo, prompt.id, "rs_2")
    _run(repo, prompt.id, "rs_up", "running", kind="upscale", parent_run_id="rs_2")
    with pytest.raises(DeleteError, match="input of upscale run rs_up, which is running"):
        deleter.delete_run("rs_2")
    repo.update_run("rs_up", status="completed")
    deleter.delete_run("rs_2")  # a finished upscale keeps its own files
    assert repo.local_dir("rs_up").is_dir() and repo.get_run("rs_up").parent_run_id == "rs_2"
    assert executor.deleted == [f"{CHECKOUT}/cosmos_runs/rs_2"]


@pytest.mark.parametrize("recorded", [
    f"{CHECKOUT}/cosmos_runs/rs_2", f"{CHECKOUT}/cosmos_runs/rs_1/../rs_2", "/srv/elsewhere/cosmos_runs/rs_1",
    f"{CHECKOUT}/cosmos_runs", CHECKOUT, "/",
])  # fmt: skip
def test_a_recorded_directory_that_is_not_its_own_is_refused(setup, recorded):
    deleter, repo, executor = setup
    run_id = _run(repo, repo.create_prompt("a robot", _video(repo)).id, "rs_1")
    repo.update_run(run_id, remote_run_dir=recorded)
    with pytest.raises(DeleteError, match="refusing to delete it"):
        deleter.delete_run(run_id)
    assert executor.deleted == [] and repo.local_dir(run_id).is_dir() and repo.get_run(run_id)


def test_an_unreachable_host_deletes_nothing_and_a_retry_does_it_all(setup):
    deleter, repo, executor = setup
    run_id = _run(repo, repo.create_prompt("a robot", _video(repo)).id, "rs_1")
    executor.down = True
    with pytest.raises(DeleteError, match="run rs_1 not deleted .*No route to host"):
        deleter.delete_run(run_id)
    assert (repo.local_dir(run_id) / "outputs" / "output.mp4").is_file() and repo.get_run(run_id)
    executor.down = False
    deleter.delete_run(run_id)
    assert not repo.local_dir(run_id).exists()


def test_a_prompt_with_runs_needs_with_runs_and_takes_only_its_own_kept_inputs(setup):
    deleter, repo, executor = setup
    inputs = repo.outputs_dir / "inputs"
    own, shared = inputs / "aaaa" / "own.mp4", inputs / "bbbb" / "shared.mp4"
    for path in (own, shared):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\x00")
    outside = _video(repo)
    prompt = repo.create_prompt("a robot", own, depth=shared, seg=outside)
    other = repo.create_prompt("a cat", shared)
    _run(repo, prompt.id, "rs_1")
    _run(repo, prompt.id, "rs_2", "failed")
    with pytest.raises(DeleteError, match=f"^2 runs use prompt {prompt.id}: delete them first or pass --with-runs$"):
        deleter.delete_prompt(prompt.id)
    plan = deleter.plan_prompt(prompt.id, with_runs=True)
    assert [r.id for r in plan.runs] == ["rs_2", "rs_1"] and plan.files == (str(own.resolve()),)
    deleter.delete_prompt(prompt.id, with_runs=True)
    assert sorted(executor.deleted) == [f"{CHECKOUT}/cosmos_runs/rs_1", f"{CHECKOUT}/cosmos_runs/rs_2"]
    assert not own.exists() and not own.parent.exists()  # the upload's directory went with it
    assert shared.is_file() and outside.is_file()  # another prompt's, and one the user owns
    assert [p.id for p in repo.list_prompts()] == [other.id]


def test_a_prompt_with_an_unfinished_run_deletes_nothing(setup):
    deleter, repo, executor = setup
    prompt = repo.create_prompt("a robot", _video(repo))
    _run(repo, prompt.id, "rs_1")
    _run(repo, prompt.id, "rs_2", "queued")
    with pytest.raises(DeleteError, match=f"prompt {prompt.id} not deleted: run rs_2 is queued: cancel it first"):
        deleter.delete_prompt(prompt.id, with_runs=True)
    assert executor.deleted == [] and len(repo.runs_of_prompt(prompt.id)) == 2
    repo.update_run("rs_2", status="cancelled")
    deleter.delete_prompt(prompt.id, with_runs=True)
    assert repo.list_prompts() == [] and repo.runs_of_prompt(prompt.id) == []
