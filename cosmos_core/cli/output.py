"""What every command prints: one-line errors, JSON or plain text, tables, warnings of unreachable hosts."""

from __future__ import annotations

import argparse
import json
import sys

from cosmos_core.api import CosmosAPI
from cosmos_core.cli.tables import Table, print_table


def fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def out(args: argparse.Namespace, data, plain: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else plain)


def out_table(args: argparse.Namespace, data: list[dict], table: Table, empty: str) -> None:
    """`data` as JSON with --json, else `table` (see tables.py); with no rows, `empty` on stderr."""
    if args.json:
        print(json.dumps(data, indent=2))
    elif table[1]:
        print_table(table)
    else:
        print(empty, file=sys.stderr)


def warn_unreachable(api: CosmosAPI) -> None:
    for host, reason in api.unreachable.items():
        print(f"warning: host {host} unreachable, showing stored state: {' '.join(reason.split())}", file=sys.stderr)
    for host, reason in api.slow.items():
        print(f"warning: host {host}: {' '.join(reason.split())}; its runs not answered for stay as they were",
              file=sys.stderr)
