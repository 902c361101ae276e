"""Slurm's command lines, job script and answers, read as the Slurm executor reads them (pure)."""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from cosmos_core.config import HostConfig, ModelSetup, SlurmConfig
from cosmos_core.executors.base import JobState, ProbeError, ProbeTarget
from cosmos_core.executors.slurm_cli import (
    ENDED_BECAUSE,
    cancel_command,
    exit_code,
    job_script,
    observed,
    parse_job_id,
    parse_scontrol_line,
    sbatch_command,
)
from cosmos_core.executors.slurm_probe import build_probe_script, parse_probe_output
from cosmos_core.upstream.loglines import failure_reason
from cosmos_core.upstream.models import MODELS

SLURM = SlurmConfig(partition="gpu", gres="gpu:1", time_limit="04:00:00", account="lab", container="docker")


def host(container: str = "docker") -> HostConfig:
    return HostConfig("c1", "login", "u", 22, Path("k"), Path("kh"), "/home/u/ct1", "img:1", ("docker",),
                      ("--gpus", "all"), 1, executor="slurm", slurm=SlurmConfig("gpu", "gpu:1", "", "", container))


@pytest.mark.parametrize(("text", "code"), [("0:0", 0), ("3:0", 3), ("0:15", 143), ("0:9", 137), ("1:0", 1),
                                            ("", None), ("x:0", None), ("2:y", None)])
def test_exit_codes_read_as_a_shell_reports_them(text, code):
    assert exit_code(text) == code


@pytest.mark.parametrize(("state", "code", "reason", "expected"), [
    ("PENDING", "0:0", "Resources", {"state": JobState.QUEUED, "reason": "GPUs or nodes to free up (Resources)"}),
    ("PENDING", "0:0", "BeginTime", {"state": JobState.QUEUED, "reason": "BeginTime"}),
    ("RUNNING", "0:0", "None", {"state": JobState.RUNNING}),
    ("COMPLETING", "0:0", "None", {"state": JobState.RUNNING}),
    ("COMPLETED", "0:0", "None", {"state": JobState.FINISHED, "exit_code": 0, "reason": ""}),
    ("FAILED", "3:0", "NonZeroExitCode", {"state": JobState.FINISHED, "exit_code": 3, "reason": ""}),
    ("TIMEOUT", "0:15", "None", {"state": JobState.FINISHED, "exit_code": 143, "reason": ENDED_BECAUSE["TIMEOUT"]}),
    ("CANCELLED by 0", "0:15", "None",
     {"state": JobState.FINISHED, "exit_code": 143, "reason": ENDED_BECAUSE["CANCELLED"]}),
    ("CANCELLED+", "0:0", "None", {"state": JobState.FINISHED, "exit_code": 0, "reason": ENDED_BECAUSE["CANCELLED"]}),
    ("OUT_OF_MEMORY", "0:125", "None",
     {"state": JobState.FINISHED, "exit_code": 253, "reason": ENDED_BECAUSE["OUT_OF_MEMORY"]}),
    ("NODE_FAIL", "0:0", "None", {"state": JobState.FINISHED, "exit_code": 0, "reason": ENDED_BECAUSE["NODE_FAIL"]}),
    ("PREEMPTED", "0:0", "None", {"state": JobState.FINISHED, "exit_code": 0, "reason": ENDED_BECAUSE["PREEMPTED"]}),
    ("FAILED", "", "None", {"state": JobState.GONE, "reason": "Slurm reports the job as FAILED with no exit code"}),
])
def test_every_slurm_state_maps_to_a_neutral_one(state, code, reason, expected):
    assert observed(state, code, reason) == expected


def test_sbatch_is_parsable_and_names_the_job_after_the_run():
    command = shlex.split(sbatch_command(SLURM, "rs_1", "/home/u/ct1/cosmos_runs/rs_1"))
    assert command[:2] == ["sbatch", "--parsable"] and command[-1] == "/home/u/ct1/cosmos_runs/rs_1/job.sh"
    for flag, value in (("--job-name", "cosmos-rs_1"), ("--partition", "gpu"), ("--gres", "gpu:1"),
                        ("--time", "04:00:00"), ("--account", "lab"), ("--chdir", "/home/u/ct1/cosmos_runs/rs_1")):
        assert command[command.index(flag) + 1] == value
    bare = shlex.split(sbatch_command(SlurmConfig("", "", "", "", "docker"), "rs_1", "/r"))
    assert not {"--partition", "--gres", "--time", "--account"} & set(bare)


