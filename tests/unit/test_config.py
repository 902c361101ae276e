"""Unit tests for cosmos_core.config: defaults, source precedence, validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cosmos_core.config import (
    Config,
    ConfigError,
    HostConfig,
    SyncConfig,
    UIConfig,
    load_config,
)

HOST = '[[hosts]]\nname = "gpu1"\nhostname = "203.0.113.7"\nuser = "ubuntu"\n'

FULL = """
[storage]
database = "postgresql://user:pw@db:5432/cosmos"
outputs_dir = "data/out"

[ui]
host = "0.0.0.0"
port = 8080
refresh_seconds = 2.5
auth = "admin:s3cret"

[sync]
min_interval_seconds = 1
lost_after_seconds = 60.5
download_budget_seconds = 10
probe_timeout_seconds = 7.5

[[hosts]]
name = "gpu1"
hostname = "203.0.113.7"
port = 2222
user = "ubuntu"
key_file = "~/keys/gpu1"
known_hosts = "/etc/ssh/known"
remote_dir = "/data/cosmos"
image = "cosmos-transfer1:v2"
docker = "sudo docker"
run_args = ["--gpus", "device=0"]
num_gpus = 4

[[hosts]]
name = "gpu2"
hostname = "gpu2.example.org"
user = "root"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake $HOME so that '~' expansion is deterministic."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    """Run in an empty work dir, with $COSMOS_CONFIG unset in os.environ."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("COSMOS_CONFIG", raising=False)
    return work


def load(cwd: Path, text: str) -> Config:
    """Load `text` as ./cosmos.toml."""
    (cwd / "cosmos.toml").write_text(text, encoding="utf-8")
    return load_config(environ={})


def error(cwd: Path, text: str) -> str:
    """The message of the ConfigError for `text` as ./cosmos.toml; checks its shape."""
    with pytest.raises(ConfigError) as info:
        load(cwd, text)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith("cosmos.toml: ")
    return message


# --- defaults ---------------------------------------------------------------


def test_no_file_gives_defaults(cwd: Path) -> None:
    config = load_config(environ={})
    assert config.source is None
    assert config.storage.database == "sqlite:///outputs/cosmos.db"
    assert config.storage.outputs_dir == cwd / "outputs"
    assert config.ui == UIConfig(host="127.0.0.1", port=7860, refresh_seconds=5.0, auth="")
    assert config.sync == SyncConfig(
        min_interval_seconds=2.0, lost_after_seconds=120.0, download_budget_seconds=3.0, probe_timeout_seconds=15.0
    )
    assert config.hosts == ()


def test_empty_file_gives_defaults(cwd: Path) -> None:
    defaults = load_config(environ={})
    config = load(cwd, "")
    assert config.source == cwd / "cosmos.toml"
    assert dataclasses.replace(config, source=None) == defaults


def test_float_defaults_are_floats(cwd: Path) -> None:
    config = load_config(environ={})
    for value in (config.ui.refresh_seconds, *dataclasses.astuple(config.sync)):
        assert type(value) is float


def test_host_defaults(cwd: Path, home: Path) -> None:
    host = load(cwd, HOST).host("gpu1")
    assert host == HostConfig(
        name="gpu1",
        hostname="203.0.113.7",
        user="ubuntu",
        port=22,
        key_file=home / ".ssh" / "id_ed25519",
        known_hosts=home / ".ssh" / "known_hosts",
        remote_dir="/home/ubuntu/cosmos-transfer1",
        image="cosmos-transfer1:latest",
        docker=("docker",),
        run_args=("--gpus", "all", "--ipc=host", "--shm-size=8g"),
        num_gpus=1,
    )


def test_remote_dir_default_for_root(cwd: Path) -> None:
    host = load(cwd, HOST.replace('"ubuntu"', '"root"')).host(None)
    assert host.remote_dir == "/root/cosmos-transfer1"


def test_explicit_remote_dir_is_kept(cwd: Path) -> None:
    host = load(cwd, HOST + 'remote_dir = "/srv/c"\n').host(None)
    assert host.remote_dir == "/srv/c"


