"""`config show` and `config check`: the config as the product reads it, touching no host or database.

`show` prints the effective config (defaults filled in, paths expanded) as TOML that
loads back to the same config, or as JSON, with its secrets masked: the password of
`ui.auth` and of `storage.database`, and the path and query of `notify.url` (a Slack
webhook's path is its secret).
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import asdict, fields
from typing import Any

import tomlkit

from cosmos_core.config import Config, HostConfig, load_config
from cosmos_core.masking import mask_auth, mask_url
from cosmos_core.words import count

SECTIONS = ("storage", "ui", "sync", "notify")


def run(args: argparse.Namespace) -> int:
    """`config show [--json]` or `config check [FILE]`; a bad config raises ConfigError."""
    if args.config_command == "check":
        config = load_config(args.file or args.config)
        print(f"{args.file or config.source or 'defaults (no config file)'}: ok "
              f"({count(len(config.hosts), 'host')})")
        return 0
    config = load_config(args.config)
    doc = masked(effective(config))
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        where = f"of {config.source}" if config.source else "with no config file"
        print(f"# effective config {where}: defaults filled in, secrets masked\n{to_toml(doc)}", end="")
    return 0


def effective(config: Config) -> dict[str, Any]:
    """The config in the file's shape, every key given (an unset `gpus` and no model overrides left out)."""
    storage = {"database": config.storage.database, "outputs_dir": str(config.storage.outputs_dir),
               "busy_timeout_seconds": config.storage.busy_timeout_seconds}
    return {"storage": storage, "ui": asdict(config.ui), "sync": asdict(config.sync),
            "notify": asdict(config.notify), "hosts": [_host_table(host) for host in config.hosts]}


def _host_table(host: HostConfig) -> dict[str, Any]:
    table = {f.name: getattr(host, f.name) for f in fields(host) if f.name not in ("model_overrides", "slurm")}
    table |= {"key_file": str(host.key_file), "known_hosts": str(host.known_hosts), "docker": shlex.join(host.docker),
              "run_args": list(host.run_args), "models": list(host.models)}
    if host.gpus is None:
        del table["gpus"]
    if host.slurm is not None:
        table |= asdict(host.slurm)
    if host.model_overrides:
        table["model"] = {name: {"image": setup.image, "remote_dir": setup.remote_dir,
                                 "run_args": list(setup.run_args)} for name, setup in host.model_overrides}
    return table


def masked(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` (from `effective`) with its secrets replaced by ****."""
    return doc | {
        "storage": doc["storage"] | {"database": mask_url(doc["storage"]["database"])},
        "ui": doc["ui"] | {"auth": mask_auth(doc["ui"]["auth"])},
        "notify": doc["notify"] | {"url": mask_url(doc["notify"]["url"], hide_path=True)},
    }


def to_toml(doc: dict[str, Any]) -> str:
    """`doc` (from `effective`) as a TOML file: the sections in SECTIONS' order, then each host's
    `[[hosts]]` table with its `[hosts.model."…"]` tables (no `hosts` key when there is none)."""
    out = tomlkit.document()
    for section in SECTIONS:
        out[section] = doc[section]
    if doc["hosts"]:
        out["hosts"] = doc["hosts"]
    return tomlkit.dumps(out)
