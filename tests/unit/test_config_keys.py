"""Every key of the config file refused with a one-line error naming its path: a wrong type,
a value its rule refuses, an unknown key at every level, a missing required key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from cosmos_core.config import ConfigError, load_config
from cosmos_core.config_schema import SLURM_KEYS, ConfigFile, HostFile, ModelFile, SyncFile
from tests.workspace import Sync

GOOD_HOST = '[[hosts]]\nname = "ok"\nhostname = "h"\nuser = "u"\n'
OVERRIDE = "hosts.model."  # keys of [hosts.model."transfer2.5"]

# key -> (a TOML value of the wrong type, the complaint); host keys are tested in the second host
WRONG_TYPE = {
    "storage.database": ("1", "must be a string, got integer"),
    "storage.outputs_dir": ("true", "must be a string, got boolean"),
    "storage.busy_timeout_seconds": ('"30"', "must be a number, got string"),
    "ui.host": ("[]", "must be a string, got array"),
    "ui.port": ('"7860"', "must be an integer, got string"),
    "ui.refresh_seconds": ('"5"', "must be a number, got string"),
    "ui.auth": ("{}", "must be a string, got table"),
    "sync.min_interval_seconds": ("true", "must be a number, got boolean"),
    "sync.lost_after_seconds": ("[1]", "must be a number, got array"),
    "sync.download_budget_seconds": ("1979-05-27", "must be a number, got date"),
    "sync.probe_timeout_seconds": ('"15"', "must be a number, got string"),
    "notify.url": ("1.5", "must be a string, got float"),
    "hosts.name": ("1", "must be a string, got integer"),
    "hosts.hostname": ("[]", "must be a string, got array"),
    "hosts.user": ("false", "must be a string, got boolean"),
    "hosts.port": ("22.0", "must be an integer, got float"),
    "hosts.key_file": ("1", "must be a string, got integer"),
    "hosts.known_hosts": ("true", "must be a string, got boolean"),
    "hosts.remote_dir": ("07:32:00", "must be a string, got time"),
    "hosts.image": ("{}", "must be a string, got table"),
    "hosts.docker": ('["sudo", "docker"]', "must be a string, got array"),
    "hosts.run_args": ('"--gpus all"', "must be an array, got string"),
    "hosts.num_gpus": ("true", "must be an integer, got boolean"),
    "hosts.gpus": ('"2"', "must be an integer, got string"),
    "hosts.queue_dir": ("1", "must be a string, got integer"),
    "hosts.busy_memory_mib": ('"1024"', "must be an integer, got string"),
    "hosts.models": ('"transfer1"', "must be an array, got string"),
    "hosts.model": ('"transfer2.5"', "must be a table, got string"),
    "hosts.executor": ("1", "must be a string, got integer"),
    "hosts.partition": ("1", "must be a string, got integer"),
    "hosts.gres": ("1", "must be a string, got integer"),
    "hosts.time_limit": ("4", "must be a string, got integer"),
    "hosts.account": ("[]", "must be a string, got array"),
    "hosts.container": ("true", "must be a string, got boolean"),
    OVERRIDE + "image": ("1", "must be a string, got integer"),
    OVERRIDE + "remote_dir": ("true", "must be a string, got boolean"),
    OVERRIDE + "run_args": ('"--gpus all"', "must be an array, got string"),
}

# key -> (a TOML value of the right type its rule refuses, the complaint)
BAD_VALUE = {
    "storage.database": ('"mysql://u@h/db"', "must be a sqlite:/// or postgresql:// URL"),
    "storage.busy_timeout_seconds": ("0", "must be a positive number"),
    "ui.port": ("65536", "must be between 1 and 65535"),
    "ui.refresh_seconds": ("0", "must be a positive number"),
    "ui.auth": ('"admin"', "must be empty or 'user:password'"),
    "sync.min_interval_seconds": ("-1", "must be a number >= 0"),
    "sync.lost_after_seconds": ("inf", "must be a number >= 0"),
    "sync.download_budget_seconds": ("-0.5", "must be a positive number"),
    "sync.probe_timeout_seconds": ("nan", "must be a positive number"),
    "notify.url": ('"hooks.slack.com/services/x"', "must be empty or an http:// or https:// URL"),
    "hosts.name": ('"gpu 1"', "must match [A-Za-z0-9_.-]+"),
    "hosts.hostname": ('""', "must not be empty"),
    "hosts.user": ('"  "', "must not be empty"),
    "hosts.port": ("0", "must be between 1 and 65535"),
    "hosts.docker": ('"sudo \'docker"', "must be a non-empty command"),
    "hosts.num_gpus": ("0", "must be at least 1"),
    "hosts.gpus": ("-1", "must be at least 1"),
    "hosts.queue_dir": ('"queue"', "must be an absolute path"),
    "hosts.busy_memory_mib": ("-1", "must be 0 or more"),
    "hosts.models": ('["transfer1", "transfer1"]', "must list some of transfer1, transfer2.5, each once"),
    "hosts.executor": ('"kubernetes"', "must be one of docker, local, slurm"),
    "hosts.gres": ('"gpu:1 --wrap=x"', "must look like gpu:1"),
    "hosts.time_limit": ('"4 hours"', "must look like 04:00:00"),
    "hosts.container": ('"singularity"', "must be one of docker, apptainer, pyxis"),
}


def toml_for(key: str, value: str) -> str:
    """A file where `key` has `value` and everything else is fine; a host key goes in the second host."""
    section, _, name = key.partition(".")
    if section != "hosts":
        return f"[{section}]\n{name} = {value}\n"
    table = {"name": '"gpu1"', "hostname": '"h"', "user": '"u"'}
    if key.startswith(OVERRIDE):
        table["models"] = '["transfer1", "transfer2.5"]'
        override = f'[hosts.model."transfer2.5"]\n{key.removeprefix(OVERRIDE)} = {value}\n'
    else:
        table["executor" if name in SLURM_KEYS else name] = '"slurm"'
        table[name] = value
        override = ""
    return GOOD_HOST + "[[hosts]]\n" + "".join(f"{k} = {v}\n" for k, v in table.items()) + override


def shown_path(key: str) -> str:
    """How the message names `key` of toml_for's file."""
    if key.startswith(OVERRIDE):
        return "hosts[1].model.transfer2.5." + key.removeprefix(OVERRIDE)
    return key.replace("hosts.", "hosts[1].")


