"""Load and validate the TOML config of the Cosmos dashboard/CLI.

The file is an explicit path (``--config``), else ``$COSMOS_CONFIG``, else
``./cosmos.toml`` if it exists, else there is none and defaults apply. Every
problem is a one-line `ConfigError` naming the file and the key path, so the
CLI can print it as is.
"""

from __future__ import annotations

import getpass
import math
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from .transfer_models import DEFAULT_MODEL, MODELS

ENV_VAR = "COSMOS_CONFIG"
EXECUTORS = ("docker", "local", "slurm")
CONTAINERS = ("docker", "apptainer", "pyxis")
DEFAULT_FILE = "cosmos.toml"
PathArg = str | os.PathLike[str]


class ConfigError(Exception):
    """A config problem; the message is one line naming the file and the key."""


@dataclass(frozen=True)
class StorageConfig:
    database: str  # peewee-style URL; a relative sqlite path is relative to the cwd
    outputs_dir: Path  # absolute: resolved against the cwd at load time


@dataclass(frozen=True)
class UIConfig:
    host: str
    port: int
    refresh_seconds: float
    auth: str  # "" (no login) or "user:password"


@dataclass(frozen=True)
class SyncConfig:
    min_interval_seconds: float
    lost_after_seconds: float
    download_budget_seconds: float
    probe_timeout_seconds: float = 15.0  # a host silent this long during a probe or download is unreachable


@dataclass(frozen=True)
class ModelSetup:
    """How a host runs one model: its image, its checkout (mounted at /workspace), docker run args."""

    image: str
    remote_dir: str
    run_args: tuple[str, ...]


@dataclass(frozen=True)
class SlurmConfig:
    """How runs are submitted on a Slurm cluster (empty: Slurm's own default)."""

    partition: str
    gres: str  # e.g. "gpu:1"
    time_limit: str  # e.g. "04:00:00"
    account: str
    container: str  # how the job runs the image: "docker", "apptainer" or "pyxis"


@dataclass(frozen=True)
class HostConfig:
    name: str
    hostname: str
    user: str
    port: int
    key_file: Path
    known_hosts: Path
    remote_dir: str  # Transfer1's checkout
    image: str  # Transfer1's image
    docker: tuple[str, ...]  # command prefix, e.g. ("sudo", "docker")
    run_args: tuple[str, ...]
    num_gpus: int
    models: tuple[str, ...] = (DEFAULT_MODEL,)  # the models this host serves
    model_overrides: tuple[tuple[str, ModelSetup], ...] = ()  # [hosts.model."NAME"], for models other than transfer1
    executor: str = "docker"  # "docker" (over SSH), "local" (this machine), "slurm" (sbatch on a login node)
    gpus: int | None = None  # GPU slots on the host: runs queue for them (None: no queue, every run starts at once)
    slurm: SlurmConfig | None = None  # for executor = "slurm"

    def setup(self, model: str) -> ModelSetup:
        """Where and how this host runs `model` (Transfer1 from the host's own keys)."""
        overrides = dict(self.model_overrides)
        if model in overrides:
            return overrides[model]
        if model == DEFAULT_MODEL:
            return ModelSetup(self.image, self.remote_dir, self.run_args)
        return ModelSetup(MODELS[model].image, f"{_home(self.user)}/{MODELS[model].checkout}", self.run_args)


@dataclass(frozen=True)
class NotifyConfig:
    url: str  # "" (off) or an http(s) webhook taking Slack-compatible JSON


@dataclass(frozen=True)
class Config:
    storage: StorageConfig
    ui: UIConfig
    sync: SyncConfig
    notify: NotifyConfig
    hosts: tuple[HostConfig, ...]
    source: Path | None  # absolute path of the file read; None when on defaults

    def host(self, name: str | None = None) -> HostConfig:
        """Return the host called `name`, or the first host when `name` is None."""
        for host in self.hosts:
            if name is None or host.name == name:
                return host
        where = self.source or "defaults (no config file)"
        if name is None:
            raise ConfigError(f"{where}: no hosts configured (add a [[hosts]] table)")
        names = ", ".join(h.name for h in self.hosts) or "none"
        raise ConfigError(f"{where}: unknown host {name!r}; configured hosts: {names}")


class _Field(NamedTuple):
    kind: type  # str, int, float, or list (meaning a list of strings)
    default: Any  # _REQUIRED when the key has no default
    check: tuple[Callable[[Any], Any], str] | None = None  # (predicate, complaint)


def _is_command(value: str) -> bool:
    try:
        return bool(shlex.split(value))
    except ValueError:  # unbalanced quotes
        return False


def _is_auth(value: str) -> bool:
    user, _, password = value.partition(":")  # the password may contain ':'
    return not value or bool(user and password)


