"""Every branch of the status rules (SPEC.md "Status rules")."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosmos_core.executors.base import FileFacts, JobState, Observation
from cosmos_core.executors.docker_cli import ContainerState
from cosmos_core.executors.docker_probe import observed
from cosmos_core.lifecycle import RunStatus
from cosmos_core.status import RunFacts, decide, exit_reason

NOW = 1000.0
LOST = 120.0


OUTPUT = {"outputs/output.mp4": FileFacts(10, "ab")}


def run(status=RunStatus.RUNNING, missing_since=None, kind="inference", model="transfer1", progress=None,
        queue_position=None):
    return RunFacts("rs_1", kind, status, created_at=0.0, missing_since=missing_since, model=model,
                    progress=progress, queue_position=queue_position)


def container(status="exited", code=0, oom=False):
    return ContainerState("cosmos-rs_1", status, code, oom)


def seen(c=None, marker=None, files=None, stage="", counter="", reasons=()):
    """What a probe saw; a run that exited 0 wrote its video unless `files` says otherwise."""
    if files is None:
        files = OUTPUT if marker == 0 else {}
    return Observation(**observed(c, "cosmos-rs_1"), marker_exit=marker, files=files, stage_line=stage,
                       counter_line=counter, reason_lines=tuple(reasons))


def test_running_container_changes_nothing_even_with_a_marker_in_the_log():
    assert decide(run(), seen(container("running"), marker=0), NOW, LOST) is None
    assert decide(run(), seen(container("paused")), NOW, LOST) is None


def test_running_again_clears_missing_since():
    change = decide(run(missing_since=900), seen(container("running")), NOW, LOST)
    assert change.fields == {"missing_since": None} and change.status is RunStatus.RUNNING


def test_exit_zero_by_marker_completes_and_queues_the_download():
    files = {"outputs/output.mp4": FileFacts(10, "ab"), "run.log": FileFacts(5, "cd"), "other": FileFacts(1, "x")}
    change = decide(run(), seen(container("exited", 0), marker=0, files=files), NOW, LOST)
    assert change.status is RunStatus.COMPLETED
    assert change.expect is RunStatus.RUNNING
    assert change.fields["exit_code"] == 0 and change.fields["error"] is None
    assert change.fields["completed_at"] == NOW
    assert change.fields["download_status"] == "pending"
    assert change.fields["remote_files"] == {"outputs/output.mp4": [10, "ab", None], "run.log": [5, "cd", None]}


def test_last_marker_gives_the_code_over_the_container_code():
    change = decide(run(), seen(container("exited", 0), marker=5), NOW, LOST)
    assert change.status is RunStatus.FAILED
    assert change.fields["exit_code"] == 5
    assert change.fields["error"] == "Container exited with code 5"


def test_nonzero_marker_fails_and_downloads_only_the_log():
    files = {"outputs/output.mp4": FileFacts(10, "ab"), "run.log": FileFacts(5, "cd")}
    change = decide(run(), seen(container("exited", 3), marker=3, files=files), NOW, LOST)
    assert change.fields["error"] == "Container exited with code 3"
    assert change.fields["remote_files"] == {"run.log": [5, "cd", None]}
    assert change.fields["download_status"] == "pending"


@pytest.mark.parametrize(
    "code, oom, error",
    [
        (137, False, "Container exited with code 137: killed (SIGKILL)"),
        (137, True, "Container exited with code 137: out of memory (OOMKilled)"),
        (143, False, "Container exited with code 143: terminated (SIGTERM)"),
        (1, False, "Container exited with code 1"),
    ],
)
def test_exited_without_marker_uses_the_container_code_and_reason(code, oom, error):
    change = decide(run(), seen(container("exited", code, oom)), NOW, LOST)
    assert change.status is RunStatus.FAILED
    assert change.fields["exit_code"] == code
    assert change.fields["error"] == error


def test_container_exited_zero_without_marker_fails():
    change = decide(run(), seen(container("exited", 0)), NOW, LOST)
    assert change.status is RunStatus.FAILED and change.fields["exit_code"] == 0
    assert change.fields["error"] == "Container exited with code 0 but its log has no completion marker"


def test_gone_with_marker_is_decided_by_the_marker():
    assert decide(run(), seen(None, marker=0), NOW, LOST).status is RunStatus.COMPLETED
    assert decide(run(), seen(None, marker=2), NOW, LOST).fields["exit_code"] == 2


def test_gone_without_marker_is_first_noted_then_failed_after_lost_after():
    first = decide(run(), seen(None), NOW, LOST)
    assert first.fields == {"missing_since": NOW} and first.status is RunStatus.RUNNING
    assert decide(run(missing_since=NOW), seen(None), NOW + LOST - 1, LOST) is None
    final = decide(run(missing_since=NOW), seen(None), NOW + LOST, LOST)
    assert final.status is RunStatus.FAILED
    assert final.fields["exit_code"] is None
    assert "no completion marker" in final.fields["error"]


@pytest.mark.parametrize("status", [s for s in RunStatus if s.is_terminal()])
def test_terminal_runs_never_change(status):
    assert decide(run(status), seen(container("exited", 0), marker=0), NOW, LOST) is None
    assert decide(run(status), seen(None), NOW + 10 * LOST, LOST) is None


@pytest.mark.parametrize("status", [RunStatus.PENDING, RunStatus.UPLOADING])
def test_an_orphaned_launch_without_a_container_fails(status):
    change = decide(run(status), seen(None), NOW, LOST)
    assert change.status is RunStatus.FAILED and "stopped before its job started" in change.fields["error"]


@pytest.mark.parametrize("state", ["running", "exited"])
def test_an_orphaned_launch_with_a_container_becomes_running_first(state):
    change = decide(run(RunStatus.UPLOADING), seen(container(state, 0), marker=0), NOW, LOST)
    assert change.status is RunStatus.RUNNING
    assert change.fields["container_id"] == "cosmos-rs_1" and change.fields["started_at"] == NOW


def test_exit_reason_table():
    assert exit_reason(130) == "interrupted (SIGINT)"
    assert exit_reason(2) == ""


def test_status_only_moves_forward():
    assert RunStatus.PENDING.can_move_to(RunStatus.RUNNING)
    assert RunStatus.RUNNING.can_move_to(RunStatus.FAILED)
    assert not RunStatus.RUNNING.can_move_to(RunStatus.UPLOADING)
    for terminal in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED):
        assert terminal.is_terminal()
        assert not any(terminal.can_move_to(other) for other in RunStatus)


states = st.sampled_from(["running", "created", "exited", "dead", "stopped", "paused"])
containers = st.one_of(st.none(), st.builds(ContainerState, st.just("cosmos-rs_1"), states,
                                            st.integers(-1, 255), st.booleans()))


@given(status=st.sampled_from(list(RunStatus)), c=containers, marker=st.one_of(st.none(), st.integers(0, 255)),
       missing=st.one_of(st.none(), st.floats(0, NOW)), now=st.floats(NOW, NOW + 1000))
def test_decide_never_moves_backwards_and_running_containers_decide_nothing(status, c, marker, missing, now):
    change = decide(run(status, missing), seen(c, marker), now, LOST)
    if change is None:
        return
    assert change.expect is status
    assert change.status is status or status.can_move_to(change.status)
    if c is not None and not c.stopped and c.status != "created" and status is RunStatus.RUNNING:
        assert change.status is status
    if change.status is RunStatus.COMPLETED:
        assert change.fields["exit_code"] == 0
    if marker is not None and change.status.is_terminal() and status is RunStatus.RUNNING:
        died_otherwise = c is not None and c.stopped and c.exit_code not in (0, marker)
        assert change.fields["exit_code"] == (c.exit_code if died_otherwise else marker)


def test_exit_zero_without_the_video_fails_with_the_log_reason():
    """Transfer2.5 exits 0 and writes no video when its guardrail blocks the prompt."""
    blocked = "[12-01 10:00:00|CRITICAL|cosmos_transfer2/inference.py:216:generate] Guardrail blocked generation. " \
              "Prompt: a bad prompt"
    change = decide(run(model="transfer2.5"), seen(container("exited", 0), marker=0, files={}, reasons=[blocked]),
                    NOW, LOST)
    assert change.status is RunStatus.FAILED and change.fields["exit_code"] == 0
    assert change.fields["error"] == ("Container exited with code 0 but wrote no outputs/output.mp4: "
                                      "blocked by the guardrail: Prompt: a bad prompt")


def test_a_failure_names_the_reason_the_log_gives():
    lines = ["[12-01 10:00:00|CRITICAL|cosmos_transfer1/auxiliary/guardrail/common/presets.py:55:run_text_guardrail] "
             "GUARDRAIL BLOCKED: BLOCKLIST: Prompt blocked by censorship: Censored Prompt: x",
             "TypeError: cannot unpack non-iterable NoneType object",
             "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: "]
    change = decide(run(), seen(container("exited", 1), marker=1, reasons=lines), NOW, LOST)
    assert change.fields["error"] == ("Container exited with code 1: blocked by the guardrail: "
                                      "BLOCKLIST: Prompt blocked by censorship: Censored Prompt: x")
    oom = decide(run(), seen(container("exited", 137, oom=True), reasons=["RuntimeError: boom"]), NOW, LOST)
    assert oom.fields["error"] == "Container exited with code 137: out of memory (OOMKilled); RuntimeError: boom"


def test_a_running_run_notes_its_stage_and_progress_once():
    stage = "[12-01 10:00:00|INFO|cosmos_transfer1/diffusion/inference/world_generation_pipeline.py:615:_run_model]" \
            " Starting diffusion sampling"
    change = decide(run(), seen(container("running"), stage=stage, counter="  50%|#####     | 1/2 [00:02<00:02]"),
                    NOW, LOST)
    assert change.fields == {"progress": "diffusion sampling · 1/2 chunks"} and change.status is RunStatus.RUNNING
    same = decide(run(progress="diffusion sampling · 1/2 chunks"), seen(container("running"), stage=stage,
                  counter="  50%|#####     | 1/2 [00:02<00:02]"), NOW, LOST)
    assert same is None


def test_a_finished_run_forgets_its_progress():
    change = decide(run(progress="decoding"), seen(container("exited", 0), marker=0), NOW, LOST)
    assert change.fields["progress"] is None and change.status is RunStatus.COMPLETED


def test_a_marker_echoed_before_a_kill_does_not_complete_the_run():
    """The script exits with its marker's code; a killed container with a 0 marker echoed by the model failed."""
    change = decide(run(), seen(container("exited", 137), marker=0), NOW, LOST)
    assert change.status is RunStatus.FAILED and change.fields["exit_code"] == 137
    assert change.fields["error"] == "Container exited with code 137: killed (SIGKILL)"
    stopped = decide(run(), seen(container("exited", 143), marker=143), NOW, LOST)
    assert stopped.fields["exit_code"] == 143  # docker stop: the trap wrote the marker, same code


