"""`cosmos hosts add` against the real stand-in sshd: the key is shown and trusted only on a yes at a
terminal or a --fingerprint naming it; nothing is written before; the host is checked once added."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cosmos_core.config import load_config
from tests.hostkit import TestHost
from tests.terminal import TERMINAL_ENV, run_cli
from tests.workspace import REPO

OTHER_FP = "SHA256:Vz8068DQzQ4OC6UPxr1jIR7mKtg90sE1N9+w9NTfDeQ"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cosmos.toml"
    path.write_text(f'[storage]\noutputs_dir = "{tmp_path}/out"\ndatabase = "sqlite:///{tmp_path}/out/cosmos.db"\n')
    return path


def add_args(host: TestHost, known_hosts: Path, *extra: str) -> list[str]:
    return ["hosts", "add", "gpu9", f"{host.user}@{host.hostname}", "--port", str(host.port),
            "--key-file", host.key_file, "--known-hosts", str(known_hosts), *extra]


def snapshot(*paths: Path) -> list[bytes | None]:
    return [p.read_bytes() if p.exists() else None for p in paths]


def answered(config: Path, args: list[str], answer: str) -> subprocess.CompletedProcess[str]:
    """The CLI with stdin a terminal on which the user types `answer`."""
    leader, follower = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), **TERMINAL_ENV}
    with os.fdopen(leader, "wb", buffering=0) as keyboard:
        keyboard.write(answer.encode() + b"\n")  # waits in the terminal until the CLI reads its line
        done = subprocess.run([sys.executable, "-m", "cosmos_core", "--config", str(config), *args], stdin=follower,
                              capture_output=True, text=True, env=env, timeout=60)
    os.close(follower)
    return done


def test_without_a_terminal_an_unknown_key_needs_its_fingerprint_and_then_the_host_is_added_and_checked(
        gpu_host, config_file, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    before = snapshot(config_file, known_hosts)

    asked = run_cli(config_file, *add_args(gpu_host, known_hosts), timeout=60)
    assert asked.returncode == 2, asked.stderr
    assert f"--fingerprint {gpu_host.host_key_fingerprint}" in asked.stderr and asked.stderr.count("\n") == 1
    wrong = run_cli(config_file, *add_args(gpu_host, known_hosts, "--fingerprint", OTHER_FP), timeout=60)
    assert wrong.returncode == 1 and OTHER_FP in wrong.stderr and gpu_host.host_key_fingerprint in wrong.stderr
    assert "nothing was written" in wrong.stderr
    assert snapshot(config_file, known_hosts) == before

    added = run_cli(config_file, *add_args(gpu_host, known_hosts, "--fingerprint", gpu_host.host_key_fingerprint),
                    timeout=60)

    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    assert lines[0] == f"added host gpu9 to {config_file} and its key to {known_hosts}"
    assert lines[1].startswith("host gpu9: ") and lines[2].split()[:2] == ["ssh", "ok"]  # checked: it logged in
    assert [h.name for h in load_config(config_file).hosts] == ["gpu9"]
    assert subprocess.run(["ssh-keygen", "-F", f"[{gpu_host.hostname}]:{gpu_host.port}", "-f", str(known_hosts)],
                          capture_output=True).returncode == 0
    listed = run_cli(config_file, "hosts", timeout=60)
    assert "gpu9" in listed.stdout


@pytest.mark.parametrize("answer", ["n", "yes", OTHER_FP, "the host's own fingerprint"])
def test_at_a_terminal_the_key_is_shown_and_trusted_only_on_yes_or_its_fingerprint(gpu_host, config_file, tmp_path,
                                                                                   answer):
    known_hosts = tmp_path / "known_hosts"
    before = snapshot(config_file, known_hosts)
    typed = gpu_host.host_key_fingerprint if answer == "the host's own fingerprint" else answer

    done = answered(config_file, add_args(gpu_host, known_hosts, "--json"), typed)

    assert gpu_host.host_key_fingerprint in done.stderr and "ssh_host_ed25519_key.pub" in done.stderr
    assert "Trust this key and add host gpu9" in done.stderr
    if answer in ("n", OTHER_FP):
        assert done.returncode == 1 and ("not added" if answer == "n" else f"not the {OTHER_FP}") in done.stderr
        assert snapshot(config_file, known_hosts) == before
    else:
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["added"]["key_written"] and result["check"]["ssh"]["status"] == "ok"
        assert [h.name for h in load_config(config_file).hosts] == ["gpu9"]


def test_a_key_already_trusted_is_added_without_asking(gpu_host, config_file):
    known_hosts = Path(gpu_host.known_hosts)
    before = known_hosts.read_bytes()
    done = run_cli(config_file, *add_args(gpu_host, known_hosts), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"added host gpu9 to {config_file}\n") and known_hosts.read_bytes() == before


def test_an_address_without_a_user_is_a_usage_error(config_file):
    done = run_cli(config_file, "hosts", "add", "gpu9", "203.0.113.7", timeout=60)
    assert done.returncode == 2 and "expected USER@ADDRESS" in done.stderr


def test_a_host_added_with_its_image_and_checkout_runs_then_is_edited_and_removed_in_its_file(
        gpu_host, config_file, tmp_path, sample_video):
    """Add host takes the image, checkout, models and GPUs; `hosts edit` (the run_args the runtime refused
    included) and `hosts remove` change the file in place (its comments kept), and the next command works
    from the file as it is."""
    known_hosts = Path(gpu_host.known_hosts)
    config_file.write_text("# the lab's dashboard\n" + config_file.read_text())
    done = run_cli(config_file, *add_args(gpu_host, known_hosts, "--image", gpu_host.image, "--remote-dir",
                                          gpu_host.remote_dir, "--models", "transfer1", "--gpus", "2"), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "host gpu9: NOT READY" in done.stdout  # the run_args the runtime refuses (as a first user saw)
    assert ("start      fail   docker run cosmos-transfer1:test with the run_args failed: Error: invalid config "
            "provided: cannot set shmsize when running in the {host } IPC Namespace") in done.stdout.splitlines()
    fixed = run_cli(config_file, "hosts", "edit", "gpu9", "--run-args=--gpus all --ipc=host", timeout=60)
    assert fixed.returncode == 0 and fixed.stdout == "host gpu9: run_args = --gpus all --ipc=host\n", fixed.stderr
    assert 'run_args = ["--gpus", "all", "--ipc=host"]' in config_file.read_text()
    unbalanced = run_cli(config_file, "hosts", "edit", "gpu9", "--run-args=--label 'a", timeout=60)
    assert unbalanced.returncode == 2 and "No closing quotation" in unbalanced.stderr
    assert run_cli(config_file, "hosts", "check", "gpu9", timeout=60).stdout.startswith("host gpu9: ready\n")
    host = load_config(config_file).host("gpu9")
    assert (host.image, host.remote_dir, host.models, host.gpus) == (gpu_host.image, gpu_host.remote_dir,
                                                                    ("transfer1",), 2)
    prompt = run_cli(config_file, "prompt", "add", "first", "--video", str(sample_video), timeout=60).stdout.strip()
    run_id = run_cli(config_file, "run", prompt, timeout=120).stdout.strip()
    waited = run_cli(config_file, "sync", "--wait", "--timeout", "90", timeout=120)
    assert waited.returncode == 0, waited.stderr
    assert run_cli(config_file, "show", run_id, "--json", timeout=60).stdout.count('"status": "completed"') == 1

    edited = run_cli(config_file, "hosts", "edit", "gpu9", "--image", "cosmos-missing:none", "--gpus", "", timeout=60)
    assert edited.returncode == 2  # --gpus takes a number
    edited = run_cli(config_file, "hosts", "edit", "gpu9", "--image", "cosmos-missing:none", timeout=60)
    assert edited.returncode == 0 and edited.stdout == "host gpu9: image = cosmos-missing:none\n"
    checked = run_cli(config_file, "hosts", "check", "gpu9", timeout=60)
    assert checked.returncode == 1 and "cosmos-missing:none not found" in checked.stdout
    assert config_file.read_text().startswith("# the lab's dashboard\n")  # the file's own lines kept
    refused = run_cli(config_file, "hosts", "edit", "gpu9", "--gpus", "0", timeout=60)
    assert refused.returncode == 1 and refused.stderr.startswith("error: the config file would not load: ")
    assert run_cli(config_file, "hosts", "remove", "gpu9", timeout=60).returncode == 0
    assert load_config(config_file).hosts == () and "# the lab's dashboard" in config_file.read_text()
