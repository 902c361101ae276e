"""The config file's schema as pydantic models: every key, its type, its default and its rule.

The models describe the file as written (strings, arrays, flat Slurm keys); `config.py`
turns a validated `ConfigFile` into the objects the rest of the code uses. Types are
strict (no "1" for an integer, no 1 for a string, a boolean is not an integer; an integer
is a fine number) and unknown keys are refused. `one_line` turns pydantic's errors into
the one line the user reads, naming the key path as `'hosts[1].port'`.
"""

from __future__ import annotations

import getpass
import math
import re
import shlex
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from cosmos_core.upstream import gpu_queue
from cosmos_core.upstream.models import DEFAULT_MODEL, MODELS

EXECUTORS = ("docker", "local", "slurm")
CONTAINERS = ("docker", "apptainer", "pyxis")
SLURM_KEYS = ("partition", "gres", "time_limit", "account", "container")
DB_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


def _problem(message: str, key: str = "") -> PydanticCustomError:
    """An error `one_line` prints as is, after the key path (plus `key` under the failing table)."""
    return PydanticCustomError("config", "{message}", {"message": message, "key": key})


def _rule(test: Callable[[Any], Any], complaint: str) -> AfterValidator:
    """A check on a value that already has the right type."""
    def check(value: Any) -> Any:
        if not test(value):
            raise _problem(complaint)
        return value

    return AfterValidator(check)


def _is_command(value: str) -> bool:
    try:
        return bool(shlex.split(value))
    except ValueError:  # unbalanced quotes
        return False


def _is_auth(value: str) -> bool:
    user, _, password = value.partition(":")  # the password may contain ':'
    return not value or bool(user and password)


def _one_of(choices: tuple[str, ...]) -> AfterValidator:
    return _rule(lambda v: v in choices, f"must be one of {', '.join(choices)}")


def _pattern(regex: str, complaint: str) -> AfterValidator:
    return _rule(lambda v: re.fullmatch(regex, v), complaint)


Port = Annotated[int, _rule(lambda v: 1 <= v <= 65535, "must be between 1 and 65535")]
Positive = Annotated[float, _rule(lambda v: 0 < v < math.inf, "must be a positive number")]
NotNegative = Annotated[float, _rule(lambda v: 0 <= v < math.inf, "must be a number >= 0")]
AtLeastOne = Annotated[int, _rule(lambda v: v >= 1, "must be at least 1")]
Count = Annotated[int, _rule(lambda v: v >= 0, "must be 0 or more")]
AbsolutePath = Annotated[str, _pattern(r"/[^\0\n]*", "must be an absolute path")]
NotEmpty = Annotated[str, _rule(lambda v: v.strip() != "", "must not be empty")]
HostName = Annotated[str, _pattern(r"[A-Za-z0-9_.-]+", "must match [A-Za-z0-9_.-]+")]
Models = Annotated[list[str], _rule(lambda v: v and set(v) <= set(MODELS) and len(set(v)) == len(v),
                                    f"must list some of {', '.join(MODELS)}, each once")]


