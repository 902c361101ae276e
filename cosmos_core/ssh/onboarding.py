"""Adding a host from the page: ask the host for its key, show it, and only once the user trusts it
write the key to known_hosts and a `[[hosts]]` table to the config file.

Two steps, as `ssh` does on first contact. `scan_host_key` connects, takes the key from the key
exchange (no login, nothing trusted) and writes nothing. `add_host` writes the key the user saw
(not a new scan's) and appends the table to the config file, whose text and comments stay as they
were. A key other than the one known_hosts has for that address is refused at both steps.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shlex
import socket
import threading
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paramiko

from cosmos_core.config import Config, load_config
from cosmos_core.config_edit import EditError, added_text, check_loads
from cosmos_core.ssh.hostkeys import (
    Trust,
    changed_key_message,
    fingerprint,
    judge,
    known_hosts_line,
    known_hosts_name,
    new_salt,
    read_known_hosts,
    uses_hashed_names,
)
from cosmos_core.upstream.models import MODELS

NAME = re.compile(r"[A-Za-z0-9_.-]+")
CONFIG_FILE = "cosmos.toml"  # the file load_config reads from the current directory when given none
DEFAULT_KEY_FILE = "~/.ssh/id_ed25519"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
_ADDING = threading.Lock()


class OnboardingError(Exception):
    """A host could not be added; the message is one line saying why. Nothing was written."""


@dataclass(frozen=True)
class NewHost:
    """What the Add host form gives: enough to reach the host and log in, and the settings given of how it
    runs Cosmos (`setup`: image, remote_dir, models, gpus, run_args); the rest keeps its default."""

    name: str
    hostname: str
    port: int
    user: str
    key_file: str = DEFAULT_KEY_FILE
    known_hosts: str = DEFAULT_KNOWN_HOSTS
    setup: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


# -- pure: checking the form, the host's table ------------------------------------------------


def parse_new_host(name: str, hostname: str, port: str | int | float | None, user: str, key_file: str = "",
                   known_hosts: str = "", taken: Collection[str] = (),
                   setup: Mapping[str, Any] | None = None) -> NewHost:
    """The form's values as a NewHost, or OnboardingError naming the first wrong one. `taken`: the
    names already configured. Empty key_file/known_hosts, and settings left empty, mean the defaults."""
    name, hostname, user = (name or "").strip(), (hostname or "").strip(), (user or "").strip()
    if not name:
        raise OnboardingError("name: give the host a name, e.g. gpu1")
    if not NAME.fullmatch(name):
        raise OnboardingError(f"name: {name!r} must use only letters, digits, '_', '.' and '-'")
    if name in taken:
        raise OnboardingError(f"name: a host called {name!r} is already configured")
    if not hostname:
        raise OnboardingError("address: give the host's name or IP address")
    if _bad_word(hostname):
        raise OnboardingError(f"address: {hostname!r} is not a host name or IP address")
    if not user:
        raise OnboardingError("user: give the user to log in as")
    if _bad_word(user):
        raise OnboardingError(f"user: {user!r} is not a user name")
    return NewHost(name, hostname, parse_port(port), user, _path(key_file, DEFAULT_KEY_FILE, "key file"),
                   _path(known_hosts, DEFAULT_KNOWN_HOSTS, "known_hosts"), parse_setup(setup or {}))


def parse_setup(setup: Mapping[str, Any]) -> dict[str, Any]:
    """How the host runs Cosmos, as given (empty values left out: the defaults apply), or OnboardingError
    naming the first wrong one: image, remote_dir (absolute), models (some of MODELS), gpus (at least 1),
    run_args (docker run's arguments: a list, or one line that a shell would split)."""
    given: dict[str, Any] = {}
    image, remote_dir = (str(setup.get(key) or "").strip() for key in ("image", "remote_dir"))
    if image:
        if _bad_word(image):
            raise OnboardingError(f"image: {image!r} is not an image name")
        given["image"] = image
    if remote_dir:
        if not remote_dir.startswith("/") or not remote_dir.isprintable():
            raise OnboardingError(f"checkout: {remote_dir!r} must be an absolute path on the host")
        given["remote_dir"] = remote_dir
    models = [m for m in setup.get("models") or [] if m]
    if models:
        unknown = [m for m in models if m not in MODELS]
        if unknown:
            raise OnboardingError(f"models: {unknown[0]!r} is not one of {', '.join(MODELS)}")
        given["models"] = list(dict.fromkeys(models))
    gpus = setup.get("gpus")
    if gpus not in (None, ""):
        if isinstance(gpus, float) and gpus.is_integer():
            gpus = int(gpus)
        if not str(gpus).strip().isdigit() or int(str(gpus).strip()) < 1:
            raise OnboardingError(f"GPUs: {gpus!r} is not a number of GPUs (a whole number, at least 1)")
        given["gpus"] = int(str(gpus).strip())
    run_args = setup.get("run_args")
    if isinstance(run_args, str):
        try:
            run_args = shlex.split(run_args)
        except ValueError as exc:
            raise OnboardingError(f"run_args: {exc} in {setup['run_args']!r}") from None
    if run_args:
        given["run_args"] = [str(arg) for arg in run_args]
    return given


def parse_port(port: str | int | float | None) -> int:
    text = str(port if port is not None else "").strip()
    if isinstance(port, float) and port.is_integer():
        text = str(int(port))
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise OnboardingError(f"port: {text or 'nothing'!r} is not a port (a whole number from 1 to 65535)")
    return int(text)


def _bad_word(value: str) -> bool:
    """Blanks, control characters or a leading '-' (never an option to anything)."""
    return value.startswith("-") or any(c.isspace() or not c.isprintable() for c in value)


def _path(value: str | None, default: str, what: str) -> str:
    value = (value or "").strip() or default
    if not value.isprintable():
        raise OnboardingError(f"{what}: {value!r} is not a file path")
    return value


def host_table(host: NewHost) -> dict[str, Any]:
    """The keys of the host's `[[hosts]]` table in the config file: how to reach it, then its settings."""
    return {**{key: value for key, value in asdict(host).items() if key != "setup"}, **host.setup}


def added_comment(added_at: datetime) -> str:
    """The comment above an added host's table, saying where it came from (the page or the CLI) and when."""
    return f"Added by cosmos's Add host, {added_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}"


def key_text(key: paramiko.PKey) -> str:
    """A public key as known_hosts and authorized_keys write it: `TYPE BASE64`."""
    return f"{key.get_name()} {key.get_base64()}"


def parse_key_text(text: str) -> paramiko.PKey:
    """The public key `key_text` wrote."""
    try:
        key_type, blob = text.split()
        return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob, validate=True))
    except (ValueError, binascii.Error, paramiko.SSHException, paramiko.pkey.UnknownKeyType) as exc:
        raise OnboardingError(f"not a public key: {text[:60]!r}") from exc