_REQUIRED = object()
_POSITIVE = (lambda v: 0 < v < math.inf, "must be a positive number")
_NOT_NEGATIVE = (lambda v: 0 <= v < math.inf, "must be a number >= 0")
_NOT_EMPTY = (lambda v: v.strip() != "", "must not be empty")
_PORT = (lambda v: 1 <= v <= 65535, "must be between 1 and 65535")
_DB_URL = ("sqlite:///", "postgresql://", "postgres://")
_DATABASE = (lambda v: v.startswith(_DB_URL), "must be a sqlite:/// or postgresql:// URL")
_NAME = (lambda v: re.fullmatch(r"[A-Za-z0-9_.-]+", v), "must match [A-Za-z0-9_.-]+")

_SECTIONS: dict[str, dict[str, _Field]] = {
    "storage": {
        "database": _Field(str, "sqlite:///outputs/cosmos.db", _DATABASE),
        "outputs_dir": _Field(str, "outputs"),
    },
    "ui": {
        "host": _Field(str, "127.0.0.1"),
        "port": _Field(int, 7860, _PORT),
        "refresh_seconds": _Field(float, 5.0, _POSITIVE),
        "auth": _Field(str, "", (_is_auth, "must be empty or 'user:password'")),
    },
    "sync": {
        "min_interval_seconds": _Field(float, 2.0, _NOT_NEGATIVE),
        "lost_after_seconds": _Field(float, 120.0, _NOT_NEGATIVE),
        "download_budget_seconds": _Field(float, 3.0, _POSITIVE),
        "probe_timeout_seconds": _Field(float, 15.0, _POSITIVE),
    },
    "notify": {
        "url": _Field(str, "", (lambda v: not v or v.startswith(("http://", "https://")),
                                "must be empty or an http:// or https:// URL")),
    },
}
_HOST: dict[str, _Field] = {
    "name": _Field(str, _REQUIRED, _NAME),
    "hostname": _Field(str, _REQUIRED, _NOT_EMPTY),
    "user": _Field(str, _REQUIRED, _NOT_EMPTY),
    "port": _Field(int, 22, _PORT),
    "key_file": _Field(str, "~/.ssh/id_ed25519"),
    "known_hosts": _Field(str, "~/.ssh/known_hosts"),
    "remote_dir": _Field(str, None),  # None: derived from user in _host
    "image": _Field(str, "cosmos-transfer1:latest"),
    "docker": _Field(str, "docker", (_is_command, "must be a non-empty command")),
    "run_args": _Field(list, ("--gpus", "all", "--ipc=host", "--shm-size=8g")),
    "num_gpus": _Field(int, 1, (lambda v: v >= 1, "must be at least 1")),
    "gpus": _Field(int, None, (lambda v: v >= 1, "must be at least 1")),
    "models": _Field(list, (DEFAULT_MODEL,), (lambda v: v and set(v) <= set(MODELS) and len(set(v)) == len(v),
                                               f"must list some of {', '.join(MODELS)}, each once")),
    "model": _Field(dict, {}),
    "executor": _Field(str, "docker", (lambda v: v in EXECUTORS, f"must be one of {', '.join(EXECUTORS)}")),
    "partition": _Field(str, ""),
    "gres": _Field(str, "", (lambda v: re.fullmatch(r"([A-Za-z0-9_:,.-]+)?", v), "must look like gpu:1")),
    "time_limit": _Field(str, "", (lambda v: re.fullmatch(r"([0-9]+-)?[0-9:]*", v), "must look like 04:00:00")),
    "account": _Field(str, ""),
    "container": _Field(str, "docker", (lambda v: v in CONTAINERS, f"must be one of {', '.join(CONTAINERS)}")),
}
_SLURM_KEYS = ("partition", "gres", "time_limit", "account", "container")
_MODEL_SETUP: dict[str, _Field] = {
    "image": _Field(str, None),
    "remote_dir": _Field(str, None),
    "run_args": _Field(list, None),
}

_EXPECTED = {str: "a string", int: "an integer", float: "a number", list: "an array", dict: "a table"}
_TOML_NAMES = {bool: "boolean", int: "integer", str: "string", list: "array", dict: "table"}


def _toml_type(value: Any) -> str:
    """Name a parsed value's TOML type; float, datetime, date, time are their own."""
    return _TOML_NAMES.get(type(value), type(value).__name__)


def _typed(value: Any, kind: type, path: str) -> Any:
    """Check `value` against `kind` exactly (a bool is not an int); widen int to float."""
    if kind is float and type(value) is int:
        return float(value)
    if kind is list and type(value) is list:
        bad = [i for i, item in enumerate(value) if type(item) is not str]
        if bad:
            item, got = f"{path}[{bad[0]}]", _toml_type(value[bad[0]])
            raise ConfigError(f"{item!r} must be a string, got {got}")
        return tuple(value)
    if type(value) is not kind:
        got = _toml_type(value)
        raise ConfigError(f"{path!r} must be {_EXPECTED[kind]}, got {got}")
    return value