@pytest.mark.parametrize(("stdout", "job"), [("42\n", "42"), ("42;cluster\n", "42"), ("", None), ("error\n", None)])
def test_the_job_id_is_read_from_parsable_output(stdout, job):
    assert parse_job_id(stdout) == job


@pytest.mark.parametrize(("container", "runs"), [
    ("docker", ["docker", "run", "--rm", "--name", "cosmos-rs_1"]),
    ("apptainer", ["apptainer", "exec", "--nv", "--bind", "/home/u/ct1:/workspace"]),
    ("pyxis", ["srun", "--ntasks=1", "--container-image=img:1"]),
])
def test_the_job_script_runs_the_image_in_the_foreground_and_is_valid_bash(container, runs, tmp_path):
    script = job_script(host(container), ModelSetup("img:1", "/home/u/ct1", ("--gpus", "all")), "rs_1", "/workspace",
                        {"NUM_GPU": "1"}, ("bash", "cosmos_runs/rs_1/scripts/inference.sh", "it's $(here)"))
    start = next(line for line in script.splitlines() if line.endswith(" &"))
    words = shlex.split(start.removesuffix(" &"))
    assert [w for w in words if not w.startswith(("NUM_GPU=", "COSMOS_RUN_ID="))][:len(runs)] == runs
    assert words[-1] == "it's $(here)"  # data, never code
    (tmp_path / "job.sh").write_text(script)
    assert subprocess.run(["bash", "-n", str(tmp_path / "job.sh")]).returncode == 0


def test_the_job_script_passes_its_exit_code_on_and_stops_its_container_when_signalled(tmp_path):
    """Run the script with a fake `docker` whose `run` ignores SIGTERM until `stop` is called."""
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/bash\ncase "$1" in\n run) trap "" TERM; while [ ! -e "$0.stopped" ]; do sleep 0.05; done;'
                    ' exit 143 ;;\n stop) touch "$0.stopped" ;;\nesac\n')
    fake.chmod(0o755)
    config = HostConfig("c1", "login", "u", 22, Path("k"), Path("kh"), "/r", "img", (str(fake),), (), 1,
                        executor="slurm", slurm=SLURM)
    (tmp_path / "job.sh").write_text(job_script(config, ModelSetup("img", "/r", ()), "rs_1", "/workspace", {}, ("x",)))
    job = subprocess.Popen(["bash", str(tmp_path / "job.sh")], cwd=tmp_path, env={**os.environ, "SLURM_JOB_GPUS": "0"})
    try:
        job.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        job.terminate()
    assert job.wait(timeout=10) == 143 and (tmp_path / "docker.stopped").exists()


RECORDING_DOCKER = '#!/bin/bash\nprintf "%s\\n" "$@" >"$0.args"\n'


@pytest.mark.parametrize("run_args", [("--gpus", "all", "--ipc=host"), ("--gpus=all", "--ipc=host"), ("--ipc=host",)])
@pytest.mark.parametrize("job_gpus", ["1", "0,1"])
def test_a_docker_jobs_container_gets_the_jobs_gpus_and_no_others(tmp_path, run_args, job_gpus):
    """Two one-GPU jobs on one node must not both use GPU 0: the container is given Slurm's global ids of
    the job's GPUs, quoted as the NVIDIA toolkit asks, and never run_args' `--gpus all`."""
    fake = tmp_path / "docker"
    fake.write_text(RECORDING_DOCKER)
    fake.chmod(0o755)
    config = HostConfig("c1", "login", "u", 22, Path("k"), Path("kh"), "/r", "img", (str(fake),), run_args, 1,
                        executor="slurm", slurm=SLURM)
    (tmp_path / "job.sh").write_text(job_script(config, ModelSetup("img", "/r", run_args), "rs_1", "/workspace", {},
                                                ("x",)))
    job = subprocess.run(["bash", "job.sh"], cwd=tmp_path, env={**os.environ, "SLURM_JOB_GPUS": job_gpus})
    assert job.returncode == 0
    args = (tmp_path / "docker.args").read_text().splitlines()
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "--gpus"] == [f'"device={job_gpus}"']
    assert "all" not in args and "--gpus=all" not in args and "--ipc=host" in args