def key_check_command(key_type: str) -> str:
    """The command that prints, on the host itself, the fingerprint of its key of this type."""
    short = key_type.removeprefix("ssh-").split("-")[0]  # ssh-ed25519 -> ed25519, ecdsa-sha2-nistp256 -> ecdsa
    return f"ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub"


def config_file(config: Config) -> Path:
    """The file a new host goes to: the config's own, else cosmos.toml in the current directory."""
    return config.source or Path(CONFIG_FILE).resolve()


# -- I/O: the key exchange, the two files ----------------------------------------------------


def scan_host_key(config: Config, host: NewHost, timeout: float) -> dict:
    """Connect to the host and take its key; nothing is authenticated, trusted or written.
    A key other than known_hosts' for that address is refused (OnboardingError)."""
    key_file = Path(host.key_file).expanduser()
    if not key_file.is_file():
        raise OnboardingError(f"key file: {key_file} does not exist (create one with ssh-keygen -t ed25519)")
    known_hosts = Path(host.known_hosts).expanduser()
    known = read_known_hosts(known_hosts)
    key = _presented_key(host, known, timeout)
    verdict = judge(known, host.hostname, host.port, key)
    if verdict.trust is Trust.CHANGED:
        raise OnboardingError(changed_key_message(host.address, fingerprint(key), str(verdict.known_fingerprint),
                                                  known_hosts) + "; nothing was written")
    return {**asdict(host), "key": key_text(key), "key_type": key.get_name(), "fingerprint": fingerprint(key),
            "trust": verdict.trust.value, "config_file": str(config_file(config))}


