"""This installation's id: a random name for the processes of one machine's install.

A launch records it, so that a later sync knows whether the launching process
could be one of its own machine's (and so checkable with a lock file); a
download lease names it as the owner. Unlike the hostname, two machines never
share it by accident. It lives in `$XDG_STATE_HOME/cosmos/install-id`
(default `~/.local/state/cosmos/install-id`), made on first use.
"""

from __future__ import annotations

import os
import secrets
from functools import cache
from pathlib import Path


def id_file() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cosmos" / "install-id"


@cache
def install_id() -> str:
    path = id_file()
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = path.with_name(f".install-id.{os.getpid()}")
    candidate.write_text(f"in_{secrets.token_hex(8)}\n")
    try:
        os.link(candidate, path)  # atomic: two first processes at once agree on one id
    except FileExistsError:
        pass
    finally:
        candidate.unlink()
    return path.read_text().strip()
