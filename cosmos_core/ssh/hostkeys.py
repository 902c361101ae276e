"""Host keys the way OpenSSH writes and shows them: fingerprints, known_hosts names and lines, and
whether a key a host presents is the one known_hosts trusts.

Both the strict connect (`remote.Host`) and adding a host (`onboarding`) judge keys here, so they
agree on what "known", "unknown" and "changed" mean and say it with the same words.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import paramiko
from paramiko.hostkeys import InvalidHostKey

SSH_PORT = 22


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint, the one `ssh-keygen -lf` prints."""
    return fingerprint_of(key.asbytes())


def fingerprint_of(blob: bytes) -> str:
    """`SHA256:` and the unpadded base64 of the SHA-256 of a public key's wire form."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def known_hosts_name(hostname: str, port: int) -> str:
    """How known_hosts names a host: `host` on port 22, `[host]:port` on any other."""
    return hostname if port == SSH_PORT else f"[{hostname}]:{port}"


def hashed_name(name: str, salt: bytes) -> str:
    """OpenSSH's hashed host name (`ssh-keyscan -H`): `|1|` base64(salt) `|` base64(HMAC-SHA1(salt, name))."""
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def known_hosts_line(hostname: str, port: int, key_type: str, key_base64: str, salt: bytes | None = None) -> str:
    """One known_hosts line, as `ssh-keyscan` prints it: plain, or hashed when given a 20-byte `salt`."""
    name = known_hosts_name(hostname, port)
    shown = name if salt is None else hashed_name(name, salt)
    return f"{shown} {key_type} {key_base64}\n"


def new_salt() -> bytes:
    return os.urandom(hashlib.sha1().digest_size)


def uses_hashed_names(text: str) -> bool:
    """Whether a known_hosts file hashes its host names (then new lines are hashed too)."""
    return any(line.startswith("|1|") for line in text.splitlines())


class Trust(Enum):
    KNOWN = "known"  # known_hosts has this very key for the host
    UNKNOWN = "unknown"  # known_hosts has no key of this type for the host
    CHANGED = "changed"  # known_hosts has another key of this type for the host


@dataclass(frozen=True)
class Verdict:
    trust: Trust
    known_fingerprint: str | None = None  # the key known_hosts has, when CHANGED


def judge(known: paramiko.HostKeys, hostname: str, port: int, key: paramiko.PKey) -> Verdict:
    """What known_hosts says of `key`, presented by `hostname:port` (hashed names included)."""
    entries: Mapping[str, paramiko.PKey] = known.lookup(known_hosts_name(hostname, port)) or {}
    expected = entries.get(key.get_name())
    if expected is None:
        return Verdict(Trust.UNKNOWN)
    if expected.asbytes() == key.asbytes():
        return Verdict(Trust.KNOWN)
    return Verdict(Trust.CHANGED, fingerprint(expected))


class KnownHostsError(ValueError):
    """A known_hosts line that is not a host key; the message names the file and the line."""


def read_known_hosts(path: Path | str) -> paramiko.HostKeys:
    """The keys a known_hosts file trusts; a missing file trusts none."""
    known = paramiko.HostKeys()
    load_known_hosts(known, path)
    return known


def load_known_hosts(known: paramiko.HostKeys, path: Path | str) -> None:
    """Add the keys a known_hosts file trusts to `known`; a missing file adds none. A line whose key
    is not base64 is a KnownHostsError (paramiko's own error names neither the file nor the line)."""
    try:
        known.load(str(path))
    except FileNotFoundError:
        pass
    except InvalidHostKey as exc:
        raise KnownHostsError(f"{path} line {_line_number(path, exc.line)}: not a known_hosts entry "
                              f"(its key is not base64); fix or delete that line") from exc


def _line_number(path: Path | str, line: str) -> int | str:
    """The number of the first line of the file that reads `line` once stripped, as paramiko reads it."""
    with open(path) as text:
        return next((n for n, each in enumerate(text, 1) if each.strip() == line), "?")


def changed_key_message(where: str, new: str, old: str, known_hosts: Path | str) -> str:
    """The refusal for a host presenting another key than the one known_hosts has."""
    return (f"{where}: HOST KEY CHANGED: got {new}, {known_hosts} has {old}; "
            f"refusing to connect (possible man-in-the-middle)")
