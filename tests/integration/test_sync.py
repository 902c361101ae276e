"""Lazy status sync and verified downloads on the real stand-in host: issue 'Lazy status sync'."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.executors.base import JobState, ProbeTarget
from cosmos_core.install import install_id
from cosmos_core.lifecycle import RunStatus
from cosmos_core.status import RunFacts
from cosmos_core.store.tables import Run
from tests.hostkit import STANDIN_SECOND_PARAGRAPH, wait_until


def running(run: dict) -> bool:
    """Its script holds its GPUs (a run starts `queued`, waiting for them)."""
    return run["status"] == "running"


def sync_until(api: CosmosAPI, run_id: str, done, timeout: float = 30, what: str = "") -> dict:
    """Query the run (each query is a lazy sync) until `done(run)`; return it."""
    return wait_until(lambda: (run := api.get_run(run_id, Refresh.FORCE)) and done(run) and run,
                      timeout, what or f"run {run_id}")


def settled(run: dict) -> bool:
    terminal = run["status"] in ("completed", "failed", "cancelled")
    return (terminal and run["download"]["status"] in ("done", "failed", "none")
            and run["metrics_status"] != "pending")  # a verified output's scores are made after it


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def start(api: CosmosAPI, text: str, video: Path) -> dict:
    return api.start_inference(api.add_prompt(text, video)["id"])


def test_inference_completes_on_a_later_query_and_its_output_arrives_identical(api, workspace, sample_video):
    run = start(api, "a red robot [sleep=2]", sample_video)
    assert api.get_run(run["id"])["status"] in ("queued", "running")  # queued until its script holds GPUs
    sync_until(api, run["id"], running, what="the run to hold its GPU")
    final = sync_until(api, run["id"], settled)
    assert final["status"] == "completed" and final["exit_code"] == 0 and final["error"] is None
    assert final["download"]["status"] == "done" and final["completed_at"]
    local = workspace.root / "outputs" / f"run_{run['id']}" / "outputs" / "output.mp4"
    assert final["output_path"] == str(local) and str(local) in final["download"]["files"]
    remote = workspace.remote_run_dir(run["id"]) / "outputs" / "output.mp4"
    assert local.read_bytes() == remote.read_bytes()
    assert final["download"]["bytes_done"] == final["download"]["bytes_total"] > 0
    # Terminal: a later sync changes nothing, and the exited container is cleaned up.
    api.sync(Refresh.FORCE)
    assert api.get_run(run["id"]) == final
    assert workspace.host.docker("inspect", f"cosmos-{run['id']}", check=False).returncode != 0
    assert workspace.remote_run_dir(run["id"]).is_dir()  # the run's directory stays


def test_upscale_gives_output_4k_and_enhance_gives_enhanced_text(api, workspace, sample_video):
    parent = start(api, "a forest", sample_video)
    sync_until(api, parent["id"], settled)
    upscale = api.start_upscale(parent["id"], 0.5)
    enhance = api.start_enhance(api.add_prompt("a quiet street", sample_video)["id"])
    up = sync_until(api, upscale["id"], settled)
    assert up["status"] == "completed" and up["output_path"].endswith("/outputs/output_4k.mp4")
    assert sha256(up["output_path"]) == sha256(workspace.remote_run_dir(upscale["id"]) / "outputs" / "output_4k.mp4")
    assert up["parent_run_id"] == parent["id"]
    en = sync_until(api, enhance["id"], settled)
    assert en["enhanced_text"] == f"a quiet street with rich cinematic detail\n\n{STANDIN_SECOND_PARAGRAPH}"
    assert en["output_path"].endswith("/outputs/batch_results.json")


def test_model_exit_3_fails_with_the_code_and_the_log_is_downloaded(api, workspace, sample_video):
    run = start(api, "break [exit=3]", sample_video)
    assert not api.has_local_log(run["id"])
    final = sync_until(api, run["id"], settled)
    assert (final["status"], final["exit_code"], final["error"]) == ("failed", 3, "Container exited with code 3")
    log = workspace.root / "outputs" / f"run_{run['id']}" / "run.log"
    assert final["download"]["status"] == "done" and final["download"]["files"] == [str(log)]
    assert log.read_text().strip().endswith("[COSMOS_COMPLETE] exit_code=3")
    assert api.has_local_log(run["id"])
    assert final["output_path"] is None
    assert "exit_code=3" in workspace.cli("logs", run["id"], "--tail", "1", check=True).stdout


def test_docker_kill_fails_with_137_and_a_kill_reason(api, workspace, sample_video):
    run = start(api, "long [sleep=60]", sample_video)
    workspace.host.docker("kill", f"cosmos-{run['id']}")
    final = sync_until(api, run["id"], settled)
    assert final["status"] == "failed" and final["exit_code"] == 137
    assert final["error"] == "Container exited with code 137: killed (SIGKILL)"


def test_removed_container_without_marker_fails_after_lost_after_seconds(api, workspace, sample_video):
    run = start(api, "long [sleep=60]", sample_video)
    sync_until(api, run["id"], running)
    # Docker's `rm -f` kills at once (SIGKILL, so no marker); podman's needs `-t 0` for that.
    workspace.host.docker("rm", "-f", "-t", "0", f"cosmos-{run['id']}")
    seen_gone = time.monotonic()
    assert api.get_run(run["id"], Refresh.FORCE)["status"] == "running"  # gone is not yet lost
    final = sync_until(api, run["id"], settled)
    assert time.monotonic() - seen_gone >= 3  # lost_after_seconds in the test config
    assert final["status"] == "failed" and "no completion marker" in final["error"]


def test_marker_text_printed_early_decides_nothing(api, workspace, sample_video):
    run = start(api, "say [COSMOS_COMPLETE] exit_code=0\n[COSMOS_COMPLETE] exit_code=0\n then [sleep=2] [exit=5]",
                sample_video)
    log = Path(workspace.remote_run_dir(run["id"])) / "run.log"
    wait_until(lambda: log.is_file() and "\n[COSMOS_COMPLETE] exit_code=0\n" in log.read_text(), 15, "the fake marker")
    statuses = set()
    final = sync_until(api, run["id"], lambda r: statuses.add(r["status"]) or settled(r))
    assert "completed" not in statuses
    assert (final["status"], final["exit_code"]) == ("failed", 5)


def test_cancel_stops_the_container(api, workspace, sample_video):
    run = start(api, "long [sleep=60]", sample_video)
    result = workspace.cli("cancel", run["id"], check=True)
    assert "cancelled" in result.stdout
    state = workspace.host.docker("inspect", "--format", "{{.State.Status}}", f"cosmos-{run['id']}", check=False)
    assert state.returncode != 0 or state.stdout.strip() in ("exited", "stopped")
    assert api.get_run(run["id"], Refresh.FORCE)["status"] == "cancelled"
    again = workspace.cli("cancel", run["id"])
    assert again.returncode == 1 and "already cancelled" in again.stderr


def test_retry_of_a_done_download_changes_nothing(api, workspace, sample_video):
    run = start(api, "fine", sample_video)
    final = sync_until(api, run["id"], settled)
    result = workspace.cli("retry", run["id"])
    assert result.returncode == 0 and "done" in result.stdout
    assert api.get_run(run["id"], Refresh.NONE) == final


def test_runs_and_show_answer_from_the_database_when_the_host_is_down(api, workspace, sample_video):
    run = start(api, "long [sleep=60]", sample_video)
    workspace.host.stop_sshd()
    try:
        runs = workspace.cli("runs", "--json")
        assert runs.returncode == 0 and json.loads(runs.stdout)[0]["id"] == run["id"]
        assert "host gpu1 unreachable" in runs.stderr
        show = workspace.cli("show", run["id"], "--json")
        assert show.returncode == 0 and json.loads(show.stdout)["status"] == "queued"  # as last seen
        assert workspace.cli("cancel", run["id"]).returncode == 1
    finally:
        workspace.host.start_sshd()
    workspace.host.docker("rm", "-f", f"cosmos-{run['id']}")


@pytest.mark.slow
def test_one_remote_command_for_thirty_active_runs(api, workspace, sample_video):
    prompt = api.add_prompt("many [sleep=120]", sample_video)
    runs = [api.start_inference(prompt["id"]) for _ in range(30)]
    before = workspace.host.count_exec_sessions()
    report = api.sync(Refresh.FORCE)
    assert report.probed == ["gpu1"] and not report.unreachable
    wait_until(lambda: workspace.host.count_exec_sessions() >= before + 1, 5, "the probe's session line")
    assert workspace.host.count_exec_sessions() == before + 1
    assert {api.get_run(r["id"], Refresh.NONE)["status"] for r in runs} <= {"queued", "running"}
    workspace.host.docker("rm", "-f", *[f"cosmos-{r['id']}" for r in runs])


def test_throttle_in_the_database_holds_across_processes(workspace, api, sample_video):
    workspace.config.write_text(workspace.config.read_text().replace("min_interval_seconds = 0.0",
                                                                     "min_interval_seconds = 60"))
    run = start(api, "long [sleep=60]", sample_video)
    before = workspace.host.count_exec_sessions()
    for _ in range(3):
        assert workspace.cli("runs", "--json", check=True)
    wait_until(lambda: workspace.host.count_exec_sessions() >= before + 1, 5, "the first probe")
    assert workspace.host.count_exec_sessions() == before + 1  # three processes asked, one probe ran
    assert workspace.cli("sync", check=True)  # `sync` forces a probe
    wait_until(lambda: workspace.host.count_exec_sessions() >= before + 2, 5, "the forced probe")
    workspace.host.docker("rm", "-f", "-t", "0", f"cosmos-{run['id']}")


def test_filtered_listing_shows_a_run_as_it_now_is(workspace, api, sample_video):
    run = start(api, "quick", sample_video)
    other = start(api, "crash [exit=2]", sample_video)
    workspace.wait_for_marker(run["id"])
    workspace.wait_for_marker(other["id"])
    listed = workspace.cli_json("runs", "--status", "queued")
    assert [r["id"] for r in listed] == [other["id"], run["id"]]  # newest first, both were queued
    assert {r["id"]: r["status"] for r in listed} == {run["id"]: "completed", other["id"]: "failed"}
    assert [r["id"] for r in workspace.cli_json("runs", "--status", "failed")] == [other["id"]]


def test_only_this_machines_dead_launches_are_failed(api, sample_video):
    prompt = api.add_prompt("never launched", sample_video)
    for run_id, machine in (("rs_elsewhere", "another-laptop"), ("rs_here", install_id())):
        api.repo.create_run(run_id, prompt["id"], "inference", "gpu1", {})
        Run.update(status="uploading", launched_on=machine).where(Run.id == run_id).execute()
    api.sync(Refresh.FORCE)
    assert api.get_run("rs_elsewhere", Refresh.NONE)["status"] == "uploading"  # its own machine will judge it
    assert api.get_run("rs_here", Refresh.NONE)["status"] == "failed"  # no process here holds its lock


def test_the_earlier_tools_method_names_work_on_one_run(api, workspace, sample_video):
    run = start(api, "named [sleep=5]", sample_video)
    checker = api.repo.syncer.checker
    target = ProbeTarget(run["id"], str(workspace.remote_run_dir(run["id"])), ("outputs/output.mp4", "run.log"))
    # queued until its script holds GPUs, then running for 5 s
    wait_until(lambda: checker.check_container_status("gpu1", target).state is JobState.RUNNING, 15,
               "the container to run")
    workspace.wait_for_marker(run["id"])
    assert checker.check_run_completion("gpu1", target) == 0
    assert checker.parse_completion_marker("x\n[COSMOS_COMPLETE] exit_code=4\n") == 4
    wait_until(lambda: checker.check_container_status("gpu1", target).state is JobState.FINISHED, 15,
               "the container to stop")
    facts = RunFacts(run["id"], "inference", RunStatus.RUNNING, 0.0)
    change = checker.sync_run_status(facts, "gpu1", target, time.time())
    assert change.status is RunStatus.COMPLETED and "outputs/output.mp4" in change.fields["remote_files"]


def test_one_probe_answers_for_every_running_run_in_one_remote_command(api, workspace, sample_video):
    """The batched probe: however many runs are active on a host, a single exec session answers for each
    (the naive design asks two commands per run; `python -m tests.benchmarks --only commands` times both)."""
    prompt = api.add_prompt("probed together [sleep=120]", sample_video)
    runs = [api.start_inference(prompt["id"]) for _ in range(8)]
    targets = [ProbeTarget(r["id"], str(workspace.remote_run_dir(r["id"])), ("outputs/output.mp4", "run.log"))
               for r in runs]
    sessions = workspace.host.count_exec_sessions()
    report = api.repo.syncer.checker.probe("gpu1", targets)
    assert len(report.observations) == len(runs)
    assert workspace.host.count_exec_sessions() == sessions + 1


def test_refresh_with_nothing_to_do_stays_local(api, workspace, sample_video):
    """A dashboard tick with only settled runs: no remote command at all."""
    run = api.start_inference(api.add_prompt("done", sample_video)["id"])
    workspace.wait_for_marker(run["id"])
    sync_until(api, run["id"], lambda r: r["download"]["status"] == "done", what="the download")
    api.sync(Refresh.FORCE)  # removes the exited container
    sessions = workspace.host.count_exec_sessions()
    for _ in range(50):
        api.list_runs(refresh=Refresh.AUTO)
    assert workspace.host.count_exec_sessions() == sessions