def test_partial_section_keeps_other_defaults(cwd: Path) -> None:
    config = load(cwd, "[ui]\nport = 9000\n")
    assert config.ui == UIConfig(host="127.0.0.1", port=9000, refresh_seconds=5.0, auth="")


# --- full file --------------------------------------------------------------


def test_full_file(cwd: Path, home: Path) -> None:
    config = load(cwd, FULL)
    assert config.storage.database == "postgresql://user:pw@db:5432/cosmos"
    assert config.storage.outputs_dir == cwd / "data" / "out"
    assert config.ui == UIConfig(
        host="0.0.0.0", port=8080, refresh_seconds=2.5, auth="admin:s3cret"
    )
    assert config.sync == SyncConfig(
        min_interval_seconds=1.0, lost_after_seconds=60.5, download_budget_seconds=10.0, probe_timeout_seconds=7.5
    )
    assert type(config.sync.min_interval_seconds) is float
    gpu1, gpu2 = config.hosts
    assert gpu1 == HostConfig(
        name="gpu1",
        hostname="203.0.113.7",
        user="ubuntu",
        port=2222,
        key_file=home / "keys" / "gpu1",
        known_hosts=Path("/etc/ssh/known"),
        remote_dir="/data/cosmos",
        image="cosmos-transfer1:v2",
        docker=("sudo", "docker"),
        run_args=("--gpus", "device=0"),
        num_gpus=4,
    )
    assert gpu2.remote_dir == "/root/cosmos-transfer1"


