"""Editing the config file's hosts in place, keeping its comments and layout; and the text of a new host.

The file is parsed with tomlkit, which writes back every comment, blank line and key order it read; only
the keys edited change. An edit is checked before anything is written (the file as it would be must
load), and written whole with a rename, so a crash leaves the old file or the new one, never half.
A new host's table (`added_text`) goes after the file's text, which stays byte for byte; Add host checks
that and appends it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from cosmos_core.config import Config, ConfigError, load_config

# The keys the page edits on a host; others are edited in the file.
EDITABLE = ("image", "remote_dir", "models", "gpus", "num_gpus", "run_args")


class EditError(Exception):
    """An edit was refused; the message is one line saying why, and nothing was written."""


def edited_text(text: str, name: str, changes: Mapping[str, Any]) -> str:
    """The file's text with host `name`'s keys changed (pure); a value of None or "" removes the key,
    so the default applies again."""
    doc = tomlkit.parse(text)
    table = _host_table(doc, name)
    for key, value in changes.items():
        if key not in EDITABLE:
            raise EditError(f"{key} is not edited here (edit it in the config file)")
        if value is None or value == "" or value == []:
            table.pop(key, None)
        elif key in table:
            table[key] = value
        else:
            _add_after_last_key(table, key, value)
    return tomlkit.dumps(doc)


def removed_text(text: str, name: str) -> str:
    """The file's text without host `name`'s table (pure)."""
    doc = tomlkit.parse(text)
    hosts = _hosts(doc)
    table = _host_table(doc, name)
    at = hosts.body.index(table)
    if at > 0:  # the comments after its last key are about what follows: they go to the table before it
        for _, item in _trailing(table):
            hosts.body[at - 1].value.append(None, item)
    hosts.body.remove(table)
    if not hosts.body:
        doc.remove("hosts")
    return tomlkit.dumps(doc)


def added_text(text: str, table: Mapping[str, Any], comment: str = "") -> str:
    """The file's text with a `[[hosts]]` table of `table`'s keys after it (pure), under `comment` (one
    line) when given. The text is kept byte for byte and the table starts on a line of its own after a
    blank one. Added after the end, not into the parsed document: tomlkit would put it straight after
    the file's last host, before any table that follows (and take that table's leading comments)."""
    new = tomlkit.document()
    new["hosts"] = [dict(table)]
    addition = (tomlkit.comment(comment).as_string() if comment else "") + tomlkit.dumps(new)
    if not text or text.endswith("\n\n"):
        return text + addition
    return text + ("\n" if text.endswith("\n") else "\n\n") + addition


def check_loads(text: str) -> Config:
    """The config `text` would give; EditError (one line) when it would not load."""
    with tempfile.TemporaryDirectory(prefix="cosmos-config-") as scratch:
        trial = Path(scratch) / "cosmos.toml"
        trial.write_text(text, encoding="utf-8")
        try:
            return load_config(trial)
        except ConfigError as exc:
            raise EditError(f"the config file would not load: {str(exc).removeprefix(f'{trial}: ')}") from exc


def edit_host(path: Path, name: str, changes: Mapping[str, Any]) -> None:
    """Change host `name`'s keys in the config file at `path`."""
    _replace(path, edited_text(_read(path), name, changes))


def remove_host(path: Path, name: str) -> None:
    """Remove host `name` from the config file at `path` (its runs stay in the history)."""
    _replace(path, removed_text(_read(path), name))


def _hosts(doc: tomlkit.TOMLDocument) -> AoT:
    hosts = doc.get("hosts")
    if not isinstance(hosts, AoT):
        raise EditError("the config file has no [[hosts]] tables")
    return hosts


def _host_table(doc: tomlkit.TOMLDocument, name: str) -> Table:
    for table in _hosts(doc).body:
        if table.get("name") == name:
            return table
    raise EditError(f"no host {name!r} in the config file")


def _trailing(table: Table) -> list[tuple[Any, Any]]:
    """The blank lines and comments after a table's last key (tomlkit keeps them in its body)."""
    body = table.value.body
    last = max((i for i, (key, _) in enumerate(body) if key is not None), default=-1)
    return body[last + 1:]


def _add_after_last_key(table: Table, key: str, value: Any) -> None:
    """A new key goes after the table's last key, not after the comments that lead to the next table."""
    keys = [k for k, _ in table.value.body if k is not None]
    if keys:
        table.value._insert_after(keys[-1], key, tomlkit.item(value))  # tomlkit has no public way to say where
    else:
        table[key] = value


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EditError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc


def _replace(path: Path, text: str) -> None:
    """Check `text` loads, then put it in place of the file at once, with the file's permissions."""
    check_loads(text)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        scratch.write_text(text, encoding="utf-8")
        os.chmod(scratch, path.stat().st_mode & 0o7777)
        os.replace(scratch, path)
    except OSError as exc:
        scratch.unlink(missing_ok=True)
        raise EditError(f"cannot write {path}: {exc.strerror or exc}; nothing was changed") from exc