def error(tmp_path: Path, text: str) -> str:
    """The one-line ConfigError for `text` as a file, without its 'FILE: ' prefix."""
    file = tmp_path / "c.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{file}: ")
    return message.removeprefix(f"{file}: ")


def tables() -> dict[str, type[BaseModel]]:
    """The config file's tables but [[hosts]]: each name with its model."""
    models = {}
    for name, field in ConfigFile.model_fields.items():
        if name != "hosts":
            model = field.annotation
            assert isinstance(model, type) and issubclass(model, BaseModel), f"[{name}] is not a table: {model}"
            models[name] = model
    return models


def schema_keys() -> set[str]:
    keys = {f"{section}.{key}" for section, model in tables().items() for key in model.model_fields}
    return keys | {f"hosts.{key}" for key in HostFile.model_fields} | {OVERRIDE + k for k in ModelFile.model_fields}


def test_every_key_of_the_schema_is_tested() -> None:
    assert set(WRONG_TYPE) == schema_keys()


def test_every_key_with_a_rule_is_tested_with_a_bad_value() -> None:
    fields = {**{f"hosts.{k}": f for k, f in HostFile.model_fields.items()},
              **{f"{s}.{k}": f for s, model in tables().items() for k, f in model.model_fields.items()}}
    ruled = {key for key, field in fields.items() if "AfterValidator" in repr((field.annotation, field.metadata))}
    assert ruled == set(BAD_VALUE)


@pytest.mark.parametrize("key", sorted(WRONG_TYPE))
def test_a_wrong_type_names_the_key(tmp_path: Path, key: str) -> None:
    value, complaint = WRONG_TYPE[key]
    assert error(tmp_path, toml_for(key, value)) == f"{shown_path(key)!r} {complaint}"


@pytest.mark.parametrize("key", sorted(BAD_VALUE))
def test_a_bad_value_names_the_key(tmp_path: Path, key: str) -> None:
    value, complaint = BAD_VALUE[key]
    assert error(tmp_path, toml_for(key, value)) == f"{shown_path(key)!r} {complaint}"


@pytest.mark.parametrize("name", ["name", "hostname", "user"])
def test_a_missing_required_host_key_is_named(tmp_path: Path, name: str) -> None:
    table = {"name": '"gpu1"', "hostname": '"h"', "user": '"u"'}
    del table[name]
    text = GOOD_HOST + "[[hosts]]\n" + "".join(f"{k} = {v}\n" for k, v in table.items())
    assert error(tmp_path, text) == f"hosts[1] missing required key {name!r}"