def database_url_problem(url: str) -> str | None:
    """What is wrong with a database URL, said without its password; None when nothing is."""
    if not url.startswith(DB_SCHEMES):
        return "must be a sqlite:/// or postgresql:// URL"
    if url.startswith("sqlite:///"):
        return None
    hostinfo = urlsplit(url).netloc.rpartition("@")[2]  # the password stays on the left of the last '@'
    port = hostinfo.rpartition("]")[2].partition(":")[2]  # after an IPv6 address's brackets, if any
    if port and not (re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
        return f"has port {port!r}; a port must be a number from 1 to 65535"
    return None


def _check_database_url(url: str) -> str:
    problem = database_url_problem(url)
    if problem is not None:
        raise _problem(problem)
    return url


DatabaseUrl = Annotated[str, AfterValidator(_check_database_url)]
WebhookUrl = Annotated[str, _rule(lambda v: not v or v.startswith(("http://", "https://")),
                                  "must be empty or an http:// or https:// URL")]
Auth = Annotated[str, _rule(_is_auth, "must be empty or 'user:password'")]
Command = Annotated[str, _rule(_is_command, "must be a non-empty command")]


DEFAULT_RUN_ARGS = ("--gpus", "all", "--ipc=host", "--shm-size=8g")  # docker run's, for a host that names none


class _Table(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class StorageFile(_Table):
    database: DatabaseUrl = "sqlite:///outputs/cosmos.db"  # a relative sqlite path is relative to the cwd
    outputs_dir: str = "outputs"
    busy_timeout_seconds: Positive = 30.0  # SQLite: how long a write waits for another process's lock


class UIFile(_Table):
    host: str = "127.0.0.1"
    port: Port = 7860
    refresh_seconds: Positive = 5.0
    auth: Auth = ""  # "" is no login


class SyncFile(_Table):
    min_interval_seconds: NotNegative = 2.0
    lost_after_seconds: NotNegative = 120.0
    download_budget_seconds: Positive = 3.0
    probe_timeout_seconds: Positive = 15.0  # a host silent this long during a probe or download is unreachable


class NotifyFile(_Table):
    url: WebhookUrl = ""  # "" is off; else a webhook taking Slack-compatible JSON


class ModelFile(_Table):
    """[hosts.model."NAME"]: each key unset takes the model's own default."""

    image: str | None = None
    remote_dir: str | None = None
    run_args: list[str] | None = None


class HostFile(_Table):
    name: HostName
    hostname: NotEmpty
    user: NotEmpty
    port: Port = 22
    key_file: str = "~/.ssh/id_ed25519"
    known_hosts: str = "~/.ssh/known_hosts"
    remote_dir: str | None = None  # None: Transfer1's checkout under the user's home
    image: str = MODELS[DEFAULT_MODEL].image
    docker: Command = "docker"  # command prefix on the host, e.g. "sudo docker"
    run_args: list[str] = list(DEFAULT_RUN_ARGS)
    num_gpus: AtLeastOne = 1
    gpus: AtLeastOne | None = None  # GPU slots runs queue for; None: as many as nvidia-smi lists in the run
    queue_dir: AbsolutePath = gpu_queue.DEFAULT_DIR  # the machine's GPU queue, shared by all its users
    busy_memory_mib: Count = gpu_queue.DEFAULT_BUSY_MIB  # a free GPU using more is busy outside the queue
    models: Models = [DEFAULT_MODEL]
    model: dict[str, ModelFile] = {}
    executor: Annotated[str, _one_of(EXECUTORS)] = "docker"
    partition: str = ""
    gres: Annotated[str, _pattern(r"([A-Za-z0-9_:,.-]+)?", "must look like gpu:1")] = ""
    time_limit: Annotated[str, _pattern(r"([0-9]+-)?[0-9:]*", "must look like 04:00:00")] = ""
    account: str = ""
    container: Annotated[str, _one_of(CONTAINERS)] = "docker"

    @model_validator(mode="before")
    @classmethod
    def _local_defaults(cls, data: Any) -> Any:
        """This machine has no address to give: a local host defaults to localhost and the current user."""
        if isinstance(data, dict) and data.get("executor") == "local":
            return {"hostname": "localhost", "user": getpass.getuser(), **data}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> HostFile:
        if self.executor != "slurm" and (given := [k for k in SLURM_KEYS if k in self.model_fields_set]):
            raise _problem('is for Slurm hosts only (set executor = "slurm")', given[0])
        for name in self.model:
            if name not in self.models:
                raise _problem(f"is not one of this host's models ({', '.join(self.models)})", f"model.{name}")
        return self


class ConfigFile(_Table):
    storage: StorageFile = StorageFile()
    ui: UIFile = UIFile()
    sync: SyncFile = SyncFile()
    notify: NotifyFile = NotifyFile()
    hosts: list[HostFile] = []

    @model_validator(mode="after")
    def _unique_names(self) -> ConfigFile:
        names = [host.name for host in self.hosts]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _problem(f"duplicate host name {name!r}: hosts[{names.index(name)}], hosts[{i}]")
        return self


_EXPECTED = {"string_type": "a string", "int_type": "an integer", "float_type": "a number",
             "list_type": "an array", "dict_type": "a table", "model_type": "a table"}
_TOML_NAMES = {bool: "boolean", int: "integer", str: "string", list: "array", dict: "table"}


def _toml_type(value: Any) -> str:
    """Name a parsed value's TOML type; float, datetime, date, time are their own."""
    return _TOML_NAMES.get(type(value), type(value).__name__)


def _path(loc: tuple[int | str, ...]) -> str:
    """('hosts', 1, 'run_args', 0) -> 'hosts[1].run_args[0]'."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).removeprefix(".")


def one_line(error: ValidationError) -> str:
    """The first problem in words: an unknown key before any other, else the first in file order."""
    problems = error.errors(include_url=False)
    first = next((p for p in problems if p["type"] == "extra_forbidden"), problems[0])
    loc, kind, value = first["loc"], first["type"], first.get("input")
    if kind == "extra_forbidden":
        return f"unknown {'table' if isinstance(value, dict) else 'key'} {_path(loc)!r}"
    if kind == "missing":
        return f"{_path(loc[:-1])} missing required key {loc[-1]!r}"
    if kind == "config":
        key = first["ctx"]["key"]
        where = _path((*loc, key) if key else loc)
        return f"{where!r} {first['ctx']['message']}" if where else first["ctx"]["message"]
    if loc == ("hosts",) and kind == "list_type":
        return f"'hosts' must be an array of tables ([[hosts]]), got {_toml_type(value)}"
    if kind in _EXPECTED:
        return f"{_path(loc)!r} must be {_EXPECTED[kind]}, got {_toml_type(value)}"
    return f"{_path(loc)!r}: {first['msg']}"  # not expected from TOML input; pydantic's words