@pytest.mark.parametrize("job_gpus", [None, "", "0;rm -rf /"])
def test_a_docker_job_given_no_gpus_ends_at_once_saying_so(tmp_path, job_gpus):
    fake = tmp_path / "docker"
    fake.write_text(RECORDING_DOCKER)
    fake.chmod(0o755)
    config = HostConfig("c1", "login", "u", 22, Path("k"), Path("kh"), "/r", "img", (str(fake),), (), 1,
                        executor="slurm", slurm=SLURM)
    (tmp_path / "job.sh").write_text(job_script(config, ModelSetup("img", "/r", ()), "rs_1", "/workspace", {}, ("x",)))
    env = {k: v for k, v in os.environ.items() if k != "SLURM_JOB_GPUS"}
    if job_gpus is not None:
        env["SLURM_JOB_GPUS"] = job_gpus
    assert subprocess.run(["bash", "job.sh"], cwd=tmp_path, env=env).returncode == 1
    assert not (tmp_path / "docker.args").exists()
    log = (tmp_path / "run.log").read_text().splitlines()
    assert log[-1] == "[COSMOS_COMPLETE] exit_code=1"
    assert failure_reason(MODELS["transfer1"], log).startswith("needs GPUs from Slurm: its job has none")


def test_scontrol_one_line_records_are_read():
    line = ("JobId=7 JobName=cosmos-rs_1 UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) "
            "ExitCode=3:0 RunTime=00:00:01")
    assert parse_scontrol_line(line) == ("7", "FAILED", "3:0", "NonZeroExitCode")
    assert parse_scontrol_line("garbage") is None


FAKE_SLURM = """#!/bin/bash
echo "$(basename "$0") $*" >>"$(dirname "$0")/calls"
case "$(basename "$0") $*" in
  *--name*) printf '14|cosmos-rs_noid_done|FAILED|3:0|None\\n' ;;
  sacct*) printf '7|COMPLETED|0:0|None\\n8|FAILED|3:0|None\\n9|PENDING|0:0|None\\n10|RUNNING|0:0|None\\n' ;;
  squeue*) printf '9|cosmos-rs_waiting|PENDING|Resources\\n10|cosmos-rs_running|RUNNING|None\\n'
           printf '99|cosmos-rs_other|RUNNING|None\\n12|cosmos-rs_noid|RUNNING|None\\n'
           printf '13|cosmos-rs_cancelled|RUNNING|None\\n15|cosmos-rs_cancelled|COMPLETING|None\\n' ;;
esac
"""


BROKEN = """#!/bin/bash
echo "NAME $*" >>"$(dirname "$0")/calls"
echo 'NAME: error: Socket timed out on send/recv operation' >&2
exit 1
"""