def test_a_container_stuck_in_created_fails_after_lost_after():
    first = decide(run(), seen(container("created")), NOW, LOST)
    assert first.fields == {"missing_since": NOW} and first.status is RunStatus.RUNNING
    assert decide(run(missing_since=NOW), seen(container("created")), NOW + LOST - 1, LOST) is None
    final = decide(run(missing_since=NOW), seen(container("created")), NOW + LOST, LOST)
    assert final.status is RunStatus.FAILED
    assert final.fields["error"] == (
        "Container was created but never started and its log has no completion marker (lost for 120 s)")


def test_exit_zero_with_a_symlinked_video_fails_naming_the_link():
    files = {"outputs/output.mp4": FileFacts(0, symlink_to="/etc/passwd"), "run.log": FileFacts(5)}
    change = decide(run(), seen(container("exited", 0), marker=0, files=files), NOW, LOST)
    assert change.status is RunStatus.FAILED
    assert change.fields["error"] == ("Container exited with code 0 but outputs/output.mp4 is a symlink to "
                                      "/etc/passwd, not a file the run wrote")
    assert change.fields["remote_files"] == {"run.log": [5, None, None]}


def job(state, code=None, reason="", marker=None, files=None):
    """What an engine that is not Docker (Slurm, say) saw."""
    return Observation(state=state, exit_code=code, reason=reason, subject="Job", marker_exit=marker,
                       files=OUTPUT if files is None and marker == 0 else (files or {}), handle="42")


