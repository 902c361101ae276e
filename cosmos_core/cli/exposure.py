"""What the dashboard refuses to expose (pure): a bind address others can reach without a login,
and an `outputs_dir` (served over HTTP) that holds the config file or SSH secrets."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 (also bracketed or IPv4-mapped) and `localhost`; any other name or
    address (0.0.0.0, ::, a hostname whose address we would have to look up) counts as reachable."""
    name = host.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def bind_refusal(host: str, auth: str, insecure: bool) -> str | None:
    """Why binding `host` is refused, or None: a non-loopback address needs `ui.auth` or --insecure."""
    if is_loopback(host) or auth or insecure:
        return None
    return (f"refusing to serve on {host!r} without a login: anyone who reaches it could start runs on your "
            f"GPU hosts; set ui.auth = \"user:password\" in the config, bind 127.0.0.1, or pass --insecure "
            f"if something in front (a reverse proxy) does the login")


def contains(directory: Path, path: Path) -> bool:
    """True when `path` is `directory` or lies under it (both already resolved)."""
    return path == directory or directory in path.parents


def outputs_refusal(outputs_dir: Path, secrets: Iterable[tuple[str, Path]]) -> str | None:
    """Why `outputs_dir` is refused, or None: every file under it may be served, so it must not hold
    any of `secrets` (what each is, its resolved path)."""
    for what, path in secrets:
        if contains(outputs_dir, path):
            return (f"storage.outputs_dir {outputs_dir} contains the {what} {path}, which the dashboard would "
                    f"then serve; give outputs_dir a directory of its own (default \"outputs\")")
    return None


def secret_files(source: Path | None, hosts: Iterable[tuple[str, Path, Path]], home: Path) -> list[tuple[str, Path]]:
    """The files outputs_dir must not hold: the config file, each host's (name, key_file, known_hosts),
    and `home`/.ssh, where keys live even before a host is configured."""
    secrets = [("config file", source)] if source is not None else []
    for name, key_file, known_hosts in hosts:
        secrets += [(f"key_file of host {name!r}", key_file), (f"known_hosts of host {name!r}", known_hosts)]
    return [*secrets, ("SSH directory", home / ".ssh")]
