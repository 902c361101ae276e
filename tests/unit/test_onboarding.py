"""Add host's pure parts: the form's checks, the table it appends, known_hosts lines, key judgements."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import paramiko
import pytest

from cosmos_core.config import load_config
from cosmos_core.config_edit import added_text
from cosmos_core.ssh.hostkeys import (
    KnownHostsError,
    Trust,
    fingerprint,
    hashed_name,
    judge,
    known_hosts_line,
    known_hosts_name,
    read_known_hosts,
    uses_hashed_names,
)
from cosmos_core.ssh.onboarding import (
    NewHost,
    OnboardingError,
    add_host,
    added_comment,
    host_table,
    key_text,
    parse_key_text,
    parse_new_host,
    parse_port,
)

# Two ed25519 public keys made with ssh-keygen, with the fingerprints `ssh-keygen -lf` printed for them.
KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFG9JA1f7KuKlFqgu+RiD9WVtMbaGB7zTWP/vJH6EWAQ"
FP_A = "SHA256:FB/ifTvWNAveKWn0J8dztoUcEpG0PezRejxfQaq6pTA"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKhSf28Qi4v4IOf/iJvfwsyjByieuES3SOsKrlj3TgVd"
FP_B = "SHA256:Vz8068DQzQ4OC6UPxr1jIR7mKtg90sE1N9+w9NTfDeQ"
SALT = bytes(range(20))


def test_fingerprints_are_the_ones_ssh_keygen_prints():
    assert fingerprint(parse_key_text(KEY_A)) == FP_A
    assert fingerprint(parse_key_text(KEY_B)) == FP_B


def test_a_key_goes_back_to_the_text_it_came_from():
    assert key_text(parse_key_text(KEY_A)) == KEY_A


@pytest.mark.parametrize("text", ["", "ssh-ed25519", "ssh-ed25519 !!!", "ssh-nope AAAA", f"{KEY_A} extra"])
def test_a_bad_public_key_is_one_line(text):
    with pytest.raises(OnboardingError, match="not a public key"):
        parse_key_text(text)


def test_the_form_with_defaults():
    host = parse_new_host(" gpu1 ", " 203.0.113.7 ", "22", " ubuntu ")
    assert host == NewHost("gpu1", "203.0.113.7", 22, "ubuntu", "~/.ssh/id_ed25519", "~/.ssh/known_hosts")
    assert host.address == "ubuntu@203.0.113.7:22"
    assert parse_new_host("a.b-c_1", "h", 2222.0, "u", "/k", "/kh").port == 2222


@pytest.mark.parametrize(("values", "message"), [
    (("", "h", "22", "u"), "name: give the host a name"),
    (("gpu 1", "h", "22", "u"), "name: 'gpu 1' must use only"),
    (("gpu/1", "h", "22", "u"), "name: 'gpu/1' must use only"),
    (("gpü", "h", "22", "u"), "name: 'gpü' must use only"),
    (("gpu1", "", "22", "u"), "address: give the host's name"),
    (("gpu1", "a b", "22", "u"), "address: 'a b' is not"),
    (("gpu1", "-oProxyCommand=x", "22", "u"), "address: '-oProxyCommand=x' is not"),
    (("gpu1", "h", "22", ""), "user: give the user"),
    (("gpu1", "h", "22", "a\tb"), "user: 'a\\tb' is not"),
    (("gpu1", "h", "", "u"), "port: 'nothing' is not a port"),
    (("gpu1", "h", "abc", "u"), "port: 'abc' is not a port"),
    (("gpu1", "h", "0", "u"), "port: '0' is not a port"),
    (("gpu1", "h", "65536", "u"), "port: '65536' is not a port"),
    (("gpu1", "h", "-22", "u"), "port: '-22' is not a port"),
    (("gpu1", "h", 22.5, "u"), "port: '22.5' is not a port"),
])  # fmt: skip
def test_bad_input_is_one_line_naming_the_field(values, message):
    with pytest.raises(OnboardingError) as caught:
        parse_new_host(*values)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_taken_name_is_refused():
    with pytest.raises(OnboardingError, match="name: a host called 'gpu1' is already configured"):
        parse_new_host("gpu1", "h", 22, "u", taken=["gpu0", "gpu1"])


def test_a_path_with_a_control_character_is_refused():
    with pytest.raises(OnboardingError, match="key file: .* is not a file path"):
        parse_new_host("gpu1", "h", 22, "u", key_file="/k\n[ui]")


@pytest.mark.parametrize("port", [1, 22, "65535", None])
def test_ports(port):
    if port is None:
        with pytest.raises(OnboardingError):
            parse_port(port)
    else:
        assert parse_port(port) == int(port)


def test_the_table_loads_as_the_host_given():
    host = NewHost("gpu1", "h\"ost", 2222, "u\\ser", "~/.ssh/id key", "/tmp/kh#1")
    table = added_text("", host_table(host), added_comment(datetime(2026, 12, 1, 9, 30, tzinfo=UTC)))
    assert table.startswith("# Added by cosmos's Add host, 2026-12-01 09:30 UTC\n[[hosts]]\n")
    assert tomllib.loads(table)["hosts"] == [{"name": "gpu1", "hostname": 'h"ost', "port": 2222, "user": "u\\ser",
                                              "key_file": "~/.ssh/id key", "known_hosts": "/tmp/kh#1"}]


def test_known_hosts_names_are_openssh_forms():
    assert known_hosts_name("203.0.113.7", 22) == "203.0.113.7"
    assert known_hosts_name("gpu.example", 2222) == "[gpu.example]:2222"


def test_a_plain_line_is_what_ssh_keyscan_prints():
    kind, blob = KEY_A.split()
    assert known_hosts_line("h", 22, kind, blob) == f"h {KEY_A}\n"
    assert known_hosts_line("h", 2222, kind, blob) == f"[h]:2222 {KEY_A}\n"


def test_a_hashed_line_is_openssh_hashing():
    kind, blob = KEY_A.split()
    line = known_hosts_line("h", 2222, kind, blob, SALT)
    assert line.split()[0] == hashed_name("[h]:2222", SALT) == paramiko.HostKeys.hash_host("[h]:2222", SALT_B64)
    assert uses_hashed_names(line) and not uses_hashed_names(f"h {KEY_A}\n")
    assert judge(_known(line), "h", 2222, parse_key_text(KEY_A)).trust is Trust.KNOWN
    assert judge(_known(line), "h", 22, parse_key_text(KEY_A)).trust is Trust.UNKNOWN


SALT_B64 = "AAECAwQFBgcICQoLDA0ODxAREhM="


def _known(text: str) -> paramiko.HostKeys:
    known = paramiko.HostKeys()
    for line in text.splitlines():
        entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
        assert entry is not None, f"not a known_hosts line: {line!r}"
        for name in entry.hostnames:
            known.add(name, entry.key.get_name(), entry.key)
    return known


def test_judging_a_key_against_known_hosts():
    a, b = parse_key_text(KEY_A), parse_key_text(KEY_B)
    known = _known(f"[h]:2222 {KEY_A}\nother {KEY_B}\n")
    assert judge(known, "h", 2222, a).trust is Trust.KNOWN
    changed = judge(known, "h", 2222, b)
    assert changed.trust is Trust.CHANGED and changed.known_fingerprint == FP_A
    assert judge(known, "h", 22, a).trust is Trust.UNKNOWN  # another port is another host
    assert judge(known, "new", 22, a).trust is Trust.UNKNOWN


def _scanned(tmp_path, **changes):
    return {"name": "gpu9", "hostname": "h", "port": 2222, "user": "u", "key_file": "~/.ssh/k",
            "known_hosts": str(tmp_path / "kh"), "key": KEY_A} | changes


def test_add_host_appends_after_a_last_line_without_newline_and_trusts_the_key(tmp_path):
    config = tmp_path / "cosmos.toml"
    config.write_text('[ui]\nport = 7861  # mine')
    added = add_host(load_config(config), _scanned(tmp_path), datetime(2026, 12, 1, tzinfo=UTC))
    assert config.read_text().startswith('[ui]\nport = 7861  # mine\n\n# Added by')
    assert added == {"name": "gpu9", "config_file": str(config), "known_hosts": str(tmp_path / "kh"),
                     "fingerprint": FP_A, "key_written": True}
    assert (tmp_path / "kh").read_text() == f"[h]:2222 {KEY_A}\n"
    assert [h.name for h in load_config(config).hosts] == ["gpu9"]


@pytest.mark.parametrize(("text", "message"), [
    ('hosts = [{name = "a", hostname = "x", user = "u"}]\n', "would not load with the new host"),
    ('[[hosts]]\nname = "gpu9"\nhostname = "x"\nuser = "u"\n', "name: a host called 'gpu9' is already configured"),
])  # fmt: skip
def test_add_host_refuses_what_would_break_the_file_and_writes_nothing(tmp_path, text, message):
    config = tmp_path / "cosmos.toml"
    config.write_text(text)
    with pytest.raises(OnboardingError, match=message):
        add_host(load_config(config), _scanned(tmp_path))
    assert config.read_text() == text and not (tmp_path / "kh").exists()


def test_a_known_hosts_line_that_is_no_key_is_named_by_file_and_line(tmp_path):
    path = tmp_path / "known_hosts"
    path.write_text(f"# keys\n\nh {KEY_A}\nh2 ssh-ed25519 not*base64\nother {KEY_B}\n")
    with pytest.raises(KnownHostsError, match=rf"^{path} line 4: not a known_hosts entry"):
        read_known_hosts(path)
    path.write_text(f"# keys\nh {KEY_A}\n")
    assert judge(read_known_hosts(path), "h", 22, parse_key_text(KEY_A)).trust is Trust.KNOWN
    assert read_known_hosts(tmp_path / "missing").keys() == []
