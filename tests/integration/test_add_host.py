"""Add host against the real stand-in sshd: the key shown is the host's, nothing is written before the
user trusts it, and once trusted the product's strict connect accepts the host the config now names."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, CosmosError
from cosmos_core.config import load_config
from tests.hostkit import TestHost, free_port

CONFIG = '# the team\'s settings\n[storage]\noutputs_dir = "{out}"\ndatabase = "sqlite:///{out}/cosmos.db"\n' \
         "[sync]\nprobe_timeout_seconds = 5  # keep this comment\n"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKhSf28Qi4v4IOf/iJvfwsyjByieuES3SOsKrlj3TgVd"
OTHER_FP = "SHA256:Vz8068DQzQ4OC6UPxr1jIR7mKtg90sE1N9+w9NTfDeQ"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.toml"
    path.write_text(CONFIG.format(out=tmp_path / "outputs"))
    return path


@pytest.fixture
def no_host_api(config_file: Path):
    api = CosmosAPI(load_config(config_file))
    yield api
    api.close()


def form(host: TestHost, known_hosts: Path, name: str = "gpu9") -> dict:
    return {"name": name, "hostname": host.hostname, "port": str(host.port), "user": host.user,
            "key_file": host.key_file, "known_hosts": str(known_hosts)}


def snapshot(*paths: Path) -> list[bytes | None]:
    return [p.read_bytes() if p.exists() else None for p in paths]


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
def test_scan_writes_nothing_then_add_trusts_the_key_and_appends_the_host(gpu_host, no_host_api, config_file,
                                                                         tmp_path, hashed):
    known_hosts = tmp_path / "ssh" / "known_hosts"
    if hashed:  # a file that hashes its names gets a hashed line, as `ssh-keyscan -H` writes
        known_hosts.parent.mkdir()
        known_hosts.write_text(f"|1|AAECAwQFBgcICQoLDA0ODxAREhM=|AAECAwQFBgcICQoLDA0ODxAREhM= {OTHER_KEY}\n")
    before = snapshot(config_file, known_hosts)

    scanned = no_host_api.scan_host_key(**form(gpu_host, known_hosts))

    assert scanned["fingerprint"] == gpu_host.host_key_fingerprint and scanned["key_type"] == "ssh-ed25519"
    assert scanned["trust"] == "unknown" and scanned["config_file"] == str(config_file)
    assert snapshot(config_file, known_hosts) == before  # byte for byte: nothing written before confirmation
    assert no_host_api.config.hosts == ()

    added = no_host_api.add_host(scanned)

    assert added["key_written"] and added["fingerprint"] == gpu_host.host_key_fingerprint
    text = config_file.read_text()
    assert text.startswith(CONFIG.format(out=tmp_path / "outputs"))  # appended: text and comments kept
    assert [h.name for h in no_host_api.config.hosts] == ["gpu9"]  # reloaded: usable at once
    lines = known_hosts.read_text().splitlines()
    assert lines[-1].startswith("|1|" if hashed else f"[{gpu_host.hostname}]:{gpu_host.port} ssh-ed25519 ")
    found = subprocess.run(["ssh-keygen", "-F", f"[{gpu_host.hostname}]:{gpu_host.port}", "-f", str(known_hosts)],
                           capture_output=True, text=True)
    assert found.returncode == 0  # OpenSSH finds it too
    # The same API, with no restart, reaches it through the strict connect; so does a new process.
    assert no_host_api.check_host("gpu9")["ssh"]["status"] == "ok"
    fresh = CosmosAPI(load_config(config_file))
    try:
        assert fresh.check_host("gpu9")["ssh"]["status"] == "ok"
    finally:
        fresh.close()


def test_a_changed_key_is_refused_with_both_fingerprints_and_nothing_written(gpu_host, no_host_api, config_file,
                                                                            tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{gpu_host.hostname}]:{gpu_host.port} {OTHER_KEY}\n")
    before = snapshot(config_file, known_hosts)

    with pytest.raises(CosmosError) as refused:
        no_host_api.scan_host_key(**form(gpu_host, known_hosts))

    message = str(refused.value)
    assert "HOST KEY CHANGED" in message and gpu_host.host_key_fingerprint in message and OTHER_FP in message
    assert "\n" not in message
    assert snapshot(config_file, known_hosts) == before


def test_a_key_changed_between_scan_and_trust_is_refused(gpu_host, no_host_api, config_file, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    scanned = no_host_api.scan_host_key(**form(gpu_host, known_hosts))
    known_hosts.write_text(f"[{gpu_host.hostname}]:{gpu_host.port} {OTHER_KEY}\n")  # trusted another meanwhile
    before = snapshot(config_file, known_hosts)
    with pytest.raises(CosmosError, match="HOST KEY CHANGED"):
        no_host_api.add_host(scanned)
    assert snapshot(config_file, known_hosts) == before


def test_an_already_trusted_key_adds_the_host_and_leaves_known_hosts(gpu_host, no_host_api, config_file):
    known_hosts = Path(gpu_host.known_hosts)
    before = known_hosts.read_bytes()
    scanned = no_host_api.scan_host_key(**form(gpu_host, known_hosts))
    assert scanned["trust"] == "known"
    added = no_host_api.add_host(scanned)
    assert not added["key_written"] and known_hosts.read_bytes() == before
    assert [h.name for h in load_config(config_file).hosts] == ["gpu9"]


def test_on_defaults_the_host_goes_to_a_new_cosmos_toml_here(gpu_host, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSMOS_CONFIG", raising=False)
    api = CosmosAPI(load_config())
    try:
        api.add_host(api.scan_host_key(**form(gpu_host, Path(gpu_host.known_hosts))))
        assert [h.name for h in load_config().hosts] == ["gpu9"]
        assert (tmp_path / "cosmos.toml").read_text().startswith("# Added by cosmos's Add host")
    finally:
        api.close()


def test_bad_input_and_a_taken_name_are_refused_before_connecting(gpu_host, no_host_api, config_file, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    no_host_api.add_host(no_host_api.scan_host_key(**form(gpu_host, known_hosts)))
    before = snapshot(config_file, known_hosts)
    for bad, message in (({"name": "gpu9"}, "name: a host called 'gpu9'"), ({"port": "x"}, "port: 'x'"),
                         ({"name": "a b"}, "name: 'a b'"), ({"key_file": str(tmp_path / "nope")}, "key file: ")):
        with pytest.raises(CosmosError, match=message):
            no_host_api.scan_host_key(**(form(gpu_host, known_hosts, name="gpu10") | bad))
    assert snapshot(config_file, known_hosts) == before


def test_a_known_hosts_line_that_is_no_key_is_one_line_naming_it(gpu_host, no_host_api, tmp_path):
    known_hosts = tmp_path / "kh"
    known_hosts.write_text("h ssh-ed25519 not*base64\n")
    with pytest.raises(CosmosError, match=rf"^{known_hosts} line 1: not a known_hosts entry"):
        no_host_api.scan_host_key(**form(gpu_host, known_hosts))


def test_a_port_where_nothing_listens_is_one_line(gpu_host, no_host_api, tmp_path):
    with pytest.raises(CosmosError, match=r"cannot connect: Connection refused"):
        no_host_api.scan_host_key(**(form(gpu_host, tmp_path / "kh") | {"port": str(free_port())}))


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on a tmpfs remounted read-only once the test has put files in it (as the team
    server's `/config`, mounted `:ro`); unmounted at teardown. Read-only even for root."""
    directory = tmp_path / "ro"
    directory.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)], check=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def seal(directory: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)


@pytest.mark.parametrize("read_only", ["config", "known_hosts"])
def test_a_file_it_cannot_write_is_named_and_nothing_is_written(gpu_host, tmp_path, read_only_dir, read_only):
    config_file = (read_only_dir if read_only == "config" else tmp_path) / "team.toml"
    config_file.write_text(CONFIG.format(out=tmp_path / "outputs"))
    known_hosts = (read_only_dir if read_only == "known_hosts" else tmp_path) / "known_hosts"
    known_hosts.write_text("")
    seal(read_only_dir)
    api = CosmosAPI(load_config(config_file))
    try:
        scanned = api.scan_host_key(**form(gpu_host, known_hosts))
        before = snapshot(config_file, known_hosts)
        with pytest.raises(CosmosError) as refused:
            api.add_host(scanned)
    finally:
        api.close()
    unwritable = config_file if read_only == "config" else known_hosts
    assert str(refused.value) == f"cannot write {unwritable}: read-only or not ours to write; nothing was written"
    assert snapshot(config_file, known_hosts) == before and api.config.hosts == ()