@pytest.mark.parametrize(("text", "message"), [
    ("colour = 1\n", "unknown key 'colour'"),
    ("[colour]\n", "unknown table 'colour'"),
    ('".x" = 1\n', "unknown key '.x'"),
    ("[ui]\ncolour = 1\n", "unknown key 'ui.colour'"),
    ("[notify]\nchannel = '#runs'\n", "unknown key 'notify.channel'"),
    (GOOD_HOST + "colour = 1\n", "unknown key 'hosts[0].colour'"),
    (GOOD_HOST + "[hosts.slurm]\npartition = 'gpu'\n", "unknown table 'hosts[0].slurm'"),
    (GOOD_HOST + 'models = ["transfer1", "transfer2.5"]\n[hosts.model."transfer2.5"]\nimg = "x"\n',
     "unknown key 'hosts[0].model.transfer2.5.img'"),
    # an unknown key is named before a bad value, whatever comes first in the file
    ("[ui]\nport = 0\n[sync]\ncolour = 1\n", "unknown key 'sync.colour'"),
])
def test_unknown_keys_are_named_at_every_level(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, text) == message


@pytest.mark.parametrize(("text", "message"), [
    (GOOD_HOST + GOOD_HOST, "duplicate host name 'ok': hosts[0], hosts[1]"),
    (GOOD_HOST + GOOD_HOST.replace('"ok"', '"b"') + GOOD_HOST.replace('"h"', '"other"'),
     "duplicate host name 'ok': hosts[0], hosts[2]"),
    (GOOD_HOST + '[hosts.model."transfer2.5"]\nimage = "x"\n',
     "'hosts[0].model.transfer2.5' is not one of this host's models (transfer1)"),
    (GOOD_HOST + 'partition = "gpu"\n', "'hosts[0].partition' is for Slurm hosts only (set executor = \"slurm\")"),
    (GOOD_HOST + 'executor = "local"\ncontainer = "docker"\n',
     "'hosts[0].container' is for Slurm hosts only (set executor = \"slurm\")"),
    ("hosts = [1]\n", "'hosts[0]' must be a table, got integer"),
    ('hosts = "gpu1"\n', "'hosts' must be an array of tables ([[hosts]]), got string"),
    ("sync = 1\n", "'sync' must be a table, got integer"),
    (GOOD_HOST + "run_args = ['--gpus', 1]\n", "'hosts[0].run_args[1]' must be a string, got integer"),
    (GOOD_HOST + "models = ['transfer1', 2.5]\n", "'hosts[0].models[1]' must be a string, got float"),
    (GOOD_HOST + 'models = ["transfer1", "transfer2.5"]\nmodel = {"transfer2.5" = 1}\n',
     "'hosts[0].model.transfer2.5' must be a table, got integer"),
    (GOOD_HOST + 'models = ["transfer1", "transfer2.5"]\n[hosts.model."transfer2.5"]\nrun_args = [true]\n',
     "'hosts[0].model.transfer2.5.run_args[0]' must be a string, got boolean"),
])
def test_rules_across_keys(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, text) == message


@pytest.mark.parametrize(("content", "complaint"), [
    (b"[ui\n", "invalid TOML: "),
    (b"[ui]\nport = 1\nport = 2\n", "invalid TOML: "),
    (b"[ui]\nhost = '\xff'\n", "not valid UTF-8 text"),
])
def test_file_level_errors(tmp_path: Path, content: bytes, complaint: str) -> None:
    file = tmp_path / "c.toml"
    file.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    assert str(caught.value).startswith(f"{file}: {complaint}") and "\n" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found$"):
        load_config(tmp_path / "nope.toml", environ={})


def test_the_schema_is_frozen_and_keeps_its_defaults_in_one_place() -> None:
    file = ConfigFile.model_validate({"ui": {"port": 8080}})
    with pytest.raises(ValidationError, match="frozen"):
        file.ui.port = 1
    assert (file.ui.port, file.ui.host, file.sync.probe_timeout_seconds) == (8080, "127.0.0.1", 15.0)


def test_the_sync_settings_a_test_may_set_are_the_schemas():
    """tests.workspace.Sync lists the [sync] keys by hand (for the type checker): a key renamed or removed in
    the schema must go there too."""
    assert set(Sync.__annotations__) == set(SyncFile.model_fields)