def _section(table: Any, schema: Mapping[str, _Field], where: str) -> dict[str, Any]:
    """Validate one table against its schema and fill in the defaults."""
    if type(table) is not dict:
        raise ConfigError(f"{where!r} must be a table, got {_toml_type(table)}")
    for key in table:
        if key not in schema:
            raise ConfigError(f"unknown key {where + '.' + key!r}")
    values = {}
    for key, field in schema.items():
        if key not in table:
            if field.default is _REQUIRED:
                raise ConfigError(f"{where} missing required key {key!r}")
            values[key] = field.default
            continue
        path = f"{where}.{key}"
        values[key] = _typed(table[key], field.kind, path)
        if field.check and not field.check[0](values[key]):
            raise ConfigError(f"{path!r} {field.check[1]}")
    return values


def _home(user: str) -> str:
    return "/root" if user == "root" else f"/home/{user}"


def _host(table: Any, where: str) -> HostConfig:
    if type(table) is dict and table.get("executor") == "local":  # this machine: no address to give
        table = {"hostname": "localhost", "user": getpass.getuser(), **table}
    v = _section(table, _HOST, where)
    slurm = {key: v.pop(key) for key in _SLURM_KEYS}
    if v["executor"] == "slurm":
        v["slurm"] = SlurmConfig(**slurm)
    elif type(table) is dict and (given := [k for k in _SLURM_KEYS if k in table]):
        raise ConfigError(f"{where + '.' + given[0]!r} is for Slurm hosts only (set executor = \"slurm\")")
    if v["remote_dir"] is None:
        v["remote_dir"] = f"{_home(v['user'])}/{MODELS[DEFAULT_MODEL].checkout}"
    v["key_file"] = Path(v["key_file"]).expanduser()
    v["known_hosts"] = Path(v["known_hosts"]).expanduser()
    v["docker"] = tuple(shlex.split(v["docker"]))
    overrides = v.pop("model")
    host = HostConfig(**v)
    return replace(host, model_overrides=tuple(
        (name, _model_setup(host, name, table, f"{where}.model.{name}")) for name, table in overrides.items()))


def _model_setup(host: HostConfig, name: str, table: Any, where: str) -> ModelSetup:
    """[hosts.model."NAME"]: image, remote_dir, run_args, each defaulting to the model's own."""
    if name not in host.models:
        raise ConfigError(f"{where!r}: {name!r} is not in this host's models {list(host.models)}")
    v = _section(table, _MODEL_SETUP, where)
    base = host.setup(name)
    return ModelSetup(v["image"] or base.image, v["remote_dir"] or base.remote_dir,
                      base.run_args if v["run_args"] is None else v["run_args"])


def _build(data: dict[str, Any], source: Path | None) -> Config:
    for key, value in data.items():
        if key not in _SECTIONS and key != "hosts":
            what = "table" if type(value) is dict else "key"
            raise ConfigError(f"unknown {what} {key!r}")
    store, ui, sync, notify = (_section(data.get(s, {}), _SECTIONS[s], s) for s in _SECTIONS)
    store["outputs_dir"] = Path(store["outputs_dir"]).expanduser().resolve()
    tables = data.get("hosts", [])
    if type(tables) is not list:
        got = _toml_type(tables)
        raise ConfigError(f"'hosts' must be an array of tables ([[hosts]]), got {got}")
    hosts = tuple(_host(table, f"hosts[{i}]") for i, table in enumerate(tables))
    names = [host.name for host in hosts]
    for i, name in enumerate(names):
        if name in names[:i]:
            first = names.index(name)
            raise ConfigError(f"duplicate host name {name!r}: hosts[{first}], hosts[{i}]")
    return Config(StorageConfig(**store), UIConfig(**ui), SyncConfig(**sync), NotifyConfig(**notify), hosts, source)


def _locate(path: PathArg | None, environ: Mapping[str, str]) -> Path | None:
    """Pick the config file by precedence; None means there is none."""
    if path is not None:
        file, origin = Path(path), ""
    elif environ.get(ENV_VAR):  # an empty variable counts as unset
        file, origin = Path(environ[ENV_VAR]), f" (named by ${ENV_VAR})"
    else:
        return Path(DEFAULT_FILE) if Path(DEFAULT_FILE).exists() else None
    if not file.exists():
        raise ConfigError(f"{file}: config file not found{origin}")
    return file


def load_config(path: PathArg | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load the config; `path` is the --config argument, `environ` defaults to os.environ."""
    file = _locate(path, os.environ if environ is None else environ)
    if file is None:
        return _build({}, None)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not valid UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        return _build(data, file.resolve())
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
