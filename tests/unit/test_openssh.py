"""The OpenSSH sftp command line and batch quoting (pure)."""

from pathlib import Path

from cosmos_core.config import HostConfig
from cosmos_core.ssh.openssh import quote, sftp_command

HOST = HostConfig(name="gpu1", hostname="203.0.113.7", user="ubuntu", port=2222, key_file=Path("/k/id_ed25519"),
                  known_hosts=Path("/k/known_hosts"), remote_dir="/r", image="i", docker=("docker",),
                  run_args=(), num_gpus=1)


def test_the_command_takes_everything_from_the_config_and_checks_host_keys_strictly():
    command = sftp_command(HOST, connect_timeout=10)
    assert command[:10] == ["sftp", "-q", "-b", "-", "-F", "none", "-P", "2222", "-i", "/k/id_ed25519"]
    options = dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "-o")
    assert options["StrictHostKeyChecking"] == "yes" and options["BatchMode"] == "yes"
    assert options["UserKnownHostsFile"] == "/k/known_hosts" and options["ConnectTimeout"] == "10"
    assert command[-1] == "ubuntu@203.0.113.7"


def test_batch_arguments_are_one_quoted_word_with_nothing_expanded():
    assert quote("/r/cosmos_runs/rs_1/outputs/output.mp4") == '"/r/cosmos_runs/rs_1/outputs/output.mp4"'
    assert quote('/a b/"x"\\y*?[z]') == '"/a b/\\"x\\"\\\\y\\*\\?\\[z\\]"'
