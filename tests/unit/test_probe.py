"""The probe script, run by real bash against a scripted `docker`, and its parser."""

import hashlib
import subprocess
import textwrap
import time

import pytest

from cosmos_core.executors.base import FileFacts, JobState, ProbeError, ProbeTarget
from cosmos_core.executors.docker_probe import KILL_GRACE_SHARE, build_probe_script, docker_budget, parse_probe_output
from cosmos_core.executors.run_probe import HASHED_IN_PROBE_BYTES, build_facts_script, parse_facts_output

FILES = ("outputs/output.mp4", "run.log")


@pytest.fixture
def fake_docker(tmp_path):
    """A `docker` that knows cosmos-rs_run (running), cosmos-rs_done (exited 0) and cosmos-rs_oom (137, OOM)."""
    script = tmp_path / "docker"
    script.write_text(textwrap.dedent("""\
        #!/bin/bash
        echo "$*" >> "$(dirname "$0")/calls"
        case "$1" in
          ps) printf 'cosmos-rs_run\\ncosmos-rs_done\\ncosmos-rs_oom\\ncosmos-other\\n' ;;
          inspect) shift 3
            for n in "$@"; do case "$n" in
              cosmos-rs_run) printf '/cosmos-rs_run\\trunning\\t0\\tfalse\\n' ;;
              cosmos-rs_done) printf '/cosmos-rs_done\\texited\\t0\\tfalse\\n' ;;
              cosmos-rs_oom) printf 'cosmos-rs_oom\\texited\\t137\\ttrue\\n' ;;
            esac; done ;;
          rm) exit 0 ;;
        esac
        """))
    script.chmod(0o755)
    return script


def make_run(root, run_id, log, output=None):
    run_dir = root / run_id
    (run_dir / "outputs").mkdir(parents=True)
    (run_dir / "run.log").write_text(log)
    if output is not None:
        (run_dir / "outputs" / "output.mp4").write_bytes(output)
    return ProbeTarget(run_id, str(run_dir), FILES)


def run_probe(docker, targets, remove=(), probe_timeout=15.0):
    script = build_probe_script([str(docker)], targets, remove, probe_timeout=probe_timeout)
    result = subprocess.run(["bash", "-s"], input=script, capture_output=True, text=True, check=True)
    return parse_probe_output("login banner noise\n" + result.stdout, targets)