def test_a_queued_job_says_what_it_waits_for_and_starts_running_when_it_runs():
    waiting = decide(run(RunStatus.QUEUED), job(JobState.QUEUED, reason="Resources"), NOW, LOST)
    assert waiting.fields == {"progress": "waiting for Resources"} and waiting.status is RunStatus.QUEUED
    assert decide(run(RunStatus.QUEUED, progress="waiting for Resources"), job(JobState.QUEUED, reason="Resources"),
                  NOW, LOST) is None
    started = decide(run(RunStatus.QUEUED, progress="waiting for Resources"), job(JobState.RUNNING), NOW, LOST)
    assert started.fields == {"status": "running", "started_at": NOW, "progress": None}


def test_a_running_run_never_goes_back_to_queued():
    assert decide(run(RunStatus.RUNNING), job(JobState.QUEUED, reason="Priority"), NOW, LOST) is None


def test_an_orphaned_launch_whose_job_is_queued_becomes_queued_with_its_handle():
    change = decide(run(RunStatus.UPLOADING), job(JobState.QUEUED), NOW, LOST)
    assert change.fields == {"status": "queued", "queued_at": NOW, "container_id": "42"}  # no GPUs yet: not started


@pytest.mark.parametrize(("code", "reason", "error"), [
    (143, "time limit reached (Slurm TIMEOUT)", "Job exited with code 143: time limit reached (Slurm TIMEOUT)"),
    (3, "", "Job exited with code 3"),
    (0, "cancelled outside the dashboard (Slurm CANCELLED)",
     "Job exited with code 0: cancelled outside the dashboard (Slurm CANCELLED)"),
])
def test_a_finished_job_without_a_marker_fails_with_the_engines_reason(code, reason, error):
    change = decide(run(), job(JobState.FINISHED, code, reason), NOW, LOST)
    assert change.status is RunStatus.FAILED and change.fields["error"] == error and change.fields["exit_code"] == code