def _presented_key(host: NewHost, known: paramiko.HostKeys, timeout: float) -> paramiko.PKey:
    """The key the host shows in the key exchange. Key types known_hosts already has for the host
    come first, as for the strict connect, so a known host is judged by the key it is known by."""
    where = host.address
    try:
        sock = socket.create_connection((host.hostname, host.port), timeout=timeout)
    except TimeoutError as exc:
        raise OnboardingError(f"{where}: no answer within {timeout:g} s") from exc
    except OSError as exc:
        raise OnboardingError(f"{where}: cannot connect: {exc.strerror or exc}") from exc
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = transport.handshake_timeout = timeout
        known_types = list(known.lookup(known_hosts_name(host.hostname, host.port)) or {})
        options = transport.get_security_options()
        first = [t for t in _key_algorithms(known_types) if t in options.key_types]
        options.key_types = first + [t for t in options.key_types if t not in first]
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise OnboardingError(f"{where}: no SSH key exchange: {str(exc).strip() or type(exc).__name__}") from exc
    finally:
        transport.close()


def _key_algorithms(key_types: list[str]) -> list[str]:
    """Host key algorithms for known key types (an RSA key is offered with SHA-2 signatures)."""
    out: list[str] = []
    for key_type in key_types:
        out += ["rsa-sha2-512", "rsa-sha2-256", key_type] if key_type == "ssh-rsa" else [key_type]
    return out


def add_host(config: Config, scanned: Mapping[str, Any], now: datetime | None = None) -> dict:
    """Trust the key `scan_host_key` found (the one the user saw) for the host and append the host to
    the config file. Refused, writing nothing, if the name is taken or known_hosts now has another key
    for the host. One at a time in this process (two tabs adding one name: the second is refused)."""
    with _ADDING:
        return _add_host(config, scanned, now or datetime.now(UTC))


def _add_host(config: Config, scanned: Mapping[str, Any], now: datetime) -> dict:
    target = config_file(config)
    existing = _config_text(target)
    taken = [h.name for h in (load_config(target).hosts if existing is not None else config.hosts)]
    host = parse_new_host(**{f.name: scanned[f.name] for f in fields(NewHost) if f.name in scanned}, taken=taken)
    text = added_text(existing or "", host_table(host), added_comment(now))
    _check_loads(text, host.name)
    public = parse_key_text(scanned["key"])
    known_hosts = Path(host.known_hosts).expanduser()
    verdict = judge(read_known_hosts(known_hosts), host.hostname, host.port, public)
    if verdict.trust is Trust.CHANGED:
        raise OnboardingError(changed_key_message(host.address, fingerprint(public), str(verdict.known_fingerprint),
                                                  known_hosts) + "; nothing was written")
    for path in [target] + ([known_hosts] if verdict.trust is Trust.UNKNOWN else []):
        _check_writable(path)
    if verdict.trust is Trust.UNKNOWN:
        old = known_hosts.read_text(encoding="utf-8", errors="replace") if known_hosts.is_file() else ""
        salt = new_salt() if uses_hashed_names(old) else None
        line = known_hosts_line(host.hostname, host.port, public.get_name(), public.get_base64(), salt)
        try:
            known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _append(known_hosts, ("\n" if old and not old.endswith("\n") else "") + line)
        except OSError as exc:
            raise OnboardingError(f"cannot write {known_hosts}: {exc.strerror or exc}; nothing was written") from exc
    try:
        _append(target, text.removeprefix(existing or ""))  # appended, not rewritten: the file stays as it was
    except OSError as exc:
        trusted = f"; the key is in {known_hosts} now" if verdict.trust is Trust.UNKNOWN else ""
        raise OnboardingError(f"cannot write {target}: {exc.strerror or exc}; the host was not added{trusted}") from exc
    return {"name": host.name, "config_file": str(target), "known_hosts": str(known_hosts),
            "fingerprint": fingerprint(public), "key_written": verdict.trust is Trust.UNKNOWN}


def _config_text(path: Path) -> str | None:
    """The config file's text; None when there is no file yet."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise OnboardingError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc


def _check_loads(text: str, name: str) -> None:
    """The config file as it would be after the append must load, with the new host in it."""
    try:
        hosts = check_loads(text).hosts
    except EditError as exc:
        raise OnboardingError(str(exc).replace("would not load", "would not load with the new host", 1)) from exc
    if name not in [h.name for h in hosts]:
        raise OnboardingError("the config file would not load with the new host")


def _check_writable(path: Path) -> None:
    """Refuse before anything is written when `path` (or, while it does not exist, the directory it
    would be made in) cannot be written: say, a config mounted read-only in the team server's container."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        where = "" if existing == path else f" (in {existing})"
        raise OnboardingError(f"cannot write {path}{where}: read-only or not ours to write; nothing was written")


def _append(path: Path, text: str) -> None:
    """Append and flush to disk: a crash never leaves half a line."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