def run_probe(tmp_path, targets, sacct_fails=False, settled=(), broken=()):
    """The probe script run by bash against fake Slurm clients (each logs its calls to bin/calls);
    those in `broken` fail as a controller that does not answer does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("sacct", "squeue", "scontrol", "scancel"):
        (bin_dir / name).write_text(FAKE_SLURM)
        (bin_dir / name).chmod(0o755)
    if sacct_fails:
        broken = (*broken, "sacct")
    for name in broken:
        (bin_dir / name).write_text(BROKEN.replace("NAME", name))
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho \"JobId=$4 JobState=COMPLETED Reason=None ExitCode=0:0\"\n")
    result = subprocess.run(["bash", "-s"], input=build_probe_script(targets, settled), capture_output=True,
                            text=True, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert "bad array subscript" not in result.stderr and "unbound variable" not in result.stderr, result.stderr
    return parse_probe_output("banner\n" + result.stdout, targets)


def calls(tmp_path, command):
    log = tmp_path / "bin" / "calls"
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines() if line.startswith(f"{command} ")] \
        if log.exists() else []


def make_run(tmp_path, run_id, job, log="step\n"):
    run_dir = tmp_path / run_id
    (run_dir / "outputs").mkdir(parents=True)
    (run_dir / "run.log").write_text(log)
    return ProbeTarget(run_id, str(run_dir), ("outputs/output.mp4", "run.log"), job)


def test_one_probe_answers_for_every_job_from_sacct_and_squeue(tmp_path):
    targets = [make_run(tmp_path, "rs_done", "7", "ok\n[COSMOS_COMPLETE] exit_code=0\n"),
               make_run(tmp_path, "rs_failed", "8"), make_run(tmp_path, "rs_waiting", "9"),
               make_run(tmp_path, "rs_running", "10"), make_run(tmp_path, "rs_unknown", "11"),
               make_run(tmp_path, "rs_never_submitted", None)]
    seen = run_probe(tmp_path, targets).observations
    assert (seen["rs_done"].state, seen["rs_done"].exit_code, seen["rs_done"].marker_exit) == (JobState.FINISHED, 0, 0)
    assert "run.log" in seen["rs_done"].files  # an ended job's files are stated
    assert (seen["rs_failed"].state, seen["rs_failed"].exit_code, seen["rs_failed"].subject) == (
        JobState.FINISHED, 3, "Job")
    assert seen["rs_waiting"].state is JobState.QUEUED and "Resources" in seen["rs_waiting"].reason
    assert seen["rs_running"].state is JobState.RUNNING and seen["rs_running"].files == {}
    assert seen["rs_unknown"].state is JobState.GONE and seen["rs_never_submitted"].state is JobState.GONE


def test_without_accounting_scontrol_answers(tmp_path):
    seen = run_probe(tmp_path, [make_run(tmp_path, "rs_done", "7")], sacct_fails=True).observations
    assert (seen["rs_done"].state, seen["rs_done"].exit_code) == (JobState.FINISHED, 0)


def test_a_broken_squeue_is_reported_not_guessed(tmp_path):
    targets = [make_run(tmp_path, "rs_1", "7")]
    payload = build_probe_script(targets)
    assert "squeue --me" in payload
    with pytest.raises(ProbeError, match="Slurm is not usable"):
        parse_probe_output("<cosmos-payload>\nP\tok\nP\terror\tsqueue: error: slurm_load_jobs\n</cosmos-payload>",
                           targets)


def test_a_run_whose_job_id_was_never_recorded_is_found_by_its_jobs_name(tmp_path):
    targets = [make_run(tmp_path, "rs_noid", None), make_run(tmp_path, "rs_noid_done", None),
               make_run(tmp_path, "rs_never_submitted", None), make_run(tmp_path, "rs_running", "10")]
    seen = run_probe(tmp_path, targets).observations
    assert (seen["rs_noid"].state, seen["rs_noid"].handle) == (JobState.RUNNING, "12")
    ended = seen["rs_noid_done"]  # gone from squeue: its accounting record, found by name, says how it ended
    assert (ended.state, ended.exit_code, ended.handle) == (JobState.FINISHED, 3, "14") and "run.log" in ended.files
    never = seen["rs_never_submitted"]
    assert (never.state, never.handle) == (JobState.GONE, None)
    assert never.reason == "Slurm has no job named cosmos-rs_never_submitted"
    assert (seen["rs_running"].state, seen["rs_running"].handle) == (JobState.RUNNING, "10")
    [by_name] = [c for c in calls(tmp_path, "sacct") if "--name" in c]
    assert "-S now-7days" in by_name and "cosmos-rs_noid,cosmos-rs_noid_done,cosmos-rs_never_submitted" in by_name
    assert "-j 10 " in next(c for c in calls(tmp_path, "sacct") if "--name" not in c)


def test_with_every_job_id_known_sacct_is_asked_by_id_only(tmp_path):
    run_probe(tmp_path, [make_run(tmp_path, "rs_running", "10")])
    assert [c for c in calls(tmp_path, "sacct") if "--name" in c] == [] and calls(tmp_path, "scancel") == []


def test_the_jobs_slurm_still_lists_for_settled_runs_are_cancelled_and_the_others_reported_clean(tmp_path):
    odd = "rs_it's $(touch x)"
    report = run_probe(tmp_path, [make_run(tmp_path, "rs_running", "10")], settled=["rs_cancelled", "rs_gone", odd])
    assert calls(tmp_path, "scancel") == ["13 15"]  # both jobs under its name, completing or not
    assert sorted(report.cleaned) == sorted(["rs_gone", odd])  # rs_cancelled: once Slurm no longer lists it
    assert report.observations["rs_running"].state is JobState.RUNNING  # a live run's job is never touched
    assert not (tmp_path / "x").exists()


def test_a_failed_scancel_leaves_the_run_to_clean_up_for_the_next_probe(tmp_path):
    report = run_probe(tmp_path, [], settled=["rs_cancelled", "rs_gone"], broken=("scancel",))
    assert calls(tmp_path, "scancel") == ["13 15"] and report.cleaned == ("rs_gone",)


def test_with_squeue_broken_nothing_is_taken_for_clean(tmp_path):
    with pytest.raises(ProbeError, match="Slurm is not usable.*Socket timed out"):
        run_probe(tmp_path, [], settled=["rs_gone"], broken=("squeue",))
    assert calls(tmp_path, "scancel") == []


def test_a_probe_with_nothing_to_ask_calls_no_slurm_command(tmp_path):
    report = run_probe(tmp_path, [])
    assert report.observations == {} and report.cleaned == () and not (tmp_path / "bin" / "calls").exists()


@pytest.mark.parametrize(("job", "command"), [("42", ["scancel", "42"]),
                                              (None, ["scancel", "--me", "--name", "cosmos-rs_1"])])
def test_a_cancel_goes_by_job_id_or_else_by_the_jobs_name(job, command):
    assert shlex.split(cancel_command("rs_1", job)) == command
