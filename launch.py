"""Start the Cosmos Run Dashboard: python launch.py [--config FILE] [--host H] [--port P]."""

from __future__ import annotations

import argparse
import sys

from app import build_app, launch_options
from cosmos_core.api import CosmosAPI
from cosmos_core.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cosmos Run Dashboard")
    parser.add_argument("--config", help="TOML config (default: $COSMOS_CONFIG, else ./cosmos.toml)")
    parser.add_argument("--host", help="address to bind (default: ui.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: ui.port, 7860)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    api = CosmosAPI(config)
    demo = build_app(api)
    demo.launch(
        server_name=args.host or config.ui.host,
        server_port=args.port or config.ui.port,
        **launch_options(config),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
