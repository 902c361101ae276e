"""Bad input is refused with one clear line, and nothing is left half-done."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import time

import pytest

from cosmos_core.config import load_config
from cosmos_core.ssh.host import Host, HostUnreachable
from tests.hostkit import DEFAULT_GPUS
from tests.workspace import Workspace, write_config


def one_line_error(result, *needles: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def nothing_stored(workspace: Workspace) -> None:
    assert workspace.cli_json("runs") == []


def test_unknown_prompt_id(workspace):
    one_line_error(workspace.cli("run", "ps_doesnotexist"), "no prompt with id 'ps_doesnotexist'")
    one_line_error(workspace.cli("enhance", "ps_nope"), "ps_nope")
    one_line_error(workspace.cli("show", "rs_nope"), "no run with id 'rs_nope'")
    nothing_stored(workspace)


@pytest.mark.parametrize("text, needle", [("", "prompt is empty"), ("   ", "prompt is empty"),
                                          ("x" * 20001, "limit is 20000")])
def test_bad_prompt_text(workspace, sample_video, text, needle):
    one_line_error(workspace.cli("prompt", "add", text, "--video", str(sample_video)), needle)
    assert workspace.cli_json("prompts") == []


def test_missing_input_video(workspace, tmp_path):
    missing = tmp_path / "nope.mp4"
    one_line_error(workspace.cli("prompt", "add", "hello", "--video", str(missing)), str(missing), "does not exist")
    assert workspace.cli_json("prompts") == []


def test_unknown_config_key(workspace):
    workspace.config.write_text(workspace.config.read_text() + "\n[ui]\nprot = 1\n")
    one_line_error(workspace.cli("runs"), "unknown key 'ui.prot'")


def test_usage_error_exits_2(workspace):
    assert workspace.cli("run").returncode == 2
    assert workspace.cli("frobnicate").returncode == 2


def _run_is_refused(workspace: Workspace, video, *needles: str) -> None:
    prompt = workspace.cli("prompt", "add", "hello", "--video", str(video), check=True).stdout.strip()
    before = set((workspace.remote_run_dir("x").parent).glob("*"))
    one_line_error(workspace.cli("run", prompt), *needles)
    run = workspace.cli_json("runs")[0]
    assert run["status"] == "failed" and all(n in run["error"] for n in needles)
    assert set(workspace.remote_run_dir("x").parent.glob("*")) == before  # nothing uploaded
    listing = workspace.host.docker("ps", "-a", "--filter", f"label=cosmos.run_id={run['id']}", "-q").stdout
    assert listing.strip() == ""  # no container


def test_changed_host_key_is_refused_before_any_upload(workspace, sample_video, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts_changed"
    key = other.with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{workspace.host.port} {key[0]} {key[1]}\n")
    workspace.config.write_text(workspace.config.read_text().replace(workspace.host.known_hosts, str(known)))
    _run_is_refused(workspace, sample_video, "HOST KEY CHANGED", workspace.host.host_key_fingerprint)


def test_unknown_host_key_is_refused_with_its_fingerprint(workspace, sample_video, tmp_path):
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    workspace.config.write_text(workspace.config.read_text().replace(workspace.host.known_hosts, str(empty)))
    _run_is_refused(workspace, sample_video, "not in", workspace.host.host_key_fingerprint)


def test_unreachable_host_fails_the_run_with_the_reason(workspace, sample_video):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    workspace.config.write_text(workspace.config.read_text().replace(f"port = {workspace.host.port}",
                                                                     f"port = {closed_port}"))
    started = time.monotonic()
    _run_is_refused(workspace, sample_video, "cannot connect")
    assert time.monotonic() - started < 10
    check = workspace.cli("hosts", "check", "gpu1", "--json")
    assert check.returncode == 1 and json.loads(check.stdout)["ssh"]["status"] == "fail"


def test_hosts_check_with_no_name_checks_every_host_and_names_those_not_ready(tmp_path, gpu_host):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gone = gpu_host.host_config_toml("gpu2").replace(f"port = {gpu_host.port}", f"port = {closed_port}")
    hosts_toml = gpu_host.host_config_toml("gpu1") + gone + gpu_host.host_config_toml("gpu3")
    workspace = Workspace(tmp_path, write_config(tmp_path, gpu_host, hosts_toml=hosts_toml), gpu_host)

    check = workspace.cli("hosts", "check", "--json")
    one_line_error(check, "host gpu2 is not ready")
    reports = json.loads(check.stdout)
    assert [(r["name"], r["ok"], r["ssh"]["status"]) for r in reports] == [
        ("gpu1", True, "ok"), ("gpu2", False, "fail"), ("gpu3", True, "ok")]
    text = workspace.cli("hosts", "check")
    assert [line for line in text.stdout.splitlines() if line.startswith("host ")] == [
        "host gpu1: ready", "host gpu2: NOT READY", "host gpu3: ready"]
    assert workspace.cli("hosts", "check", "gpu3").returncode == 0


def test_hosts_check_with_no_host_configured_says_how_to_add_one(tmp_path, gpu_host):
    workspace = Workspace(tmp_path, write_config(tmp_path, gpu_host, hosts_toml=""), gpu_host)
    one_line_error(workspace.cli("hosts", "check"), "no hosts configured", "cosmos hosts add")


def test_a_silent_host_times_out_within_the_connect_timeout(workspace):
    """A server that accepts TCP but never speaks SSH: the connect timeout bounds the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = load_config(workspace.config).hosts[0]
        host = Host(dataclasses.replace(config, port=silent.getsockname()[1]), connect_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(HostUnreachable, match="no answer within 1 s|cannot connect"):
            host.run("true")
        assert time.monotonic() - started < 3


def test_hosts_and_hosts_check_on_the_real_host(workspace):
    hosts = workspace.cli_json("hosts")
    assert [h["name"] for h in hosts] == ["gpu1"]
    check = workspace.cli("hosts", "check", "gpu1", "--json")
    report = json.loads(check.stdout)
    assert check.returncode == 0, report
    assert {k: report[k]["status"] for k in ("ssh", "docker", "image", "remote_dir", "gpus")} == {
        "ssh": "ok", "docker": "ok", "image": "ok", "remote_dir": "ok", "gpus": "ok"}
    assert report["gpus"]["detail"].count("Stand-in GPU") == DEFAULT_GPUS  # the stand-in's nvidia-smi
    one_line_error(workspace.cli("hosts", "check", "gpu9"), "unknown host 'gpu9'")


def test_logs_of_a_run_that_never_started_say_so(tmp_path, gpu_host, sample_video):
    """Its image is missing: `docker run` failed, and no script ever wrote a log."""
    toml = gpu_host.host_config_toml("gpu1").replace(f'image = "{gpu_host.image}"', 'image = "cosmos-missing:none"')
    workspace = Workspace(tmp_path, write_config(tmp_path, gpu_host, hosts_toml=toml), gpu_host)
    prompt = workspace.cli("prompt", "add", "never starts", "--video", str(sample_video), check=True).stdout.strip()
    started = workspace.cli("run", prompt)
    assert started.returncode == 1 and "docker run failed" in started.stderr
    run_id = workspace.cli_json("runs")[0]["id"]
    logs = workspace.cli("logs", run_id)
    assert logs.returncode == 0 and logs.stdout == ""
    assert logs.stderr.startswith(f"run {run_id} has no log (failed: docker run failed on gpu1 (exit ")
