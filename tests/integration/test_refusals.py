"""Bad input refused with one line and nothing stored, and a host whose key is unknown or changed
refused before anything runs there (issue 'Prove it': faults and bad input).

tests/integration/test_bad_input.py covers a prompt just over the limit and a `run` refused for its
host key; these add the extreme prompts (100,000 characters, NUL bytes: through the CLI and the API)
and every command that reaches a host, counted on the host's sshd: no login, no command, no SFTP.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cosmos_core.api import CosmosError, Refresh
from tests.hostkit import TestHost, wait_until

HUGE = "a long prompt " * 7143  # 100,002 characters


def one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) < 1000, result.stderr[:1000]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("args, needle", [
    ((HUGE,), "prompt is 100002 characters long; the limit is 20000"),
    (("fine", "--negative", HUGE), "negative prompt is 100002 characters long"),
    (("fine", "--name", HUGE[:100_000]), "prompt name must be at most 200 characters"),
])  # fmt: skip
def test_the_cli_refuses_a_100000_character_prompt_in_one_line(workspace, sample_video, args, needle):
    """Injects: 100,000 characters as the prompt, the negative prompt or the name (a NUL cannot be
    passed on a command line at all: the OS refuses it before the CLI starts)."""
    one_error_line(workspace.cli("prompt", "add", *args, "--video", str(sample_video)), needle)
    assert workspace.cli_json("prompts") == []


@pytest.mark.parametrize("fields, needle", [
    ({"text": HUGE}, "prompt is 100002 characters long"),
    ({"text": "a cat\x00rm -rf /"}, "prompt contains a NUL character"),
    ({"text": "\x00"}, "prompt contains a NUL character"),
    ({"text": "fine", "negative_prompt": "blurry\x00"}, "negative prompt contains a NUL character"),
    ({"text": "fine", "negative_prompt": HUGE}, "negative prompt is 100002 characters long"),
    ({"text": "fine", "name": "nul\x00name"}, "no NUL"),
])  # fmt: skip
def test_the_api_refuses_huge_or_nul_prompts_in_one_line(api, sample_video, fields, needle):
    """Injects: 100,000 characters or a NUL byte in the prompt, the negative prompt or the name."""
    text = fields.pop("text")
    with pytest.raises(CosmosError) as refused:
        api.add_prompt(text, sample_video, **fields)
    message = str(refused.value)
    assert needle in message and "\n" not in message and len(message) < 200, message[:300]
    assert api.list_prompts() == []


def sshd_activity(host: TestHost) -> dict[str, int]:
    """What sshd has logged so far: logins, exec commands, sessions of any kind (SFTP included)."""
    log = host.sshd_log_text()
    return {"logins": log.count("Accepted publickey"), "commands": host.count_exec_sessions(),
            "sessions": log.count("Starting session: ")}


def changed_key(tmp_path: Path, host: TestHost) -> Path:
    """A known_hosts whose entry for the host is another key (what a man in the middle would show)."""
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key = other.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts_changed"
    known.write_text(f"[{host.hostname}]:{host.port} {key_type} {key}\n")
    return known


def unknown_key(tmp_path: Path, host: TestHost) -> Path:
    known = tmp_path / "known_hosts_empty"
    known.write_text("")
    return known


@pytest.mark.parametrize("known_hosts, needle", [(changed_key, "HOST KEY CHANGED"), (unknown_key, "not in")],
                         ids=["changed", "unknown"])
def test_a_refused_host_key_runs_nothing_on_the_host(workspace, sample_video, tmp_path, known_hosts, needle):
    """Injects: the host's key in known_hosts replaced by another key, or removed, while a run is running
    there; then every command that reaches the host (and the ones that only read) is tried."""
    api = workspace.api()
    try:
        run = api.start_inference(api.add_prompt("long [sleep=20]", sample_video)["id"])
    finally:
        api.close()
    original = workspace.config.read_text()
    refused = known_hosts(tmp_path, workspace.host)
    workspace.config.write_text(original.replace(workspace.host.known_hosts, str(refused)))
    before = sshd_activity(workspace.host)
    fingerprint = workspace.host.host_key_fingerprint
    prompt = workspace.cli("prompt", "add", "refused", "--video", str(sample_video), check=True).stdout.strip()
    one_error_line(workspace.cli("run", prompt), needle, fingerprint)
    checked = workspace.cli("hosts", "check", "gpu1")  # its report, on stdout
    assert checked.returncode == 1 and needle in checked.stdout and "Traceback" not in checked.stderr, checked
    one_error_line(workspace.cli("logs", run["id"]), needle)
    for reading in (("runs",), ("show", run["id"]), ("sync",)):
        answered = workspace.cli(*reading)
        assert answered.returncode == 0 and "Traceback" not in answered.stderr, answered.stderr
        assert "warning: host gpu1 unreachable" in answered.stderr and needle in answered.stderr
    one_error_line(workspace.cli("cancel", run["id"]), "cancelled", needle)
    assert sshd_activity(workspace.host) == before  # no login, so no command and no SFTP

    workspace.config.write_text(original)
    restored = workspace.api()  # the right key again: nothing was lost, and the cancel reaches the host
    try:

        def container_removed() -> bool:
            restored.sync(Refresh.FORCE)
            return workspace.host.docker("inspect", f"cosmos-{run['id']}", check=False).returncode != 0

        wait_until(container_removed, 20, "the cancelled run's container to be removed", interval=0.2)
        statuses = {r["id"]: r["status"] for r in restored.list_runs(refresh=Refresh.NONE)}
        assert statuses[run["id"]] == "cancelled" and sorted(statuses.values()) == ["cancelled", "failed"]
    finally:
        restored.close()
