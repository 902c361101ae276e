"""Load the TOML config of the Cosmos dashboard/CLI into the objects the code uses.

The file is an explicit path (``--config``), else ``$COSMOS_CONFIG``, else
``./cosmos.toml`` if it exists, else there is none and defaults apply. The keys,
their types, defaults and rules are the pydantic models of `config_schema`; this
module reads the file and builds frozen dataclasses from the validated models
(paths expanded, the docker prefix split, Slurm keys grouped). Every problem is a
one-line `ConfigError` naming the file and the key path, so the CLI can print it as is.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cosmos_core.config_schema import CONTAINERS, EXECUTORS, ConfigFile, HostFile, ModelFile, SyncFile, one_line
from cosmos_core.upstream.models import DEFAULT_MODEL, MODELS

__all__ = ["CONTAINERS", "EXECUTORS", "MODELS", "Config", "ConfigError", "HostConfig", "ModelSetup",
           "NotifyConfig", "SlurmConfig", "StorageConfig", "SyncConfig", "UIConfig", "load_config"]

ENV_VAR = "COSMOS_CONFIG"
DEFAULT_FILE = "cosmos.toml"
PathArg = str | os.PathLike[str]


def _default(table: type[BaseModel], key: str) -> Any:
    """A key's default as the schema has it, for the objects tests and callers build in code."""
    return table.model_fields[key].default


class ConfigError(Exception):
    """A config problem; the message is one line naming the file and the key."""


@dataclass(frozen=True)
class StorageConfig:
    database: str  # peewee-style URL; a relative sqlite path is relative to the cwd
    outputs_dir: Path  # absolute: resolved against the cwd at load time
    busy_timeout_seconds: float  # SQLite: how long a write waits for another process's write lock


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
    probe_timeout_seconds: float = _default(SyncFile, "probe_timeout_seconds")


@dataclass(frozen=True)
class NotifyConfig:
    url: str  # "" (off) or an http(s) webhook taking Slack-compatible JSON


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
    models: tuple[str, ...] = tuple(_default(HostFile, "models"))  # the models this host serves
    model_overrides: tuple[tuple[str, ModelSetup], ...] = ()  # [hosts.model."NAME"], for models other than transfer1
    executor: str = _default(HostFile, "executor")  # "docker" (over SSH), "local" (this machine), "slurm" (sbatch)
    gpus: int | None = _default(HostFile, "gpus")  # GPU slots runs queue for (None: what nvidia-smi lists in the run)
    queue_dir: str = _default(HostFile, "queue_dir")  # the machine's GPU queue, shared by every user and checkout
    busy_memory_mib: int = _default(HostFile, "busy_memory_mib")  # a free GPU using more is busy outside the queue
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
            raise ConfigError(f"{where}: no hosts configured "
                              "(add one with `cosmos hosts add NAME USER@ADDRESS`, or a [[hosts]] table)")
        names = ", ".join(h.name for h in self.hosts) or "none"
        raise ConfigError(f"{where}: unknown host {name!r}; configured hosts: {names}")


def _home(user: str) -> str:
    return "/root" if user == "root" else f"/home/{user}"


def _host(given: HostFile) -> HostConfig:
    slurm = SlurmConfig(*(getattr(given, key) for key in SlurmConfig.__dataclass_fields__))
    remote_dir = given.remote_dir
    host = HostConfig(
        name=given.name, hostname=given.hostname, user=given.user, port=given.port,
        key_file=Path(given.key_file).expanduser(), known_hosts=Path(given.known_hosts).expanduser(),
        remote_dir=f"{_home(given.user)}/{MODELS[DEFAULT_MODEL].checkout}" if remote_dir is None else remote_dir,
        image=given.image, docker=tuple(shlex.split(given.docker)), run_args=tuple(given.run_args),
        num_gpus=given.num_gpus, models=tuple(given.models), executor=given.executor, gpus=given.gpus,
        queue_dir=given.queue_dir, busy_memory_mib=given.busy_memory_mib,
        slurm=slurm if given.executor == "slurm" else None,
    )
    overrides = tuple((name, _model_setup(host.setup(name), table)) for name, table in given.model.items())
    return replace(host, model_overrides=overrides)


def _model_setup(base: ModelSetup, given: ModelFile) -> ModelSetup:
    """[hosts.model."NAME"]: image, remote_dir, run_args, each defaulting to the model's own."""
    return ModelSetup(given.image or base.image, given.remote_dir or base.remote_dir,
                      base.run_args if given.run_args is None else tuple(given.run_args))


def _build(data: dict[str, Any], source: Path | None) -> Config:
    try:
        given = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(one_line(exc)) from None
    s = given.storage
    storage = StorageConfig(s.database, Path(s.outputs_dir).expanduser().resolve(), s.busy_timeout_seconds)
    return Config(storage, UIConfig(**dict(given.ui)), SyncConfig(**dict(given.sync)),
                  NotifyConfig(**dict(given.notify)), tuple(_host(h) for h in given.hosts), source)


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