def test_a_job_killed_at_its_time_limit_after_echoing_success_is_not_completed():
    change = decide(run(), job(JobState.FINISHED, 143, "time limit reached (Slurm TIMEOUT)", marker=0), NOW, LOST)
    assert change.status is RunStatus.FAILED and change.fields["exit_code"] == 143


def test_a_finished_job_with_its_marker_completes_whatever_the_engine():
    assert decide(run(), job(JobState.FINISHED, 0, marker=0), NOW, LOST).status is RunStatus.COMPLETED


def test_a_run_in_the_hosts_gpu_queue_shows_its_place_then_its_gpus():
    waiting = Observation(state=JobState.QUEUED, reason="GPUs", queue_position=3, handle="cosmos-rs_1")
    change = decide(run(RunStatus.QUEUED), waiting, NOW, LOST)
    assert change.fields == {"progress": "waiting for GPUs", "queue_position": 3}
    moved_up = decide(run(RunStatus.QUEUED, progress="waiting for GPUs", queue_position=3),
                      Observation(state=JobState.QUEUED, reason="GPUs", queue_position=1), NOW, LOST)
    assert moved_up.fields == {"queue_position": 1}
    started = decide(run(RunStatus.QUEUED, progress="waiting for GPUs", queue_position=1),
                     Observation(state=JobState.RUNNING, gpus="0,1"), NOW, LOST)
    assert started.fields == {"status": "running", "started_at": NOW, "queue_position": None, "gpus": "0,1",
                              "progress": None}


# -- a job the engine did not answer for in time (a slow docker daemon) ------------------------------


def unknown(marker=None, files=None, stage="", counter="", gpus=None, queue_position=None):
    return Observation(JobState.UNKNOWN, reason="docker did not answer about its container in time",
                       marker_exit=marker, files=files or {}, stage_line=stage, counter_line=counter,
                       reason_lines=("Traceback (most recent call last):",), gpus=gpus, queue_position=queue_position)


@given(status=st.sampled_from(list(RunStatus)), missing=st.one_of(st.none(), st.floats(0, NOW)),
       marker=st.one_of(st.none(), st.integers(0, 255)), with_output=st.booleans(),
       lost_after=st.floats(0, LOST), now=st.floats(NOW, NOW + 10 * LOST), gpus=st.sampled_from([None, "0", "0,1"]),
       place=st.one_of(st.none(), st.integers(1, 9)))
def test_a_job_not_answered_for_decides_nothing_however_long_it_has_been_missing(status, missing, marker, with_output,
                                                                                 lost_after, now, gpus, place):
    """Unknown is never gone: no status, no failure after lost_after (not even 0 s), and no field moves
    (missing_since is neither set nor cleared; a marker in the log decides nothing: it may still run)."""
    seen = unknown(marker, OUTPUT if with_output else None, "stage", " 10%|", gpus, place)
    assert decide(run(status, missing, progress="step 1/9", queue_position=1), seen, now, lost_after) is None


@pytest.mark.parametrize("status", [RunStatus.PENDING, RunStatus.UPLOADING])
def test_an_orphaned_launch_whose_job_is_not_answered_for_waits(status):
    assert decide(run(status), unknown(), NOW, 0.0) is None


def test_a_run_missing_then_not_answered_for_then_gone_fails_on_the_first_time_it_is_gone_again():
    """The time it was first seen gone still counts: unknown in between neither resets nor fails it."""
    noted = decide(run(), seen(None), NOW, LOST)
    assert noted is not None and noted.fields == {"missing_since": NOW}
    assert decide(run(missing_since=NOW), unknown(), NOW + LOST + 1, LOST) is None
    failed = decide(run(missing_since=NOW), seen(None), NOW + LOST + 2, LOST)
    assert failed is not None and failed.status is RunStatus.FAILED
