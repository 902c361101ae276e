"""What the dashboard refuses to expose: non-loopback binds without a login, and an outputs_dir holding
the config file or SSH secrets (cosmos_core/cli/exposure.py, pure; serve.refusal on a loaded config)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosmos_core.cli.exposure import bind_refusal, contains, is_loopback, outputs_refusal, secret_files
from cosmos_core.cli.serve import refusal
from cosmos_core.config import load_config

LOOPBACK = ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]", "localhost", "LOCALHOST", "localhost.",
            " 127.0.0.1 ", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"]
REACHABLE = ["0.0.0.0", "::", "[::]", "", "192.168.1.10", "10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1",
             "example.org", "gpu-box", "localhost.example.org", "my-localhost", "127.0.0.1.nip.io", "fe80::1"]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_addresses_and_localhost_are_loopback(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", REACHABLE)
def test_every_other_address_or_name_counts_as_reachable(host):
    assert not is_loopback(host)


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_all_of_127_slash_8_is_loopback(b, c, d):
    assert is_loopback(f"127.{b}.{c}.{d}")


@given(st.integers(0, 255).filter(lambda a: a != 127), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_no_other_ipv4_address_is_loopback(a, b, c, d):
    assert not is_loopback(f"{a}.{b}.{c}.{d}")


@pytest.mark.parametrize("host", LOOPBACK + REACHABLE)
@pytest.mark.parametrize("auth", ["", "team:secret"])
@pytest.mark.parametrize("insecure", [False, True])
def test_a_reachable_bind_is_refused_only_without_auth_and_without_insecure(host, auth, insecure):
    message = bind_refusal(host, auth, insecure)
    refused = not is_loopback(host) and not auth and not insecure
    assert (message is not None) == refused
    if refused:
        assert "\n" not in message and repr(host) in message
        assert "ui.auth" in message and "--insecure" in message


@pytest.mark.parametrize(("directory", "path", "inside"), [
    ("/home/u", "/home/u", True),
    ("/home/u", "/home/u/.ssh/id_ed25519", True),
    ("/", "/etc/passwd", True),
    ("/home/u/outputs", "/home/u/.ssh/id_ed25519", False),
    ("/home/u/out", "/home/u/outputs/x", False),  # a name prefix is not a parent
    ("/home/u/outputs", "/home/u", False),
    ("/data", "/config/cosmos.toml", False),
])
def test_contains_means_the_path_or_below_not_a_name_prefix(directory, path, inside):
    assert contains(Path(directory), Path(path)) is inside


SECRETS = [("config file", Path("/home/u/cosmos.toml")),
           ("key_file of host 'gpu1'", Path("/home/u/.ssh/id_ed25519")),
           ("known_hosts of host 'gpu1'", Path("/home/u/.ssh/known_hosts"))]


@pytest.mark.parametrize(("outputs", "named"), [
    ("/home/u", "config file"),  # outputs_dir = "~" with the config in ~
    ("/", "config file"),
    ("/home/u/.ssh", "key_file of host 'gpu1'"),
    ("/home/u/.ssh/known_hosts", "known_hosts of host 'gpu1'"),
    ("/home/u/outputs", None),
    ("/data", None),
])
def test_outputs_dir_holding_a_secret_is_refused_naming_the_first(outputs, named):
    message = outputs_refusal(Path(outputs), SECRETS)
    if named is None:
        assert message is None
    else:
        assert message is not None and "\n" not in message
        assert named in message and f"storage.outputs_dir {outputs} " in message


def test_the_secrets_are_the_config_each_hosts_keys_and_the_ssh_directory():
    hosts = [("gpu1", Path("/k/1"), Path("/k/kh")), ("gpu2", Path("/k/2"), Path("/k/kh"))]
    assert secret_files(Path("/c/cosmos.toml"), hosts, Path("/home/u")) == [
        ("config file", Path("/c/cosmos.toml")),
        ("key_file of host 'gpu1'", Path("/k/1")), ("known_hosts of host 'gpu1'", Path("/k/kh")),
        ("key_file of host 'gpu2'", Path("/k/2")), ("known_hosts of host 'gpu2'", Path("/k/kh")),
        ("SSH directory", Path("/home/u/.ssh")),
    ]
    assert secret_files(None, [], Path("/h")) == [("SSH directory", Path("/h/.ssh"))]


def _config(tmp_path: Path, body: str) -> Path:
    file = tmp_path / "cosmos.toml"
    file.write_text(body)
    return file


def test_a_loaded_config_is_checked_with_resolved_paths(tmp_path, monkeypatch):
    """A symlinked outputs_dir that leads to the keys is refused; the defaults are not."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    keys = tmp_path / "keys"
    keys.mkdir()
    (tmp_path / "link").symlink_to(keys)
    host = (f'[[hosts]]\nname = "gpu1"\nhostname = "h"\nuser = "u"\n'
            f'key_file = "{keys}/id"\nknown_hosts = "{keys}/kh"\n')
    bad = load_config(_config(tmp_path, f'[storage]\noutputs_dir = "{tmp_path}/link"\n{host}'))
    assert "key_file of host 'gpu1'" in refusal(bad, "127.0.0.1", insecure=False)
    good = load_config(_config(tmp_path, f'[storage]\noutputs_dir = "{tmp_path}/outputs"\n{host}'))
    assert refusal(good, "127.0.0.1", insecure=False) is None
    assert "without a login" in refusal(good, "0.0.0.0", insecure=False)
    assert refusal(good, "0.0.0.0", insecure=True) is None


def test_outputs_dir_home_is_refused_for_the_ssh_directory_even_without_hosts(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    config = load_config(_config(tmp_path, '[storage]\noutputs_dir = "~"\n'))
    assert "SSH directory" in refusal(config, "localhost", insecure=False)
