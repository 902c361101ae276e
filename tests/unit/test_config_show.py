"""`config show` (pure part): the effective config in the file's shape, TOML that loads back, masked secrets."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest

from cosmos_core.cli.config_commands import effective, masked, to_toml
from cosmos_core.config import load_config
from cosmos_core.masking import mask_auth, mask_url

EVERYTHING = r"""
[storage]
database = "postgresql://cosmos:pa:ss@w0rd@db.example.org:5432/runs?sslmode=require"
outputs_dir = "~/dl/../out"
busy_timeout_seconds = 12.5

[ui]
host = "0.0.0.0"
port = 8080
refresh_seconds = 2
auth = "admin:s3cret:x"

[sync]
min_interval_seconds = 0
lost_after_seconds = 60.5
download_budget_seconds = 1e-3
probe_timeout_seconds = 7

[notify]
url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET?x=1"

[[hosts]]
name = "gpu1"
hostname = "203.0.113.7"
user = "ubuntu"
port = 2222
key_file = "~/keys/gpu1"
docker = "sudo -n '/opt/my tools/docker'"
run_args = ["--gpus", "device=0", "--label", "a \"quoted\" \\ word\t\u007f é"]
num_gpus = 2
gpus = 4
models = ["transfer1", "transfer2.5"]

[hosts.model."transfer2.5"]
image = "ct25:dev"

[[hosts]]
name = "cluster"
hostname = "login.example.org"
user = "root"
executor = "slurm"
gres = "gpu:2"
time_limit = "1-00:00:00"
container = "apptainer"

[[hosts]]
name = "desk"
executor = "local"
remote_dir = ""
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """'~' is tmp_path/home (it need not exist), and the cwd is tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("auth", "shown"), [("", ""), ("admin:pw", "admin:****"), ("admin:p:w", "admin:****")])
def test_auth_keeps_the_user_only(auth: str, shown: str) -> None:
    assert mask_auth(auth) == shown


@pytest.mark.parametrize(("url", "shown"), [
    ("sqlite:///outputs/cosmos.db", "sqlite:///outputs/cosmos.db"),
    ("sqlite:////var/lib/cosmos.db", "sqlite:////var/lib/cosmos.db"),
    ("postgresql://user:pw@host/db", "postgresql://user:****@host/db"),
    ("postgres://user:p@ss:w@host:5432/db", "postgres://user:****@host:5432/db"),
    ("postgresql://user@host/db", "postgresql://user@host/db"),
    ("postgresql://host/db?sslmode=require&password=pw", "postgresql://host/db?sslmode=require&password=****"),
    ("postgresql://u:pw@[::1/db", "postgresql://****"),  # does not parse: nothing but the scheme shown
])
def test_a_database_url_loses_its_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize(("url", "shown"), [
    ("", ""),
    ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/****"),
    ("http://127.0.0.1:9000/hook?token=abc", "http://127.0.0.1:9000/****"),
    ("https://chat.example.org/?token=abc", "https://chat.example.org/****"),
    ("https://u:pw@chat.example.org", "https://u:****@chat.example.org"),
    ("https://chat.example.org/", "https://chat.example.org/"),
])
def test_a_webhook_url_loses_its_path_and_query(url: str, shown: str) -> None:
    assert mask_url(url, hide_path=True) == shown


def test_the_toml_loads_back_to_the_same_config(home: Path, tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "a.toml", EVERYTHING), environ={})
    again = load_config(write(tmp_path / "b.toml", to_toml(effective(config))), environ={})
    assert dataclasses.replace(again, source=None) == dataclasses.replace(config, source=None)
    assert config.hosts[0].docker == ("sudo", "-n", "/opt/my tools/docker")
    assert config.hosts[0].run_args[-1] == 'a "quoted" \\ word\t\x7f é'


def test_the_defaults_are_all_written_out(home: Path) -> None:
    doc = effective(load_config(environ={}))
    assert doc["storage"] == {"database": "sqlite:///outputs/cosmos.db", "outputs_dir": str(home.parent / "outputs"),
                              "busy_timeout_seconds": 30.0}
    assert doc["ui"] == {"host": "127.0.0.1", "port": 7860, "refresh_seconds": 5.0, "auth": ""}
    assert doc["sync"]["probe_timeout_seconds"] == 15.0 and doc["notify"] == {"url": ""} and doc["hosts"] == []
    assert tomllib.loads(to_toml(doc)) == {section: doc[section] for section in ("storage", "ui", "sync", "notify")}


def test_a_host_shows_its_derived_values(home: Path, tmp_path: Path) -> None:
    hosts = effective(load_config(write(tmp_path / "a.toml", EVERYTHING), environ={}))["hosts"]
    gpu1, cluster, desk = hosts
    assert gpu1["key_file"] == str(home / "keys" / "gpu1") and gpu1["remote_dir"] == "/home/ubuntu/cosmos-transfer1"
    assert gpu1["model"] == {"transfer2.5": {"image": "ct25:dev", "remote_dir": "/home/ubuntu/cosmos-transfer2.5",
                                             "run_args": gpu1["run_args"]}}
    assert "partition" not in gpu1 and gpu1["gpus"] == 4 and "model" not in cluster
    assert (cluster["gres"], cluster["partition"], cluster["container"]) == ("gpu:2", "", "apptainer")
    assert "gpus" not in cluster  # unset: no queue
    assert (desk["hostname"], desk["remote_dir"], desk["executor"]) == ("localhost", "", "local")


def test_masked_hides_every_secret_and_nothing_else(home: Path, tmp_path: Path) -> None:
    doc = effective(load_config(write(tmp_path / "a.toml", EVERYTHING), environ={}))
    shown = masked(doc)
    text = json.dumps(shown) + to_toml(shown)
    for secret in ("s3cret", "pa:ss", "w0rd", "XXXXSECRET", "T000"):
        assert secret not in text
    assert shown["ui"]["auth"] == "admin:****"
    assert shown["storage"]["database"] == "postgresql://cosmos:****@db.example.org:5432/runs?sslmode=require"
    assert shown["notify"]["url"] == "https://hooks.slack.com/****"
    assert {k: v for k, v in shown.items() if k not in ("storage", "ui", "notify")} == \
        {k: v for k, v in doc.items() if k not in ("storage", "ui", "notify")}
    assert "s3cret" in doc["ui"]["auth"]  # the config itself is left as it was