def test_one_script_answers_for_every_run(tmp_path, fake_docker):
    video = b"\x00video\xff" * 100
    targets = [
        make_run(tmp_path, "rs_run", "[COSMOS_GPUS] 0\nPrompt: [COSMOS_COMPLETE] exit_code=0 inside\nstep 3\n"),
        make_run(tmp_path, "rs_done", "saved\n[COSMOS_COMPLETE] exit_code=0\n", output=video),
        make_run(tmp_path, "rs_oom", "loading\n"),
        make_run(tmp_path, "rs_gone", "x\n"),
    ]
    report = run_probe(fake_docker, targets, remove=["other", "never-existed"])
    obs = report.observations
    assert obs["rs_run"].state is JobState.RUNNING and obs["rs_run"].marker_exit is None
    assert obs["rs_run"].gpus == "0"  # it holds its GPU slot: running, not queued
    assert obs["rs_run"].files == {}  # unfinished: nothing hashed
    assert obs["rs_done"].marker_exit == 0
    assert obs["rs_done"].files["outputs/output.mp4"] == FileFacts(len(video), hashlib.sha256(video).hexdigest())
    assert obs["rs_done"].files["run.log"].size == len("saved\n[COSMOS_COMPLETE] exit_code=0\n")
    assert obs["rs_oom"].state is JobState.FINISHED and obs["rs_oom"].exit_code == 137
    assert obs["rs_oom"].reason == "out of memory (OOMKilled)"
    assert "outputs/output.mp4" not in obs["rs_oom"].files and "run.log" in obs["rs_oom"].files
    assert obs["rs_gone"].state is JobState.GONE
    assert sorted(report.cleaned) == ["never-existed", "other"]
    calls = (tmp_path / "docker").parent.joinpath("calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["ps", "inspect", "rm"]  # three docker calls, whatever the count


def test_paths_and_ids_with_shell_characters_are_data(tmp_path, fake_docker):
    weird = tmp_path / "it's $(touch pwned); `id` dir"
    weird.mkdir()
    target = make_run(weird, "rs_done", "[COSMOS_COMPLETE] exit_code=0\n", output=b"v")
    report = run_probe(fake_docker, [target])
    assert report.observations["rs_done"].files["outputs/output.mp4"].size == 1
    assert not (tmp_path / "pwned").exists() and not any(tmp_path.glob("**/pwned"))


def test_docker_failure_is_a_probe_error(tmp_path):
    broken = tmp_path / "docker"
    broken.write_text("#!/bin/bash\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(ProbeError, match="Cannot connect to the Docker daemon"):
        run_probe(broken, [make_run(tmp_path, "rs_1", "")])


def test_missing_payload_is_a_probe_error():
    with pytest.raises(ProbeError, match="no complete payload"):
        parse_probe_output("bash: command not found\n", [])


def test_log_text_cannot_forge_payload_lines(tmp_path, fake_docker):
    forged = ("[COSMOS_COMPLETE] exit_code=0\rC\t/cosmos-rs_run\texited\t3\tfalse\n"
              "[COSMOS_COMPLETE] exit_code=0 <cosmos-payload>\n"
              "[COSMOS_COMPLETE] exit_code=0\u2028M\trs_run\t[COSMOS_COMPLETE] exit_code=9\n")
    victim = make_run(tmp_path, "rs_run", "[COSMOS_GPUS] 0\nstep 1\n")
    attacker = make_run(tmp_path, "rs_done", forged)
    report = run_probe(fake_docker, [victim, attacker])
    assert report.observations["rs_run"].state is JobState.RUNNING
    assert report.observations["rs_run"].marker_exit is None
    assert report.observations["rs_done"].marker_exit is None  # no whole marker line at all


def test_a_file_that_vanished_mid_probe_is_left_out():
    payload = "<cosmos-payload>\nP\tok\nF\trs_1\toutputs/output.mp4\t\t\nM\trs_1\t\n</cosmos-payload>\n"
    report = parse_probe_output(payload, [ProbeTarget("rs_1", "/r", FILES)])
    assert report.observations["rs_1"].files == {}


T1_LOG = "[12-01 10:00:00|INFO|cosmos_transfer1/diffusion/inference/world_generation_pipeline.py:{}:_run_model] {}\n"


def test_a_running_run_brings_back_its_latest_stage_and_progress_bar(tmp_path, fake_docker):
    """tqdm redraws with carriage returns: the latest redraw counts."""
    log = (T1_LOG.format(771, "Run generation") + "  0%|          | 0/3 [00:00<?, ?it/s]\r"
           + T1_LOG.format(615, "Starting diffusion sampling") + T1_LOG.format(638, "Completed diffusion sampling")
           + " 33%|###3      | 1/3 [00:02<00:04,  2.00s/it]\r" + T1_LOG.format(615, "Starting diffusion sampling")
           + "noise\twith a tab\n")
    report = run_probe(fake_docker, [make_run(tmp_path, "rs_run", log)])
    seen = report.observations["rs_run"]
    assert seen.stage_line.endswith("] Starting diffusion sampling")
    assert seen.counter_line == " 33%|###3      | 1/3 [00:02<00:04,  2.00s/it]"
    assert seen.reason_lines == ()


def test_a_finished_run_brings_back_the_lines_that_say_why(tmp_path, fake_docker):
    log = ("[12-01 10:00:00|CRITICAL|cosmos_transfer1/auxiliary/guardrail/common/presets.py:55:run_text_guardrail] "
           "GUARDRAIL BLOCKED: BLOCKLIST: Prompt blocked by censorship\n" + "filler\n" * 40
           + "TypeError: cannot unpack non-iterable NoneType object\n[COSMOS_COMPLETE] exit_code=1\n")
    report = run_probe(fake_docker, [make_run(tmp_path, "rs_oom", log)])
    seen = report.observations["rs_oom"]
    assert seen.reason_lines[0].endswith("GUARDRAIL BLOCKED: BLOCKLIST: Prompt blocked by censorship")
    assert seen.reason_lines[-1] == "TypeError: cannot unpack non-iterable NoneType object"
    assert seen.stage_line == "" and seen.counter_line == ""


def test_log_lines_cannot_forge_payload_records(tmp_path, fake_docker):
    """A log line brought back stays inside its own record, however it is written."""
    log = "KeyError: 'x'\tF\trs_oom\toutputs/output.mp4\t1\tab\rM\trs_oom\t[COSMOS_COMPLETE] exit_code=0\n"
    report = run_probe(fake_docker, [make_run(tmp_path, "rs_oom", log)])
    seen = report.observations["rs_oom"]
    assert seen.marker_exit is None and "outputs/output.mp4" not in seen.files
    assert seen.reason_lines == ("KeyError: 'x' F rs_oom outputs/output.mp4 1 ab",)


def test_facts_are_asked_for_named_files_only(tmp_path):
    run_dir = tmp_path / "it's a $(dir)"
    (run_dir / "outputs").mkdir(parents=True)
    (run_dir / "outputs" / "output.mp4").write_bytes(b"abc")
    script = build_facts_script(str(run_dir), ["outputs/output.mp4", "run.log"])
    result = subprocess.run(["bash", "-s"], input=script, capture_output=True, text=True, check=True)
    facts = parse_facts_output("noise\n" + result.stdout)
    assert facts == {"outputs/output.mp4": FileFacts(3, hashlib.sha256(b"abc").hexdigest())}
    with pytest.raises(ProbeError):
        parse_facts_output("no payload")


def test_a_file_over_the_small_size_comes_without_its_hash(tmp_path):
    """Hashing a big file would hold the probe (and the refresh) up: the download asks for it instead."""
    for name, size in (("small", HASHED_IN_PROBE_BYTES), ("big", HASHED_IN_PROBE_BYTES + 1)):
        with open(tmp_path / name, "wb") as f:
            f.truncate(size)
    script = build_facts_script(str(tmp_path), ["small", "big"])
    facts = parse_facts_output(subprocess.run(["bash", "-s"], input=script, capture_output=True, text=True,
                                              check=True).stdout)
    zeros = hashlib.sha256(bytes(HASHED_IN_PROBE_BYTES)).hexdigest()
    assert facts == {"small": FileFacts(HASHED_IN_PROBE_BYTES, zeros), "big": FileFacts(HASHED_IN_PROBE_BYTES + 1)}


def test_a_symlinked_output_is_reported_as_a_link_never_followed(tmp_path, fake_docker):
    """A symlink out of the run dir: where it points comes back, never its target's size."""
    target = make_run(tmp_path, "rs_done", "[COSMOS_COMPLETE] exit_code=0\n")
    (tmp_path / "rs_done" / "outputs" / "output.mp4").symlink_to("/etc/passwd")
    facts = run_probe(fake_docker, [target]).observations["rs_done"].files
    assert facts["outputs/output.mp4"] == FileFacts(0, symlink_to="/etc/passwd")
    assert facts["outputs/output.mp4"].refusal("outputs/output.mp4") == (
        "outputs/output.mp4 is a symlink to /etc/passwd, not a file the run wrote")
    assert facts["run.log"].symlink_to is None and facts["run.log"].refusal("run.log") is None


@pytest.mark.parametrize(("log", "state", "reason", "gpus"), [
    ("", JobState.QUEUED, "its job to start", None),
    ("[COSMOS_QUEUE] waiting for 1 of the host's 2 GPUs\n", JobState.QUEUED, "GPUs", None),
    ("[COSMOS_QUEUE] waiting for 1 of the host's 2 GPUs\n[COSMOS_GPUS] 0,1\nstep 1\n", JobState.RUNNING, "", "0,1"),
    # a long run: the model's progress bars (\r-separated) pushed the script's line out of the log's tail
    ("[COSMOS_QUEUE] waiting for 1 of the host's 2 GPUs\n[COSMOS_GPUS] 1\n" + "step 1/35 |####|\r" * 5000 + "\n",
     JobState.RUNNING, "", "1"),
])
def test_a_running_container_is_queued_until_its_script_holds_gpus(tmp_path, fake_docker, log, state, reason, gpus):
    seen = run_probe(fake_docker, [make_run(tmp_path, "rs_run", log)]).observations["rs_run"]
    assert (seen.state, seen.reason, seen.gpus) == (state, reason, gpus)


# -- a slow daemon: the docker calls of one probe share a budget ------------------------------------

PROBE_TIMEOUT = 4.0  # its docker budget: 2.4 s, leaving 1.6 s to spare for a loaded machine
SLOW = 6.0  # longer than the whole probe timeout


def slow_docker(tmp_path, **delays):
    """The fake docker above, waiting `delays[command]` seconds before that command ("inspect_fails":
    inspect answers at once with an error and no line, as for a container that vanished)."""
    script = tmp_path / "slow-docker"
    waits = "".join(f"  {command}) sleep {seconds} ;;\n" for command, seconds in delays.items()
                    if command != "inspect_fails")
    fails = 'if [ "$1" = inspect ]; then echo "$*" >> "$(dirname "$0")/calls"; exit 1; fi\n' \
        if "inspect_fails" in delays else ""
    script.write_text(f'#!/bin/bash\ncase "$1" in\n{waits}esac\n{fails}exec {tmp_path / "docker"} "$@"\n')
    script.chmod(0o755)
    return script


def calls(tmp_path):
    path = tmp_path / "calls"
    return [c.split()[0] for c in path.read_text().splitlines()] if path.exists() else []


def slow_runs(tmp_path):
    """rs_run (running, its container listed) and rs_gone (no container listed)."""
    return [make_run(tmp_path, "rs_run", "[COSMOS_GPUS] 0\nstep 1\n"),
            make_run(tmp_path, "rs_gone", "x\n")]


def timed_probe(docker, targets, remove=()):
    began = time.monotonic()
    report = run_probe(docker, targets, remove, probe_timeout=PROBE_TIMEOUT)
    return report, time.monotonic() - began


def test_a_container_listed_but_not_inspected_in_time_is_unknown_never_gone(tmp_path, fake_docker):
    """inspect overruns the budget: the listed container is UNKNOWN, the one docker did not list is
    gone, and the removal that had no time left is not tried."""
    report, seconds = timed_probe(slow_docker(tmp_path, inspect=SLOW), slow_runs(tmp_path), remove=["rs_done"])
    run, gone = report.observations["rs_run"], report.observations["rs_gone"]
    assert run.state is JobState.UNKNOWN and run.reason == "docker did not answer about its container in time"
    assert run.gpus == "0" and run.files == {}  # not done: the run-dir part reads it as still running
    assert gone.state is JobState.GONE
    assert report.cleaned == ()  # rs_done's container was listed: kept until a probe has time to remove it
    assert report.slow == "docker is slow: `docker inspect`, `docker rm` did not answer within 2.4 s"
    assert calls(tmp_path) == ["ps"]  # the killed inspect logs nothing, rm never ran
    assert seconds < PROBE_TIMEOUT


def test_a_listing_not_answered_in_time_leaves_every_run_unknown_and_removes_nothing(tmp_path, fake_docker):
    report, seconds = timed_probe(slow_docker(tmp_path, ps=SLOW), slow_runs(tmp_path), remove=["never-existed"])
    assert {seen.state for seen in report.observations.values()} == {JobState.UNKNOWN}
    assert report.cleaned == ()  # nothing listed: not even a run docker never knew counts as removed
    assert report.slow == "docker is slow: `docker ps` did not answer within 2.4 s"
    assert calls(tmp_path) == []
    assert seconds < PROBE_TIMEOUT


def test_the_docker_calls_of_one_probe_share_one_budget(tmp_path, fake_docker):
    """ps and inspect each fit in the budget alone, not together: inspect is cut at what ps left."""
    report, seconds = timed_probe(slow_docker(tmp_path, ps=1.6, inspect=1.6), slow_runs(tmp_path))
    assert report.observations["rs_run"].state is JobState.UNKNOWN
    assert report.slow.startswith("docker is slow: `docker inspect` did not answer")
    assert seconds < PROBE_TIMEOUT


def test_a_removal_not_answered_in_time_is_tried_again_later(tmp_path, fake_docker):
    report, _ = timed_probe(slow_docker(tmp_path, rm=SLOW), slow_runs(tmp_path), remove=["rs_done", "gone-already"])
    assert report.observations["rs_run"].state is JobState.RUNNING
    assert report.cleaned == ("gone-already",)  # rs_done's container stays marked for removal
    assert report.slow == "docker is slow: `docker rm` did not answer within 2.4 s"


def test_an_inspect_that_fails_at_once_leaves_the_container_unknown_without_calling_docker_slow(
        tmp_path, fake_docker):
    report, _ = timed_probe(slow_docker(tmp_path, inspect_fails=0), slow_runs(tmp_path))
    assert report.observations["rs_run"].state is JobState.UNKNOWN
    assert report.observations["rs_gone"].state is JobState.GONE
    assert report.slow == ""


def test_a_docker_that_answers_in_time_is_not_slow(tmp_path, fake_docker):
    report, _ = timed_probe(slow_docker(tmp_path, ps=0.1, inspect=0.1), slow_runs(tmp_path))
    assert report.observations["rs_run"].state is JobState.RUNNING and report.slow == ""


@pytest.mark.parametrize("probe_timeout", [0.5, 1, 2, 3, 4, 15, 60, 3600])
def test_the_docker_budget_and_the_kill_grace_stay_below_the_probe_timeout(probe_timeout):
    """Budget plus the grace of the call killed at its end leaves time for SSH: never a timeout."""
    assert 0 < docker_budget(probe_timeout) + probe_timeout * KILL_GRACE_SHARE <= 0.7 * probe_timeout


def test_the_budget_and_grace_reach_the_script():
    script = build_probe_script(["docker"], [ProbeTarget("rs_1", "/r", FILES)], probe_timeout=15)
    assert "%(budget_ms)d" not in script and " 9000 - " in script and "timeout -k 1.500 " in script
