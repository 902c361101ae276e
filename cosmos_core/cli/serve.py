"""Start the dashboard, the one path behind `cosmos dashboard` and `python launch.py`: load the config,
refuse an unsafe exposure (one line, exit 1), then serve the page until interrupted."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from cosmos_core.cli.exposure import bind_refusal, outputs_refusal, secret_files
from cosmos_core.cli.output import fail
from cosmos_core.cli.parser import add_dashboard_arguments
from cosmos_core.config import Config, ConfigError, load_config


def refusal(config: Config, host: str, insecure: bool) -> str | None:
    """Why this config may not be served on `host`, or None. Resolves paths (follows symlinks)."""
    hosts = ((h.name, h.key_file.resolve(), h.known_hosts.resolve()) for h in config.hosts)
    secrets = secret_files(config.source and config.source.resolve(), hosts, Path.home().resolve())
    return (bind_refusal(host, config.ui.auth, insecure)
            or outputs_refusal(Path(config.storage.outputs_dir).resolve(), secrets))


def run_dashboard(config_file: str | None, host: str | None, port: int | None, insecure: bool) -> int:
    """Serve the page; returns 1 with a one-line error when the config is bad or refused."""
    try:
        config = load_config(config_file)
    except ConfigError as exc:
        return fail(str(exc))
    host = host or config.ui.host
    refused = refusal(config, host, insecure)
    if refused:
        return fail(refused)
    from app.serving import serve  # gradio loads only for the page, not for every CLI command

    serve(config, host, port or config.ui.port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python launch.py [--config FILE] [--host H] [--port P] [--insecure]`."""
    parser = argparse.ArgumentParser(prog="launch.py", description="Cosmos Run Dashboard")
    parser.add_argument("--config", help="TOML config (default: $COSMOS_CONFIG, else ./cosmos.toml)")
    add_dashboard_arguments(parser)
    args = parser.parse_args(argv)
    return run_dashboard(args.config, args.host, args.port, args.insecure)