def test_config_is_frozen(cwd: Path) -> None:
    config = load(cwd, FULL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.ui.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hosts[0].name = "x"  # type: ignore[misc]


def test_inline_array_of_tables_is_accepted(cwd: Path) -> None:
    config = load(cwd, 'hosts = [{name = "a", hostname = "h", user = "u"}]\n')
    assert config.host(None).name == "a"


def test_empty_hosts_array(cwd: Path) -> None:
    assert load(cwd, "hosts = []\n").hosts == ()


@pytest.mark.parametrize(
    "database",
    [
        "sqlite:///outputs/cosmos.db",
        "sqlite:////var/lib/cosmos.db",
        "postgresql://u:p@h:5432/db",
        "postgres://u:p@h/db",
        "postgresql://u:p:a@ss@[::1]:5432/db",
    ],
)
def test_database_urls_accepted_and_kept_verbatim(cwd: Path, database: str) -> None:
    config = load(cwd, f'[storage]\ndatabase = "{database}"\n')
    assert config.storage.database == database


@pytest.mark.parametrize("auth", ["", "user:pw", "user:pa:ss"])
def test_auth_accepted(cwd: Path, auth: str) -> None:
    assert load(cwd, f'[ui]\nauth = "{auth}"\n').ui.auth == auth


@pytest.mark.parametrize("port", [1, 65535])
def test_port_bounds_accepted(cwd: Path, port: int) -> None:
    assert load(cwd, f"[ui]\nport = {port}\n").ui.port == port
    assert load(cwd, HOST + f"port = {port}\n").host(None).port == port


@pytest.mark.parametrize("name", ["gpu1", "GPU_1", "a.b-c", "0"])
def test_host_name_accepted(cwd: Path, name: str) -> None:
    assert load(cwd, HOST.replace('"gpu1"', f'"{name}"')).host(name).name == name


# --- sources ----------------------------------------------------------------


def write(path: Path, port: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[ui]\nport = {port}\n", encoding="utf-8")
    return path


def test_explicit_path_beats_env_and_cwd(cwd: Path, tmp_path: Path) -> None:
    write(cwd / "cosmos.toml", 1001)
    env_file = write(tmp_path / "env.toml", 1002)
    explicit = write(tmp_path / "explicit.toml", 1003)
    config = load_config(explicit, environ={"COSMOS_CONFIG": str(env_file)})
    assert config.ui.port == 1003
    assert config.source == explicit


def test_explicit_path_accepts_str(cwd: Path, tmp_path: Path) -> None:
    explicit = write(tmp_path / "explicit.toml", 1003)
    assert load_config(str(explicit), environ={}).ui.port == 1003


def test_env_beats_cwd(cwd: Path, tmp_path: Path) -> None:
    write(cwd / "cosmos.toml", 1001)
    env_file = write(tmp_path / "env.toml", 1002)
    config = load_config(environ={"COSMOS_CONFIG": str(env_file)})
    assert config.ui.port == 1002
    assert config.source == env_file


def test_cwd_file_used_last(cwd: Path) -> None:
    write(cwd / "cosmos.toml", 1001)
    config = load_config(environ={})
    assert config.ui.port == 1001
    assert config.source == cwd / "cosmos.toml"
    assert config.source.is_absolute()


def test_cwd_file_is_relative_to_cwd_not_home(cwd: Path, home: Path) -> None:
    write(home / "cosmos.toml", 1001)
    assert load_config(environ={}).source is None


def test_empty_env_var_counts_as_unset(cwd: Path) -> None:
    write(cwd / "cosmos.toml", 1001)
    assert load_config(environ={"COSMOS_CONFIG": ""}).ui.port == 1001


def test_environ_defaults_to_os_environ(
    cwd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write(tmp_path / "env.toml", 1002)
    monkeypatch.setenv("COSMOS_CONFIG", str(env_file))
    assert load_config().ui.port == 1002


def test_explicit_environ_ignores_os_environ(
    cwd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_CONFIG", str(write(tmp_path / "env.toml", 1002)))
    assert load_config(environ={}).source is None


def test_missing_explicit_path_is_an_error(cwd: Path, tmp_path: Path) -> None:
    write(cwd / "cosmos.toml", 1001)
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing, environ={})
    assert str(info.value) == f"{missing}: config file not found"


def test_missing_env_path_is_an_error(cwd: Path, tmp_path: Path) -> None:
    write(cwd / "cosmos.toml", 1001)
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(environ={"COSMOS_CONFIG": str(missing)})
    message = str(info.value)
    assert message.startswith(f"{missing}: config file not found")
    assert "$COSMOS_CONFIG" in message
    assert "\n" not in message


def test_errors_name_the_file_as_given(cwd: Path, tmp_path: Path) -> None:
    bad = tmp_path / "conf" / "bad.toml"
    bad.parent.mkdir()
    bad.write_text("[ui]\nport = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^.*bad\.toml: 'ui\.port'"):
        load_config(environ={"COSMOS_CONFIG": str(bad)})


def test_outputs_dir_is_resolved_against_the_cwd(
    cwd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "elsewhere" / "c.toml"
    conf.parent.mkdir()
    conf.write_text('[storage]\noutputs_dir = "out/../dl"\n', encoding="utf-8")
    config = load_config(conf, environ={})
    assert config.storage.outputs_dir == cwd / "dl"
    monkeypatch.chdir(tmp_path)
    assert config.storage.outputs_dir == cwd / "dl"


def test_absolute_outputs_dir_is_kept(cwd: Path, tmp_path: Path) -> None:
    target = tmp_path / "abs"
    config = load(cwd, f'[storage]\noutputs_dir = "{target}"\n')
    assert config.storage.outputs_dir == target


def test_sqlite_url_is_not_rewritten(cwd: Path) -> None:
    config = load(cwd, '[storage]\ndatabase = "sqlite:///rel/x.db"\n')
    assert config.storage.database == "sqlite:///rel/x.db"


# --- tilde and docker -------------------------------------------------------


def test_tilde_expansion(cwd: Path, home: Path) -> None:
    config = load(
        cwd,
        '[storage]\noutputs_dir = "~/dl"\n'
        + HOST
        + 'key_file = "~/k/id"\nknown_hosts = "~/k/known"\n',
    )
    assert config.storage.outputs_dir == home / "dl"
    host = config.host("gpu1")
    assert host.key_file == home / "k" / "id"
    assert host.known_hosts == home / "k" / "known"


def test_tilde_not_expanded_in_remote_dir(cwd: Path) -> None:
    host = load(cwd, HOST + 'remote_dir = "~/c"\n').host(None)
    assert host.remote_dir == "~/c"


@pytest.mark.parametrize(
    ("docker", "expected"),
    [
        ("docker", ("docker",)),
        ("sudo docker", ("sudo", "docker")),
        ("  sudo   -n  docker ", ("sudo", "-n", "docker")),
        ("'/opt/my tools/docker'", ("/opt/my tools/docker",)),
        ("podman", ("podman",)),
    ],
)
def test_docker_prefix_is_split(cwd: Path, docker: str, expected: tuple[str, ...]) -> None:
    host = load(cwd, HOST + f'docker = "{docker}"\n').host(None)
    assert host.docker == expected


# --- host() -----------------------------------------------------------------


def test_host_none_is_first(cwd: Path) -> None:
    assert load(cwd, FULL).host(None).name == "gpu1"
    assert load(cwd, FULL).host().name == "gpu1"


def test_host_by_name(cwd: Path) -> None:
    assert load(cwd, FULL).host("gpu2").hostname == "gpu2.example.org"


def test_unknown_host_lists_names(cwd: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(cwd, FULL).host("gpu9")
    message = str(info.value)
    assert "'gpu9'" in message and "gpu1, gpu2" in message
    assert "cosmos.toml" in message and "\n" not in message


def test_host_without_hosts_on_defaults(cwd: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ={}).host(None)
    message = str(info.value)
    assert message == ("defaults (no config file): no hosts configured "
                       "(add one with `cosmos hosts add NAME USER@ADDRESS`, or a [[hosts]] table)")


def test_unknown_host_without_hosts_says_none(cwd: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown host 'x'; configured hosts: none$"):
        load(cwd, "").host("x")


def test_no_hosts_error_names_the_file(cwd: Path) -> None:
    with pytest.raises(ConfigError, match=r"cosmos\.toml: no hosts configured"):
        load(cwd, "").host(None)


# --- errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unknown keys and tables
        (
            "[sync]\nmin_intervall = 1\n",
            "cosmos.toml: unknown key 'sync.min_intervall'",
        ),
        ("[ui]\nbogus = 1\n", "cosmos.toml: unknown key 'ui.bogus'"),
        ("[storage]\nbogus = 1\n", "cosmos.toml: unknown key 'storage.bogus'"),
        (HOST + "nmae = 'x'\n", "cosmos.toml: unknown key 'hosts[0].nmae'"),
        ("[frobnicate]\nx = 1\n", "cosmos.toml: unknown table 'frobnicate'"),
        ("[host]\n", "cosmos.toml: unknown table 'host'"),
        ("verbose = true\n", "cosmos.toml: unknown key 'verbose'"),
        # sections of the wrong shape
        ('ui = "x"\n', "cosmos.toml: 'ui' must be a table, got string"),
        ("storage = [1]\n", "cosmos.toml: 'storage' must be a table, got array"),
        (
            "[hosts]\nname = 'a'\n",
            "cosmos.toml: 'hosts' must be an array of tables ([[hosts]]), got table",
        ),
        (
            "hosts = 'gpu1'\n",
            "cosmos.toml: 'hosts' must be an array of tables ([[hosts]]), got string",
        ),
        ("hosts = [1]\n", "cosmos.toml: 'hosts[0]' must be a table, got integer"),
        # types
        (
            '[ui]\nport = "80"\n',
            "cosmos.toml: 'ui.port' must be an integer, got string",
        ),
        (
            "[ui]\nport = true\n",
            "cosmos.toml: 'ui.port' must be an integer, got boolean",
        ),
        ("[ui]\nport = 80.0\n", "cosmos.toml: 'ui.port' must be an integer, got float"),
        ("[ui]\nhost = 1\n", "cosmos.toml: 'ui.host' must be a string, got integer"),
        (
            "[ui]\nhost = 1979-05-27\n",
            "cosmos.toml: 'ui.host' must be a string, got date",
        ),
        (
            "[ui]\nhost = 1979-05-27T07:32:00Z\n",
            "cosmos.toml: 'ui.host' must be a string, got datetime",
        ),
        ("[ui]\nauth = []\n", "cosmos.toml: 'ui.auth' must be a string, got array"),
        (
            "[ui]\nrefresh_seconds = '5'\n",
            "cosmos.toml: 'ui.refresh_seconds' must be a number, got string",
        ),
        (
            "[sync]\nlost_after_seconds = true\n",
            "cosmos.toml: 'sync.lost_after_seconds' must be a number, got boolean",
        ),
        (
            "[sync]\nprobe_timeout_seconds = '15'\n",
            "cosmos.toml: 'sync.probe_timeout_seconds' must be a number, got string",
        ),
        (
            "[storage]\noutputs_dir = 5\n",
            "cosmos.toml: 'storage.outputs_dir' must be a string, got integer",
        ),
        (
            "[storage]\ndatabase = {url = 'x'}\n",
            "cosmos.toml: 'storage.database' must be a string, got table",
        ),
        (
            HOST + "port = '22'\n",
            "cosmos.toml: 'hosts[0].port' must be an integer, got string",
        ),
        (
            HOST + "key_file = 1\n",
            "cosmos.toml: 'hosts[0].key_file' must be a string, got integer",
        ),
        (
            HOST + "known_hosts = false\n",
            "cosmos.toml: 'hosts[0].known_hosts' must be a string, got boolean",
        ),
        (
            HOST + "remote_dir = 1\n",
            "cosmos.toml: 'hosts[0].remote_dir' must be a string, got integer",
        ),
        (
            HOST + "image = 1\n",
            "cosmos.toml: 'hosts[0].image' must be a string, got integer",
        ),
        (
            HOST + "docker = ['sudo', 'docker']\n",
            "cosmos.toml: 'hosts[0].docker' must be a string, got array",
        ),
        (
            HOST + "run_args = '--gpus all'\n",
            "cosmos.toml: 'hosts[0].run_args' must be an array, got string",
        ),
        (
            HOST + "run_args = ['--gpus', 1]\n",
            "cosmos.toml: 'hosts[0].run_args[1]' must be a string, got integer",
        ),
        (
            HOST + "num_gpus = true\n",
            "cosmos.toml: 'hosts[0].num_gpus' must be an integer, got boolean",
        ),
        (
            HOST + "num_gpus = 1.5\n",
            "cosmos.toml: 'hosts[0].num_gpus' must be an integer, got float",
        ),
        (
            HOST.replace('"gpu1"', "1"),
            "cosmos.toml: 'hosts[0].name' must be a string, got integer",
        ),
        # ranges
        ("[ui]\nport = 0\n", "cosmos.toml: 'ui.port' must be between 1 and 65535"),
        ("[ui]\nport = 65536\n", "cosmos.toml: 'ui.port' must be between 1 and 65535"),
        (
            HOST + "port = -22\n",
            "cosmos.toml: 'hosts[0].port' must be between 1 and 65535",
        ),
        (
            "[ui]\nrefresh_seconds = 0\n",
            "cosmos.toml: 'ui.refresh_seconds' must be a positive number",
        ),
        (
            "[ui]\nrefresh_seconds = -1.5\n",
            "cosmos.toml: 'ui.refresh_seconds' must be a positive number",
        ),
        (
            "[ui]\nrefresh_seconds = inf\n",
            "cosmos.toml: 'ui.refresh_seconds' must be a positive number",
        ),
        (
            "[ui]\nrefresh_seconds = nan\n",
            "cosmos.toml: 'ui.refresh_seconds' must be a positive number",
        ),
        (
            "[sync]\nmin_interval_seconds = -0.5\n",
            "cosmos.toml: 'sync.min_interval_seconds' must be a number >= 0",
        ),
        (
            "[sync]\nlost_after_seconds = -120\n",
            "cosmos.toml: 'sync.lost_after_seconds' must be a number >= 0",
        ),
        (
            "[[hosts]]\nname = 'a'\nhostname = ' '\nuser = 'u'\n",
            "cosmos.toml: 'hosts[0].hostname' must not be empty",
        ),
        (
            "[sync]\ndownload_budget_seconds = 0\n",
            "cosmos.toml: 'sync.download_budget_seconds' must be a positive number",
        ),
        (
            "[sync]\nprobe_timeout_seconds = 0\n",
            "cosmos.toml: 'sync.probe_timeout_seconds' must be a positive number",
        ),
        (
            "[sync]\nprobe_timeout_seconds = -3\n",
            "cosmos.toml: 'sync.probe_timeout_seconds' must be a positive number",
        ),
        (
            "[sync]\nprobe_timeout_seconds = inf\n",
            "cosmos.toml: 'sync.probe_timeout_seconds' must be a positive number",
        ),
        (
            HOST + "num_gpus = 0\n",
            "cosmos.toml: 'hosts[0].num_gpus' must be at least 1",
        ),
        (
            HOST + "num_gpus = -2\n",
            "cosmos.toml: 'hosts[0].num_gpus' must be at least 1",
        ),
        # formats
        (
            '[ui]\nauth = "admin"\n',
            "cosmos.toml: 'ui.auth' must be empty or 'user:password'",
        ),
        (
            '[ui]\nauth = ":pw"\n',
            "cosmos.toml: 'ui.auth' must be empty or 'user:password'",
        ),
        (
            '[ui]\nauth = "admin:"\n',
            "cosmos.toml: 'ui.auth' must be empty or 'user:password'",
        ),
        (
            '[ui]\nauth = ":"\n',
            "cosmos.toml: 'ui.auth' must be empty or 'user:password'",
        ),
        (
            '[storage]\ndatabase = "mysql://u@h/db"\n',
            "cosmos.toml: 'storage.database' must be a sqlite:/// or postgresql:// URL",
        ),
        (
            '[storage]\ndatabase = "postgresql://u:secret@h:abc/db"\n',
            "cosmos.toml: 'storage.database' has port 'abc'; a port must be a number from 1 to 65535",
        ),
        (
            '[storage]\ndatabase = "postgresql://u@[::1]:99999/db"\n',
            "cosmos.toml: 'storage.database' has port '99999'; a port must be a number from 1 to 65535",
        ),
        (
            '[storage]\ndatabase = "sqlite://rel.db"\n',
            "cosmos.toml: 'storage.database' must be a sqlite:/// or postgresql:// URL",
        ),
        (
            '[storage]\ndatabase = "outputs/cosmos.db"\n',
            "cosmos.toml: 'storage.database' must be a sqlite:/// or postgresql:// URL",
        ),
        (
            HOST.replace('"gpu1"', '"gpu 1"'),
            "cosmos.toml: 'hosts[0].name' must match [A-Za-z0-9_.-]+",
        ),
        (
            HOST.replace('"gpu1"', '"a/b"'),
            "cosmos.toml: 'hosts[0].name' must match [A-Za-z0-9_.-]+",
        ),
        (
            HOST.replace('"gpu1"', '""'),
            "cosmos.toml: 'hosts[0].name' must match [A-Za-z0-9_.-]+",
        ),
        (
            HOST.replace('"gpu1"', '"gpu1\\n"'),
            "cosmos.toml: 'hosts[0].name' must match [A-Za-z0-9_.-]+",
        ),
        (
            HOST + 'docker = ""\n',
            "cosmos.toml: 'hosts[0].docker' must be a non-empty command",
        ),
        (
            HOST + 'docker = "   "\n',
            "cosmos.toml: 'hosts[0].docker' must be a non-empty command",
        ),
        (
            HOST + 'docker = "sudo \'docker"\n',
            "cosmos.toml: 'hosts[0].docker' must be a non-empty command",
        ),
        # required host keys
        (
            '[[hosts]]\nhostname = "h"\nuser = "u"\n',
            "cosmos.toml: hosts[0] missing required key 'name'",
        ),
        (
            '[[hosts]]\nname = "a"\nuser = "u"\n',
            "cosmos.toml: hosts[0] missing required key 'hostname'",
        ),
        (
            '[[hosts]]\nname = "a"\nhostname = "h"\n',
            "cosmos.toml: hosts[0] missing required key 'user'",
        ),
        (
            HOST + '[[hosts]]\nname = "b"\nuser = "u"\n',
            "cosmos.toml: hosts[1] missing required key 'hostname'",
        ),
        # duplicates
        (
            HOST + HOST.replace('"203.0.113.7"', '"other"'),
            "cosmos.toml: duplicate host name 'gpu1': hosts[0], hosts[1]",
        ),
        (
            HOST + HOST.replace('"gpu1"', '"gpu2"') + HOST,
            "cosmos.toml: duplicate host name 'gpu1': hosts[0], hosts[2]",
        ),
    ],
)
def test_error_messages(cwd: Path, text: str, expected: str) -> None:
    assert error(cwd, text) == expected


def test_host_names_are_case_sensitive(cwd: Path) -> None:
    config = load(cwd, HOST + HOST.replace('"gpu1"', '"GPU1"'))
    assert [h.name for h in config.hosts] == ["gpu1", "GPU1"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[ui\nport = 1\n", 1),
        ("[ui]\nport = 1\nport = 2\n", 3),
        ('[ui]\nhost = "unterminated\n', 2),
        ("[ui]\nport = \n", 2),
        ("\n\n\n[[hosts]]\nname = 'a'\nname\n", 6),
        ("[ui]\n[ui]\n", 2),
    ],
)
def test_toml_syntax_errors(cwd: Path, text: str, line: int) -> None:
    message = error(cwd, text)
    assert message.startswith("cosmos.toml: invalid TOML: ")
    assert f"line {line}" in message


def test_unknown_key_with_newline_stays_one_line(cwd: Path) -> None:
    message = error(cwd, '[ui]\n"a\\nb" = 1\n')
    assert "unknown key 'ui.a\\nb'" in message


def test_unknown_keys_are_reported_before_bad_values(cwd: Path) -> None:
    message = error(cwd, "[ui]\nport = 0\nbogus = 1\n")
    assert message == "cosmos.toml: unknown key 'ui.bogus'"


def test_not_utf8_is_an_error(cwd: Path) -> None:
    (cwd / "cosmos.toml").write_bytes(b"[ui]\nhost = '\xff'\n")
    with pytest.raises(ConfigError) as info:
        load_config(environ={})
    assert str(info.value) == "cosmos.toml: not valid UTF-8 text"


def test_directory_is_an_error(cwd: Path) -> None:
    (cwd / "cosmos.toml").mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(environ={})
    message = str(info.value)
    assert message.startswith("cosmos.toml: cannot read: ")
    assert "\n" not in message


def test_a_slurm_host_keeps_its_slurm_settings(cwd: Path) -> None:
    host = load(cwd, HOST + 'executor = "slurm"\npartition = "gpu"\ngres = "gpu:2"\ntime_limit = "1-04:00:00"\n'
                'account = "lab"\ncontainer = "apptainer"\n').host("gpu1")
    assert host.executor == "slurm" and host.slurm is not None
    assert (host.slurm.partition, host.slurm.gres, host.slurm.time_limit, host.slurm.account,
            host.slurm.container) == ("gpu", "gpu:2", "1-04:00:00", "lab", "apptainer")


def test_hosts_default_to_docker_over_ssh_without_slurm_settings(cwd: Path) -> None:
    host = load(cwd, HOST).host("gpu1")
    assert host.executor == "docker" and host.slurm is None


def test_a_local_host_needs_no_address_or_user(cwd: Path) -> None:
    host = load(cwd, '[[hosts]]\nname = "desk"\nexecutor = "local"\nremote_dir = "/data/ct1"\n').host("desk")
    assert (host.executor, host.hostname, host.remote_dir) == ("local", "localhost", "/data/ct1") and host.user


@pytest.mark.parametrize(("extra", "message"), [
    ('executor = "kubernetes"', "'hosts[0].executor' must be one of docker, local, slurm"),
    ('executor = "slurm"\ncontainer = "singularity"', "'hosts[0].container' must be one of docker, apptainer, pyxis"),
    ('executor = "slurm"\ntime_limit = "four hours"', "'hosts[0].time_limit' must look like 04:00:00"),
    ('executor = "slurm"\ngres = "gpu 1; rm -rf"', "'hosts[0].gres' must look like gpu:1"),
    ('partition = "gpu"', "'hosts[0].partition' is for Slurm hosts only (set executor = \"slurm\")"),
])
def test_bad_executor_settings_are_one_line_errors(cwd: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(cwd, HOST + extra + "\n")
    assert message in str(caught.value) and "\n" not in str(caught.value)
